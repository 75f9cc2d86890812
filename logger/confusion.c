/* Confusion matrices (see confusion.h). */
#include "logger/confusion.h"
#include "engine/serialize/atomic_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"
#include "logger/canvas.h"
#include "logger/plot.h"
#include "utils/fs.h"

int confusion_init(ConfusionMatrix *cm, int n_classes)
{
    memset(cm, 0, sizeof *cm);
    ENGINE_CHECK_INT(n_classes >= 1 && n_classes <= 4096, "confusion matrix: bad class count %d", n_classes);
    cm->n = n_classes;
    cm->counts = calloc((size_t)n_classes * (size_t)n_classes, sizeof(int64_t));
    ENGINE_ASSERT(cm->counts != NULL);
    return 0;
}

void confusion_set_names(ConfusionMatrix *cm, const char *const *names, int n_names)
{
    if (!names || n_names <= 0) return;
    cm->names = calloc((size_t)cm->n, sizeof(char *));
    ENGINE_ASSERT(cm->names != NULL);
    for (int i = 0; i < cm->n; i++) {
        char number[16];
        snprintf(number, sizeof number, "%d", i);
        cm->names[i] = strdup(i < n_names ? names[i] : number);
        ENGINE_ASSERT(cm->names[i] != NULL);
    }
}

int confusion_update(ConfusionMatrix *cm, Tensor *output, Tensor *target)
{
    ENGINE_CHECK_INT(output && target, "confusion matrix: no output or target");
    ENGINE_CHECK_INT(tensor_dim(output) == 2 && output->shape.d[1] == cm->n && output->dtype == DT_F32 &&
                         tensor_dim(target) == 1 && target->shape.d[0] == output->shape.d[0] &&
                         target->dtype == DT_I64,
                     "confusion matrix: expected output [B, %d] and target [B] of class indices, got %s and %s", cm->n,
                     shape_str(output->shape), shape_str(target->shape));
    int64_t b = output->shape.d[0], n = cm->n;
    float *scores = malloc(sizeof(float) * (size_t)(b * n + 1));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)(b + 1));
    ENGINE_ASSERT(scores && labels);
    int rc = tensor_copy_to_buffer(output, scores) || tensor_copy_to_buffer(target, labels) ? -1 : 0;
    for (int64_t i = 0; rc == 0 && i < b; i++) {
        if (labels[i] < 0 || labels[i] >= n) {
            engine_error("confusion matrix: target %lld is not a class index in [0, %lld)", (long long)labels[i],
                         (long long)n);
            rc = -1;
            break;
        }
        int64_t best = 0;
        for (int64_t k = 1; k < n; k++)
            if (scores[i * n + k] > scores[i * n + best]) best = k;
        cm->counts[labels[i] * n + best]++;
    }
    free(scores);
    free(labels);
    return rc;
}

/* Class i's name as a CSV field (quoted, quotes doubled, when it needs it), or its number. */
static size_t csv_class(const ConfusionMatrix *cm, int i, char *out, size_t cap)
{
    if (!cm->names) return (size_t)snprintf(out, cap, "%d", i);
    const char *s = cm->names[i];
    if (!strpbrk(s, ",\"\n\r")) return (size_t)snprintf(out, cap, "%s", s);
    size_t len = 0;
    out[len++] = '"';
    for (; *s && len + 3 < cap; s++) {
        if (*s == '"') out[len++] = '"';
        out[len++] = *s;
    }
    out[len++] = '"';
    out[len] = '\0';
    return len;
}

static size_t names_bytes(const ConfusionMatrix *cm)
{
    size_t n = 0;
    for (int i = 0; cm->names && i < cm->n; i++) n += 2 * strlen(cm->names[i]) + 3;
    return n;
}

