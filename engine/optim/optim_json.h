/* Small cJSON helpers for the optimizer and scheduler state dicts (internal
 * to engine/optim). Doubles that JSON cannot hold (inf, -inf, nan) are
 * written as the strings "inf", "-inf" and "nan" and read back; finite ones
 * round-trip exactly. Readers record an error naming what (a description of
 * the object) and the key, and return -1. */
#ifndef ENGINE_OPTIM_OPTIM_JSON_H
#define ENGINE_OPTIM_OPTIM_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Numbers are written so that they read back bit-exactly. */
cJSON *optim_json_double(double v);
cJSON *optim_json_int64(int64_t v);
void optim_json_add_int64(cJSON *obj, const char *key, int64_t v);
void optim_json_add_double(cJSON *obj, const char *key, double v);
/* An array of n doubles added to obj under key. */
void optim_json_add_doubles(cJSON *obj, const char *key, const double *v, int n);

/* Parses text as a JSON object; NULL with an error naming what. */
cJSON *optim_json_parse_object(const char *text, const char *what);
int optim_json_item_double(const cJSON *item, double *out, const char *what, const char *key);
int optim_json_get_double(const cJSON *obj, const char *key, double *out, const char *what);
int optim_json_get_int64(const cJSON *obj, const char *key, int64_t *out, const char *what);
int optim_json_get_bool(const cJSON *obj, const char *key, bool *out, const char *what);
/* The string under key (owned by obj); NULL with an error. */
const char *optim_json_get_string(const cJSON *obj, const char *key, const char *what);
/* An array of exactly n doubles. */
int optim_json_get_doubles(const cJSON *obj, const char *key, double *out, int n, const char *what);

#endif
