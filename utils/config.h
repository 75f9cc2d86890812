/* The run configuration (config.json): every value is read through one
 * accessor that knows the key path, so errors read
 *   config.json: optimizer.args.lr: expected a number, got "fast"
 * Key paths are dotted ("trainer.epochs"); array elements are numbered
 * ("metrics.0"). */
#ifndef UTILS_CONFIG_H
#define UTILS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

typedef struct {
    cJSON *root;
    char *label; /* the file name errors start with */
} Config;

/* NULL with an error naming the file (and the line for invalid JSON). */
Config *config_load(const char *path);
Config *config_parse(const char *json, const char *label);
void config_free(Config *c);

/* The node at key_path, or NULL when absent (no error). */
cJSON *config_find(const Config *c, const char *key_path);
bool config_has(const Config *c, const char *key_path);

/* Required values: -1 with an error when missing or of the wrong type. */
int config_number(const Config *c, const char *key_path, double *out);
int config_int(const Config *c, const char *key_path, int64_t *out);
int config_bool(const Config *c, const char *key_path, bool *out);
int config_string(const Config *c, const char *key_path, const char **out);
/* Optional values: the default when missing, -1 on a wrong type. */
int config_number_or(const Config *c, const char *key_path, double def, double *out);
int config_int_or(const Config *c, const char *key_path, int64_t def, int64_t *out);
int config_bool_or(const Config *c, const char *key_path, bool def, bool *out);
int config_string_or(const Config *c, const char *key_path, const char *def, const char **out);

/* Checks that the object at key_path (if present) has only keys from
 * allowed (NULL-terminated); -1 with an error listing them otherwise. what
 * names the thing the keys configure ("arguments of Adam"). */
int config_check_keys(const Config *c, const char *key_path, const char *const *allowed, const char *what);
/* A number array of at most max entries: -1 with an error otherwise. */
int config_number_array(const Config *c, const char *key_path, double *out, int max, int *n);
/* The same for integers, each read as config_int reads one. */
int config_int_array(const Config *c, const char *key_path, int64_t *out, int max, int *n);

/* A constructor argument read from an "args" object into a field of an
 * options struct (at `offset`), with PyTorch's argument name as the key. */
typedef enum { ARG_NUMBER, ARG_INT, ARG_BOOL, ARG_STRING, ARG_NUMBER_PAIR } ArgType;
typedef struct {
    const char *key;
    ArgType type;
    size_t offset;
    bool required;
} ArgSpec;
#define ARG_SPEC(type_, key_, struct_, field_) {#key_, type_, offsetof(struct_, field_), false}
#define ARG_SPEC_REQUIRED(type_, key_, struct_, field_) {#key_, type_, offsetof(struct_, field_), true}

/* Reads every spec present under args_path into opts (fields keep their
 * defaults when absent; required ones must be there) and refuses keys no
 * spec names, listing the accepted ones (what: "Adam"). 0 or -1. */
int config_read_args(const Config *c, const char *args_path, const char *what, const ArgSpec *specs, int n_specs,
                     void *opts);

/* --set key.path=value: the value is typed from the JSON it replaces
 * (number, bool, string, or JSON for objects/arrays/null); a key that does
 * not exist yet is parsed as JSON when it parses, else taken as a string.
 * -1 with an error naming the key when the value does not fit. */
int config_set(Config *c, const char *key_path, const char *value);
/* Replaces top-level keys of c with those of other (fine-tuning: -c new.json -r ckpt). */
int config_update(Config *c, const Config *other);

/* Pretty JSON (caller frees). */
char *config_to_string(const Config *c);
/* Writes atomically (temporary file + rename). */
int config_save(const Config *c, const char *path);
/* A printable form of a node for messages: "fast" (quoted) or 12 or {...}. */
const char *config_describe(const cJSON *node);

#endif
