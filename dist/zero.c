/* ZeRO stage 1 (see zero.h). Owners: whole parameters, the largest first,
 * each to the rank with the fewest elements so far, the same on every
 * rank (parameters a later group adds get owners after the others'); a
 * rank holds at most an even share plus the largest tensor. The
 * state moves as the optimizer's own state dict (JSON + named
 * tensors, engine/optim/optimizer.h), so nothing here knows an
 * optimizer's internals. */
#include "dist/zero.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dist/tensor_comm.h"
#include "dist/world.h"
#include "engine/error.h"
#include "engine/scope.h"

/* The messages of zero_gather_state (./tune's executor uses 101..). */
enum { ZERO_TAG = 201 };

struct Zero {
    Optimizer *opt;
    Tensor **params; /* optimizer order */
    int *owner;
    int n;
};

/* Owners for parameters z->n.. of the optimizer (see the top). */
static void assign(Zero *z)
{
    Optimizer *opt = z->opt;
    int64_t *load = calloc((size_t)dist_size(), sizeof(int64_t));
    Tensor **params = calloc((size_t)(opt->n_params ? opt->n_params : 1), sizeof(Tensor *));
    int *owner = calloc((size_t)(opt->n_params ? opt->n_params : 1), sizeof(int));
    ENGINE_ASSERT(load && params && owner);
    int i = 0;
    for (int g = 0; g < opt->n_groups; g++)
        for (int k = 0; k < opt->groups[g].n_params; k++) params[i++] = opt->groups[g].params[k];
    /* the ones that have owners keep them */
    for (i = 0; i < z->n; i++) {
        owner[i] = z->owner[i];
        load[owner[i]] += tensor_numel(params[i]);
    }
    /* the new ones, largest first, each to the least loaded rank (LPT: within
     * the largest tensor of an even split); ties by index, the same everywhere */
    int n_new = opt->n_params - z->n;
    int *order = malloc(sizeof(int) * (size_t)(n_new ? n_new : 1));
    ENGINE_ASSERT(order != NULL);
    for (i = 0; i < n_new; i++) order[i] = z->n + i;
    for (i = 1; i < n_new; i++) /* insertion sort: a model has few tensors */
        for (int j = i; j > 0 && tensor_numel(params[order[j]]) > tensor_numel(params[order[j - 1]]); j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    for (i = 0; i < n_new; i++) {
        int best = 0;
        for (int r = 1; r < dist_size(); r++)
            if (load[r] < load[best]) best = r;
        owner[order[i]] = best;
        load[best] += tensor_numel(params[order[i]]);
    }
    free(order);
    free(load);
    free(z->params);
    free(z->owner);
    z->params = params;
    z->owner = owner;
    z->n = opt->n_params;
}

Zero *zero_new(Optimizer *opt)
{
    Zero *z = calloc(1, sizeof *z);
    ENGINE_ASSERT(z != NULL);
    z->opt = opt;
    assign(z);
    return z;
}

void zero_extend(Zero *z)
{
    if (z->opt->n_params != z->n) assign(z);
}

void zero_free(Zero *z)
{
    if (!z) return;
    free(z->params);
    free(z->owner);
    free(z);
}

void zero_drop_foreign_grads(Zero *z)
{
    for (int i = 0; i < z->n; i++)
        if (z->owner[i] != dist_rank() && z->params[i]->grad) {
            tensor_free(z->params[i]->grad);
            z->params[i]->grad = NULL;
        }
}

int zero_broadcast_params(Zero *z)
{
    for (int i = 0; i < z->n; i++) {
        char what[64];
        snprintf(what, sizeof what, "ZeRO's parameter %d", i);
        if (dist_broadcast_tensor(z->params[i], z->owner[i], what)) return -1;
    }
    return 0;
}

/* ---- moving a state dict: JSON, then each tensor's name, dtype, shape and bytes ---- */

typedef struct {
    char *buf;
    size_t n, cap;
} Bytes;

static void put(Bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->buf = realloc(b->buf, b->cap);
        ENGINE_ASSERT(b->buf != NULL);
    }
    memcpy(b->buf + b->n, p, n);
    b->n += n;
}

