/* Shell-glob patterns over dotted state_dict names ("conv1.*", "fc*",
 * "layer[34].*"), as config.json's arch.exclude, arch.freeze and
 * optimizer.param_groups[i].params give them. Matching is Python's
 * fnmatch.fnmatchcase: '*' also crosses dots, no backslash escapes. A
 * pattern that matches none of the names it is meant for is an error naming
 * it, so that a typo never passes silently. */
#ifndef UTILS_NAME_PATTERNS_H
#define UTILS_NAME_PATTERNS_H

#include <stdbool.h>

#include "utils/config.h"

typedef struct {
    int n;
    const char **patterns; /* owned by the config they were read from */
    char key[128];         /* their key path, for messages ("arch.freeze") */
} NamePatterns;

/* Reads the list of patterns at key (absent: none). -1 with an error for
 * anything but a list of non-empty strings. Free with name_patterns_free. */
int name_patterns_from_config(const Config *cfg, const char *key, NamePatterns *out);
void name_patterns_free(NamePatterns *p);

/* Whether pattern i matches name. */
bool name_pattern_matches(const NamePatterns *p, int i, const char *name);
/* The first pattern that matches name, or -1. */
int name_patterns_first_match(const NamePatterns *p, const char *name);

/* Each pattern must match at least one of the n names: otherwise -1 with
 * "config.json: arch.freeze.1: 'conv3.*' matches no <what> (the model's:
 * conv1.weight, ...)". */
int name_patterns_check_used(const NamePatterns *p, const Config *cfg, const char *const *names, int n,
                             const char *what);

/* Writes "a, b, c" into buf (size >= 32), ending in "... (N more)" when the
 * names do not fit. */
void name_list_join(char *buf, size_t size, const char *const *names, int n);

#endif
