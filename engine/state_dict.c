/* Named tensor lists (see state_dict.h). */
#include "engine/state_dict.h"

#include <stdlib.h>
#include <string.h>

void state_dict_init(StateDict *sd) { memset(sd, 0, sizeof *sd); }

int state_dict_add(StateDict *sd, const char *name, Tensor *t)
{
    ENGINE_CHECK_INT(state_dict_get(sd, name) == NULL, "state_dict: duplicate name '%s'", name);
    if (sd->n == sd->cap) {
        sd->cap = sd->cap ? 2 * sd->cap : 16;
        sd->names = realloc(sd->names, sizeof(char *) * (size_t)sd->cap);
        sd->tensors = realloc(sd->tensors, sizeof(Tensor *) * (size_t)sd->cap);
        ENGINE_ASSERT(sd->names && sd->tensors);
    }
    size_t len = strlen(name) + 1;
    sd->names[sd->n] = malloc(len);
    ENGINE_ASSERT(sd->names[sd->n] != NULL);
    memcpy(sd->names[sd->n], name, len);
    sd->tensors[sd->n] = t;
    sd->n++;
    return 0;
}

Tensor *state_dict_get(const StateDict *sd, const char *name)
{
    for (int i = 0; i < sd->n; i++)
        if (strcmp(sd->names[i], name) == 0) return sd->tensors[i];
    return NULL;
}

void state_dict_free(StateDict *sd)
{
    for (int i = 0; i < sd->n; i++) free(sd->names[i]);
    free(sd->names);
    free(sd->tensors);
    memset(sd, 0, sizeof *sd);
}
