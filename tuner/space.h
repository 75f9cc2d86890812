/* The search space: the "space" object of a search file, one distribution
 * per config key path, checked against the config before any trial runs.
 *   {"optimizer.args.lr": {"loguniform": [1e-4, 1e-1]},
 *    "data_loader.args.batch_size": {"choice": [64, 128, 256]},
 *    "arch.args.hidden": {"grid": [[256], [512, 256]]}}
 * A parameter's value is held as a double: the number itself for uniform,
 * loguniform and randint, the index into the list for choice and grid. */
#ifndef TUNE_SPACE_H
#define TUNE_SPACE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "tuner/rng.h"
#include "utils/config.h"

typedef enum { DIST_UNIFORM, DIST_LOGUNIFORM, DIST_RANDINT, DIST_CHOICE, DIST_GRID } DistKind;

#define TUNE_MAX_PARAMS 32
#define TUNE_KEY_MAX 200

typedef struct {
    char key[TUNE_KEY_MAX];  /* config key path */
    char short_name[24];     /* last part of the key, for tables and charts */
    DistKind kind;
    double lo, hi;           /* uniform, loguniform: [lo, hi); randint: [lo, hi] inclusive */
    cJSON *values;           /* choice, grid: the candidates (an owned copy) */
    int n_values;
} Param;

typedef struct {
    Param params[TUNE_MAX_PARAMS];
    int n;
} Space;

const char *dist_name(DistKind k);
bool param_is_categorical(const Param *p);

/* Reads search's "space" and checks every entry against config: the key
 * exists there, the distribution is known and well formed (low < high, a
 * log range above 0, integer randint bounds, a non-empty list) and its
 * values have the type of the config's value (and pass the config's own
 * checks). 0, or -1 with one error line naming the search file and key. */
int space_parse(Space *s, const Config *search, const Config *config);
void space_free(Space *s);

/* A random draw from p's distribution (a list: a uniform index). */
double param_sample(const Param *p, TuneRng *r);
/* The value as the text ./train's --set takes (numbers read back exactly,
 * strings bare, lists and objects as JSON). 0, or -1 when it does not fit. */
int param_value_text(const Param *p, double x, char *buf, size_t size);
/* A short form for tables (numbers to 4 significant digits). */
void param_value_display(const Param *p, double x, char *buf, size_t size);
/* The value as a new JSON node (caller frees). */
cJSON *param_value_json(const Param *p, double x);
/* Where the value goes on a chart's x axis: log10 of a loguniform value,
 * the number itself, the number a list entry holds when every entry is a
 * number, else the entry's index. */
double param_axis_value(const Param *p, double x);
/* Whether param_axis_value is an index into the list. */
bool param_axis_is_index(const Param *p);
/* Whether x is a value p can take (a resumed search's stored values). */
bool param_value_valid(const Param *p, double x);

#endif
