/* metrics.csv (see csv_log.h). */
#include "logger/csv_log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

int metrics_log_open(MetricsLog *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s/metrics.csv", dir);
    m->f = fopen(m->path, "w");
    ENGINE_CHECK_INT(m->f != NULL, "%s: cannot create: %s", m->path, strerror(errno));
    return 0;
}

int metrics_log_column(const MetricsLog *m, const char *key)
{
    for (int i = 0; i < m->n_columns; i++)
        if (strcmp(m->columns[i], key) == 0) return i;
    return -1;
}

static int write_row(MetricsLog *m, const double *row, bool header)
{
    for (int i = 0; i < m->n_columns; i++) {
        if (i) fputc(',', m->f);
        if (header) fputs(m->columns[i], m->f);
        else if (!isnan(row[i])) fprintf(m->f, "%.9g", row[i]);
    }
    fputc('\n', m->f);
    ENGINE_CHECK_INT(fflush(m->f) == 0 && !ferror(m->f), "%s: write failed: %s", m->path, strerror(errno));
    return 0;
}

int metrics_log_append(MetricsLog *m, const LogDict *row)
{
    ENGINE_CHECK_INT(m->f != NULL, "metrics.csv: not open");
    if (m->n_rows == 0) {
        for (int i = 0; i < row->n && i < CSV_LOG_MAX_COLUMNS; i++)
            snprintf(m->columns[m->n_columns++], sizeof m->columns[0], "%s", row->keys[i]);
        if (write_row(m, NULL, true)) return -1;
    }
    if (m->n_rows == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        double *nv = realloc(m->values, sizeof(double) * (size_t)m->cap * (size_t)(m->n_columns ? m->n_columns : 1));
        ENGINE_ASSERT(nv != NULL);
        m->values = nv;
    }
    double *dst = m->values + (size_t)m->n_rows * (size_t)m->n_columns;
    for (int i = 0; i < m->n_columns; i++)
        if (!log_dict_get(row, m->columns[i], &dst[i])) dst[i] = NAN;
    m->n_rows++;
    return write_row(m, dst, false);
}

void metrics_log_close(MetricsLog *m)
{
    if (m->f) fclose(m->f);
    free(m->values);
    memset(m, 0, sizeof *m);
}
