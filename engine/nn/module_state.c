/* load_state_dict: checks names and shapes against the module's own state
 * dict, reports every problem in PyTorch's wording, then copies in place. */
#include <stdlib.h>
#include <string.h>

#include "engine/autograd.h"
#include "engine/nn/module.h"
#include "engine/nn/strbuf.h"

/* Checkpoints written before BatchNorm counted batches lack this buffer;
 * PyTorch then resets it to 0 instead of reporting it missing. */
static bool is_num_batches_tracked(const char *key)
{
    const char *dot = strrchr(key, '.');
    return strcmp(dot ? dot + 1 : key, "num_batches_tracked") == 0;
}

/* Appends 'Missing key(s) in state_dict: "a", "b". ' style lines. */
static void list_keys(StrBuf *msg, const char *what, char **keys, int n)
{
    if (n == 0) return;
    strbuf_printf(msg, "\n\t%s key(s) in state_dict: ", what);
    for (int i = 0; i < n; i++) strbuf_printf(msg, "%s\"%s\"", i ? ", " : "", keys[i]);
    strbuf_printf(msg, ". ");
}

int module_load_state_dict(Module *m, const StateDict *sd, bool strict)
{
    StateDict own;
    if (module_state_dict(m, &own) != 0) return -1;
    char **missing = calloc((size_t)own.n + 1, sizeof(char *));
    char **unexpected = calloc((size_t)sd->n + 1, sizeof(char *));
    ENGINE_ASSERT(missing && unexpected);
    int n_missing = 0, n_unexpected = 0;
    StrBuf mismatches = {0};
    for (int i = 0; i < own.n; i++) {
        Tensor *src = state_dict_get(sd, own.names[i]);
        if (!src) {
            if (!is_num_batches_tracked(own.names[i])) missing[n_missing++] = own.names[i];
            continue;
        }
        if (!shape_equal(src->shape, own.tensors[i]->shape))
            strbuf_printf(&mismatches,
                          "\n\tsize mismatch for %s: copying a param with shape %s from checkpoint, the shape in "
                          "current model is %s.",
                          own.names[i], shape_str(src->shape), shape_str(own.tensors[i]->shape));
    }
    for (int i = 0; i < sd->n; i++)
        if (!state_dict_get(&own, sd->names[i])) unexpected[n_unexpected++] = sd->names[i];

    int rc = 0;
    if (mismatches.len > 0 || (strict && (n_missing > 0 || n_unexpected > 0))) {
        StrBuf msg = {0};
        strbuf_printf(&msg, "Error(s) in loading state_dict for %s:", m->type_name);
        if (strict) {
            list_keys(&msg, "Missing", missing, n_missing);
            list_keys(&msg, "Unexpected", unexpected, n_unexpected);
        }
        strbuf_printf(&msg, "%s", strbuf_str(&mismatches));
        engine_error("%s", strbuf_str(&msg));
        strbuf_free(&msg);
        rc = -1;
    } else {
        bool mode = no_grad_begin();
        for (int i = 0; rc == 0 && i < own.n; i++) {
            Tensor *src = state_dict_get(sd, own.names[i]);
            if (src)
                rc = tensor_copy_(own.tensors[i], src);
            else if (is_num_batches_tracked(own.names[i]))
                rc = tensor_fill_(own.tensors[i], 0.0);
        }
        grad_mode_restore(mode);
    }
    strbuf_free(&mismatches);
    free(missing);
    free(unexpected);
    state_dict_free(&own);
    return rc;
}
