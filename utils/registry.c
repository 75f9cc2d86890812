/* Name lookup in registries (see registry.h). */
#include "utils/registry.h"

#include <stdio.h>
#include <string.h>

#include "engine/error.h"

void (*registry_find(const RegistryEntry *table, size_t n, const char *name, const char *config_label,
                     const char *key))(void)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0) return table[i].fn;
    char known[512] = "";
    size_t pos = 0;
    for (size_t i = 0; i < n && pos < sizeof known; i++)
        pos += (size_t)snprintf(known + pos, sizeof known - pos, "%s%s", i ? ", " : "", table[i].name);
    engine_error("%s: %s: unknown name '%s' (known: %s)", config_label, key, name, known);
    return NULL;
}
