/* Sequences of token ids with a class label, from text files (see
 * datasets.h): one sample per line, the label then the tokens, integers
 * separated by spaces ("2 17 4 4 9"); blank lines and lines starting with
 * '#' are skipped. A sample has two fields: "input", the tokens (int64, of
 * variable length: the padding collate pads them per batch and adds
 * "lengths"), and "target", the label. */
#include "data_loader/datasets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/read_file.h"

/* A token file may be large, but not unbounded. */
#define MAX_FILE ((int64_t)1 << 31)

typedef struct {
    Dataset base;
    int64_t *tokens;  /* every sample's, one after the other */
    int64_t *offsets; /* sample i: tokens[offsets[i] .. offsets[i] + lengths[i]) */
    int64_t *lengths;
    int64_t *labels;
    char *name;
} SequenceDataset;

static int sequence_get(const Dataset *ds, int64_t i, const SampleContext *ctx, Sample *out)
{
    (void)ctx;
    const SequenceDataset *d = (const SequenceDataset *)ds;
    memcpy(sample_i64(out, 0), d->tokens + d->offsets[i], sizeof(int64_t) * (size_t)d->lengths[i]);
    out->length[0] = d->lengths[i];
    *sample_i64(out, 1) = d->labels[i];
    return 0;
}

static void sequence_destroy(Dataset *ds)
{
    SequenceDataset *d = (SequenceDataset *)ds;
    free(d->tokens);
    free(d->offsets);
    free(d->lengths);
    free(d->labels);
    free(d->name);
}

/* The next integer of a line at *p (spaces skipped), in [0, 2^53]; 1 when
 * there is one, 0 at the end of the line, -1 with an error. */
static int next_integer(const char **p, const char *end, const char *path, int64_t line, int64_t *value)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r')) (*p)++;
    if (*p == end) return 0;
    const char *start = *p;
    while (*p < end && **p >= '0' && **p <= '9') (*p)++;
    bool digits = *p > start && *p - start <= 16;
    bool separated = *p == end || **p == ' ' || **p == '\t' || **p == '\r';
    if (!digits || !separated) {
        int n = 0;
        while (start + n < end && n < 20 && start[n] != ' ' && start[n] != '\t') n++;
        engine_error("%s:%lld: '%.*s' is not a token id or label (integers from 0 to 2^53)", path, (long long)line,
                     n, start);
        return -1;
    }
    *value = strtoll(start, NULL, 10);
    ENGINE_CHECK_INT(*value <= ((int64_t)1 << 53), "%s:%lld: %lld is too large", path, (long long)line,
                     (long long)*value);
    return 1;
}

/* a with room for cap values (realloc that cannot fail quietly). */
static int64_t *resized(int64_t *a, int64_t cap)
{
    int64_t *b = realloc(a, sizeof(int64_t) * (size_t)cap);
    ENGINE_ASSERT(b != NULL);
    return b;
}

/* Reads path into d; -1 with an error naming the file and line. */
static int parse_sequences(SequenceDataset *d, const char *path, int64_t max_length, int64_t *longest)
{
    int64_t size;
    char *text = (char *)read_regular_file(path, MAX_FILE, &size);
    if (!text) return -1;
    int64_t n = 0, n_tokens = 0, cap_samples = 0, cap_tokens = 0, line = 0;
    int rc = 0;
    *longest = 0;
    for (const char *p = text, *end_all = text + size; p < end_all && rc == 0;) {
        const char *end = memchr(p, '\n', (size_t)(end_all - p));
        if (!end) end = end_all;
        line++;
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < end && *q != '#') {
            int64_t label, token;
            if (n == cap_samples) {
                cap_samples = cap_samples ? 2 * cap_samples : 1024;
                d->labels = resized(d->labels, cap_samples);
                d->offsets = resized(d->offsets, cap_samples);
                d->lengths = resized(d->lengths, cap_samples);
            }
            if (next_integer(&q, end, path, line, &label) != 1) {
                rc = -1;
                break;
            }
            d->labels[n] = label;
            d->offsets[n] = n_tokens;
            int got;
            while ((got = next_integer(&q, end, path, line, &token)) == 1) {
                if (n_tokens == cap_tokens) d->tokens = resized(d->tokens, cap_tokens = cap_tokens ? 2 * cap_tokens : 4096);
                d->tokens[n_tokens++] = token;
            }
            d->lengths[n] = n_tokens - d->offsets[n];
            if (got < 0) rc = -1;
            else if (d->lengths[n] == 0)
                rc = -1, engine_error("%s:%lld: label %lld has no tokens (a line is the label, then the token ids)",
                                      path, (long long)line, (long long)label);
            else if (max_length > 0 && d->lengths[n] > max_length)
                rc = -1, engine_error("%s:%lld: %lld tokens, more than max_length (%lld)", path, (long long)line,
                                      (long long)d->lengths[n], (long long)max_length);
            if (rc == 0 && d->lengths[n] > *longest) *longest = d->lengths[n];
            n++;
        }
        p = end + 1;
    }
    free(text);
    if (rc == 0 && n == 0) rc = -1, engine_error("%s: no samples (a line is a label, then token ids)", path);
    d->base.length = n;
    return rc;
}

Dataset *sequence_dataset(const char *path, int64_t max_length)
{
    SequenceDataset *d = calloc(1, sizeof *d);
    ENGINE_ASSERT(d != NULL);
    d->base.get = sequence_get;
    d->base.destroy = sequence_destroy;
    d->name = strdup(path);
    ENGINE_ASSERT(d->name != NULL);
    d->base.name = d->name;
    int64_t longest;
    if (parse_sequences(d, path, max_length, &longest)) {
        dataset_free(&d->base);
        return NULL;
    }
    int64_t max_label = 0;
    for (int64_t i = 0; i < d->base.length; i++)
        if (d->labels[i] > max_label) max_label = d->labels[i];
    ENGINE_ASSERT(max_label < ((int64_t)1 << 31));
    d->base.n_classes = (int)(max_label + 1);
    d->base.n_fields = 2;
    d->base.fields[0] = (FieldSpec){.name = "input", .dtype = DT_I64,
                                    .shape = SHAPE(max_length > 0 ? max_length : longest), .variable = true};
    d->base.fields[1] = (FieldSpec){.name = "target", .dtype = DT_I64, .shape = {.ndim = 0}};
    return &d->base;
}
