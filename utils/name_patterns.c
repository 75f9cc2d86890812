/* Shell-glob patterns over state_dict names (see name_patterns.h). */
#include "utils/name_patterns.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/error.h"

int name_patterns_from_config(const Config *cfg, const char *key, NamePatterns *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->key, sizeof out->key, "%s", key);
    const cJSON *arr = config_find(cfg, key);
    if (!arr) return 0;
    ENGINE_CHECK_INT(cJSON_IsArray(arr), "%s: %s: expected a list of name patterns such as [\"conv1.*\"], got %s",
                     cfg->label, key, config_describe(arr));
    int n = cJSON_GetArraySize(arr);
    out->patterns = calloc((size_t)(n > 0 ? n : 1), sizeof *out->patterns);
    ENGINE_ASSERT(out->patterns != NULL);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        if (!cJSON_IsString(item) || !item->valuestring[0]) {
            engine_error("%s: %s.%d: expected a name pattern (a non-empty string such as \"conv1.*\"), got %s",
                         cfg->label, key, out->n, config_describe(item));
            name_patterns_free(out);
            return -1;
        }
        out->patterns[out->n++] = item->valuestring;
    }
    return 0;
}

void name_patterns_free(NamePatterns *p)
{
    free(p->patterns);
    p->patterns = NULL;
    p->n = 0;
}

/* FNM_NOESCAPE: Python's fnmatch has no escapes; no FNM_PATHNAME or
 * FNM_PERIOD: '*' matches dots, as fnmatch's does. */
bool name_pattern_matches(const NamePatterns *p, int i, const char *name)
{
    return fnmatch(p->patterns[i], name, FNM_NOESCAPE) == 0;
}

int name_patterns_first_match(const NamePatterns *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (name_pattern_matches(p, i, name)) return i;
    return -1;
}

void name_list_join(char *buf, size_t size, const char *const *names, int n)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        /* room for this name and a "... (N more)" tail */
        if (pos + len + 2 + 24 >= size) {
            snprintf(buf + pos, size - pos, "%s... (%d more)", i ? ", " : "", n - i);
            return;
        }
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", i ? ", " : "", names[i]);
    }
}

int name_patterns_check_used(const NamePatterns *p, const Config *cfg, const char *const *names, int n,
                             const char *what)
{
    for (int i = 0; i < p->n; i++) {
        bool used = false;
        for (int k = 0; k < n && !used; k++) used = name_pattern_matches(p, i, names[k]);
        if (used) continue;
        char list[600];
        name_list_join(list, sizeof list, names, n);
        engine_error("%s: %s.%d: '%s' matches no %s (they are: %s)", cfg->label, p->key, i, p->patterns[i], what,
                     n ? list : "none");
        return -1;
    }
    return 0;
}