static void serialize(const StateDict *sd, const char *json, Bytes *b)
{
    uint64_t len = strlen(json);
    put(b, &len, sizeof len);
    put(b, json, len);
    uint32_t n = (uint32_t)sd->n;
    put(b, &n, sizeof n);
    for (int i = 0; i < sd->n; i++) {
        Tensor *t = sd->tensors[i];
        uint32_t name_len = (uint32_t)strlen(sd->names[i]);
        int32_t dtype = t->dtype, ndim = t->shape.ndim;
        put(b, &name_len, sizeof name_len);
        put(b, sd->names[i], name_len);
        put(b, &dtype, sizeof dtype);
        put(b, &ndim, sizeof ndim);
        put(b, t->shape.d, sizeof(int64_t) * (size_t)ndim);
        size_t bytes = (size_t)tensor_numel(t) * dtype_size(t->dtype);
        char *data = malloc(bytes ? bytes : 1);
        ENGINE_ASSERT(data != NULL && tensor_copy_to_buffer(t, data) == 0);
        put(b, data, bytes);
        free(data);
    }
}

/* The tensors (in the current scope, names malloc'd into sd) and JSON of b; -1 on a malformed buffer. */
static int deserialize(const char *p, size_t size, StateDict *sd, char **json)
{
    const char *end = p + size;
#define TAKE(dst, n)                                      \
    do {                                                  \
        ENGINE_CHECK_INT((size_t)(end - p) >= (size_t)(n), "ZeRO: a truncated optimizer state"); \
        memcpy((dst), p, (n));                            \
        p += (n);                                         \
    } while (0)
    uint64_t len;
    TAKE(&len, sizeof len);
    ENGINE_CHECK_INT(len <= (uint64_t)(end - p), "ZeRO: a truncated optimizer state");
    *json = malloc(len + 1);
    ENGINE_ASSERT(*json != NULL);
    TAKE(*json, len);
    (*json)[len] = '\0';
    uint32_t n;
    TAKE(&n, sizeof n);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t name_len;
        int32_t dtype, ndim;
        char name[512];
        TAKE(&name_len, sizeof name_len);
        ENGINE_CHECK_INT(name_len < sizeof name, "ZeRO: a state name of %u bytes", name_len);
        TAKE(name, name_len);
        name[name_len] = '\0';
        TAKE(&dtype, sizeof dtype);
        TAKE(&ndim, sizeof ndim);
        ENGINE_CHECK_INT(ndim >= 0 && ndim <= MAX_DIMS && dtype >= 0 && dtype < DT_COUNT, "ZeRO: a bad state tensor");
        Shape s = {.ndim = ndim};
        TAKE(s.d, sizeof(int64_t) * (size_t)ndim);
        Tensor *t = tensor_empty(s, (DType)dtype, CPU);
        if (!t) return -1;
        size_t bytes = (size_t)tensor_numel(t) * dtype_size(t->dtype);
        ENGINE_CHECK_INT((size_t)(end - p) >= bytes, "ZeRO: a truncated optimizer state");
        memcpy(tensor_data(t), p, bytes);
        p += bytes;
        if (state_dict_add(sd, name, t)) return -1;
    }
#undef TAKE
    return 0;
}

/* The state entries of parameter indices owned by `keep` (-1: all) of
 * root's JSON, merged into into's "state" (created when missing). */
static void merge_state_json(cJSON *into, const cJSON *from, const Zero *z, int keep)
{
    cJSON *state = cJSON_GetObjectItemCaseSensitive(into, "state");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(from, "state");
    for (const cJSON *e = src ? src->child : NULL; e; e = e->next) {
        int i = atoi(e->string);
        if (i < 0 || i >= z->n || (keep >= 0 && z->owner[i] != keep)) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(state, e->string);
        cJSON_AddItemToObject(state, e->string, cJSON_Duplicate(e, true));
    }
}

/* The parameter index in a state tensor's name "state.<i>.<name>", or -1. */
static int state_index(const char *name) { return strncmp(name, "state.", 6) == 0 ? atoi(name + 6) : -1; }

/* Loads into the optimizer the state of json + sd, keeping only the
 * parameters owned by `keep` (-1: every one). */