static int save_csv(const ConfusionMatrix *cm, const char *path)
{
    size_t cap = 64 + (size_t)cm->n * (size_t)cm->n * 21 + (size_t)cm->n * 16 + 2 * names_bytes(cm), len = 0;
    char *text = malloc(cap);
    ENGINE_ASSERT(text != NULL);
    len += (size_t)snprintf(text + len, cap - len, "true/predicted");
    for (int j = 0; j < cm->n; j++) {
        text[len++] = ',';
        len += csv_class(cm, j, text + len, cap - len);
    }
    len += (size_t)snprintf(text + len, cap - len, "\n");
    for (int i = 0; i < cm->n; i++) {
        len += csv_class(cm, i, text + len, cap - len);
        for (int j = 0; j < cm->n; j++)
            len += (size_t)snprintf(text + len, cap - len, ",%lld", (long long)cm->counts[i * cm->n + j]);
        len += (size_t)snprintf(text + len, cap - len, "\n");
    }
    int rc = atomic_write_file(path, text, len);
    free(text);
    return rc;
}

int confusion_save(const ConfusionMatrix *cm, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/confusion.csv", dir);
    if (save_csv(cm, path)) return -1;
    /* cells of about 60 pixels (fewer for many classes), plus room for labels */
    int cell = cm->n <= 12 ? 60 : cm->n <= 40 ? 24 : 8;
    int size = cm->n * cell + 140;
    /* with names: a legend "k  name" under the map, in columns, for up to LEGEND_MAX classes */
    enum { LEGEND_MAX = 100, LEGEND_SCALE = 1 };
    int shown = cm->names ? (cm->n < LEGEND_MAX ? cm->n : LEGEND_MAX) : 0, col_w = 0;
    for (int i = 0; i < shown; i++) {
        char entry[96];
        snprintf(entry, sizeof entry, "%d  %.60s", i, cm->names[i]);
        int w = text_width(entry, LEGEND_SCALE) + 24;
        col_w = w > col_w ? w : col_w;
    }
    int line_h = text_height(LEGEND_SCALE) + 6;
    int cols = shown ? (size + 20 - 20) / col_w : 1;
    if (cols < 1) cols = 1;
    int rows = shown ? (shown + cols - 1) / cols + (shown < cm->n ? 1 : 0) : 0;
    int legend_h = rows ? rows * line_h + 20 : 0;
    Canvas c;
    if (canvas_init(&c, size + 20, size + 20 + legend_h, RGB(255, 255, 255))) return -1;
    int64_t total = 0, correct = 0;
    for (int i = 0; i < cm->n; i++)
        for (int j = 0; j < cm->n; j++) {
            total += cm->counts[i * cm->n + j];
            if (i == j) correct += cm->counts[i * cm->n + j];
        }
    char title[96];
    snprintf(title, sizeof title, "confusion matrix: %lld of %lld correct", (long long)correct, (long long)total);
    plot_heatmap(&c, 0, 0, c.width, size + 20, title, cm->counts, cm->n);
    for (int i = 0; i < shown; i++) {
        char entry[96];
        snprintf(entry, sizeof entry, "%d  %.60s", i, cm->names[i]);
        canvas_text(&c, 20 + (i / ((shown + cols - 1) / cols)) * col_w, size + 20 + 10 + (i % ((shown + cols - 1) / cols)) * line_h,
                    entry, LEGEND_SCALE, RGB(40, 40, 40));
    }
    if (shown < cm->n) {
        char more[64];
        snprintf(more, sizeof more, "(%d more in confusion.csv)", cm->n - shown);
        canvas_text(&c, 20, size + 20 + 10 + (rows - 1) * line_h, more, LEGEND_SCALE, RGB(40, 40, 40));
    }
    snprintf(path, sizeof path, "%s/confusion.png", dir);
    int rc = canvas_save_png(&c, path);
    canvas_free(&c);
    return rc;
}

void confusion_free(ConfusionMatrix *cm)
{
    for (int i = 0; cm->names && i < cm->n; i++) free(cm->names[i]);
    free(cm->names);
    free(cm->counts);
    memset(cm, 0, sizeof *cm);
}