static int load_filtered(Zero *z, const char *json, const StateDict *sd, int keep)
{
    cJSON *root = cJSON_Parse(json);
    ENGINE_CHECK_INT(root != NULL, "ZeRO: unreadable optimizer state");
    cJSON *fresh = cJSON_Duplicate(root, true);
    cJSON_DeleteItemFromObjectCaseSensitive(fresh, "state");
    cJSON_AddObjectToObject(fresh, "state");
    merge_state_json(fresh, root, z, keep);
    char *text = cJSON_PrintUnformatted(fresh);
    StateDict kept;
    state_dict_init(&kept);
    int rc = 0;
    for (int i = 0; rc == 0 && i < sd->n; i++) {
        int k = state_index(sd->names[i]);
        if (k >= 0 && k < z->n && (keep < 0 || z->owner[k] == keep)) rc = state_dict_add(&kept, sd->names[i], sd->tensors[i]);
    }
    if (rc == 0) rc = optimizer_load_state_dict(z->opt, &kept, text);
    state_dict_free(&kept);
    free(text);
    cJSON_Delete(fresh);
    cJSON_Delete(root);
    return rc;
}

int zero_shard_state(Zero *z)
{
    StateDict sd;
    state_dict_init(&sd);
    char *json = NULL;
    int rc = optimizer_state_dict(z->opt, &sd, &json);
    if (rc == 0) rc = load_filtered(z, json, &sd, dist_rank());
    free(json);
    state_dict_free(&sd);
    return rc;
}

int zero_gather_state(Zero *z)
{
    StateDict mine;
    state_dict_init(&mine);
    char *my_json = NULL;
    if (optimizer_state_dict(z->opt, &mine, &my_json)) return -1;
    cJSON *all = cJSON_Parse(my_json);
    ENGINE_ASSERT(all != NULL);
    StateDict merged;
    state_dict_init(&merged);
    int rc = 0;
    for (int i = 0; rc == 0 && i < mine.n; i++) rc = state_dict_add(&merged, mine.names[i], mine.tensors[i]);
    scope_begin(); /* the other ranks' tensors, until loaded (copied) */
    /* each other rank sends its shard to rank 0 alone: its size, then the bytes */
    if (rc == 0 && !dist_is_main()) {
        Bytes b = {0};
        serialize(&mine, my_json, &b);
        uint64_t size = b.n;
        rc = dist_send(&size, sizeof size, 0, ZERO_TAG);
        if (rc == 0) rc = dist_send(b.buf, (int64_t)size, 0, ZERO_TAG);
        free(b.buf);
    }
    for (int r = 1; rc == 0 && dist_is_main() && r < dist_size(); r++) {
        uint64_t size;
        rc = dist_recv(&size, sizeof size, r, ZERO_TAG);
        char *buf = rc == 0 ? malloc(size ? size : 1) : NULL;
        if (rc == 0) {
            ENGINE_ASSERT(buf != NULL);
            rc = dist_recv(buf, (int64_t)size, r, ZERO_TAG);
        }
        char *json = NULL;
        StateDict theirs;
        state_dict_init(&theirs);
        if (rc == 0) rc = deserialize(buf, size, &theirs, &json);
        cJSON *jt = rc == 0 ? cJSON_Parse(json) : NULL;
        if (rc == 0 && !jt) {
            engine_error("ZeRO: unreadable optimizer state from rank %d", r);
            rc = -1;
        }
        if (rc == 0) merge_state_json(all, jt, z, r);
        for (int i = 0; rc == 0 && i < theirs.n; i++) {
            int k = state_index(theirs.names[i]);
            if (k >= 0 && k < z->n && z->owner[k] == r) rc = state_dict_add(&merged, theirs.names[i], theirs.tensors[i]);
        }
        cJSON_Delete(jt);
        state_dict_free(&theirs);
        free(json);
        free(buf);
    }
    if (rc == 0 && dist_is_main()) {
        char *text = cJSON_PrintUnformatted(all);
        rc = load_filtered(z, text, &merged, -1);
        free(text);
    }
    scope_end();
    cJSON_Delete(all);
    state_dict_free(&merged);
    state_dict_free(&mine);
    free(my_json);
    return rc;
}

int64_t zero_state_elements(Zero *z)
{
    StateDict sd;
    state_dict_init(&sd);
    char *json = NULL;
    int64_t n = 0;
    if (optimizer_state_dict(z->opt, &sd, &json) == 0)
        for (int i = 0; i < sd.n; i++) n += tensor_numel(sd.tensors[i]);
    free(json);
    state_dict_free(&sd);
    return n;
}
