/* ZeRO stage 1 (see zero.h). Ownership goes by element, as in llm.c: the
 * optimizer's parameters, flattened and laid end to end in optimizer
 * order, are cut into as many equal runs as there are ranks, and rank r
 * updates (and keeps optimizer state for) the r-th run, so a tensor may
 * have pieces on several ranks. Parameters a later group adds are laid out
 * and cut the same way on their own, so the others' pieces stay where
 * their state is. The state moves as the optimizer's own state dict (JSON
 * + named tensors, engine/optim/optimizer.h), so nothing here knows an
 * optimizer's internals. */
#include "dist/zero.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dist/tensor_comm.h"
#include "dist/world.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/scope.h"

/* The messages of zero_gather_state (./tune's executor uses 101..). */
enum { ZERO_TAG = 201 };

struct Zero {
    Optimizer *opt;
    Tensor **params;       /* optimizer order */
    int64_t *offset, *run; /* per parameter: its first element in its layout, that layout's length */
    int n;
};

/* Elements [*lo, *hi) of parameter i that rank r owns (possibly none). */
static void piece(const Zero *z, int i, int r, int64_t *lo, int64_t *hi)
{
    int64_t total = z->run[i], size = dist_size(), numel = tensor_numel(z->params[i]);
    int64_t a = total * r / size - z->offset[i], b = total * (r + 1) / size - z->offset[i];
    *lo = a < 0 ? 0 : a > numel ? numel : a;
    *hi = b < 0 ? 0 : b > numel ? numel : b;
}

/* Lays out parameters z->n.. of the optimizer (see the top). -1 with an
 * error for a parameter that is not contiguous: its pieces are views of
 * its flattened storage (the broadcasts write into them). */
static int assign(Zero *z)
{
    Optimizer *opt = z->opt;
    size_t cap = (size_t)(opt->n_params ? opt->n_params : 1);
    z->params = realloc(z->params, cap * sizeof *z->params);
    z->offset = realloc(z->offset, cap * sizeof *z->offset);
    z->run = realloc(z->run, cap * sizeof *z->run);
    ENGINE_ASSERT(z->params && z->offset && z->run);
    int i = 0;
    for (int g = 0; g < opt->n_groups; g++)
        for (int k = 0; k < opt->groups[g].n_params; k++) z->params[i++] = opt->groups[g].params[k];
    int64_t total = 0;
    for (i = z->n; i < opt->n_params; i++) {
        ENGINE_CHECK_INT(tensor_is_contiguous(z->params[i]), "ZeRO: parameter %d (shape %s) is not contiguous", i,
                         shape_str(z->params[i]->shape));
        z->offset[i] = total;
        total += tensor_numel(z->params[i]);
    }
    for (i = z->n; i < opt->n_params; i++) z->run[i] = total;
    return 0;
}

Zero *zero_new(Optimizer *opt)
{
    Zero *z = calloc(1, sizeof *z);
    ENGINE_ASSERT(z != NULL);
    z->opt = opt;
    if (assign(z)) {
        zero_free(z);
        return NULL;
    }
    z->n = opt->n_params;
    return z;
}

int zero_extend(Zero *z)
{
    int first = z->n;
    if (z->opt->n_params == first) return 0;
    if (assign(z)) return -1;
    z->n = z->opt->n_params;
    /* the new parameters have no state yet: they are sharded from the start */
    for (int i = first; i < z->n; i++) {
        int64_t lo, hi;
        piece(z, i, dist_rank(), &lo, &hi);
        if (optimizer_own(z->opt, i, lo, hi)) return -1;
    }
    return 0;
}

void zero_free(Zero *z)
{
    if (!z) return;
    free(z->params);
    free(z->offset);
    free(z->run);
    free(z);
}

void zero_drop_foreign_grads(Zero *z)
{
    for (int i = 0; i < z->n; i++) {
        int64_t lo, hi;
        piece(z, i, dist_rank(), &lo, &hi);
        if (lo == hi && z->params[i]->grad) {
            tensor_free(z->params[i]->grad);
            z->params[i]->grad = NULL;
        }
    }
}

/* Elements [lo, hi) of contiguous t, flattened: a view. */
static Tensor *flat_range(Tensor *t, int64_t lo, int64_t hi)
{
    return t_narrow(t_reshape(t, SHAPE(tensor_numel(t))), 0, lo, hi - lo);
}

int zero_broadcast_params(Zero *z)
{
    int rc = 0;
    scope_begin();
    bool mode = no_grad_begin(); /* the views need no graph */
    for (int i = 0; i < z->n && rc == 0; i++)
        for (int r = 0; r < dist_size() && rc == 0; r++) {
            int64_t lo, hi;
            piece(z, i, r, &lo, &hi);
            if (lo == hi) continue;
            char what[96];
            snprintf(what, sizeof what, "ZeRO's parameter %d (elements %lld..%lld)", i, (long long)lo, (long long)hi);
            Tensor *view = flat_range(z->params[i], lo, hi);
            rc = view ? dist_broadcast_tensor(view, r, what) : -1;
        }
    grad_mode_restore(mode);
    scope_end();
    return rc;
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

/* Whether rank r owns any element of parameter i. */
static bool owns_part(const Zero *z, int i, int r)
{
    int64_t lo, hi;
    piece(z, i, r, &lo, &hi);
    return hi > lo;
}

/* The state entries (step counts) of the parameters of which rank `keep`
 * owns a part, from `from`'s JSON into into's "state". */
static void merge_state_json(cJSON *into, const cJSON *from, const Zero *z, int keep)
{
    cJSON *state = cJSON_GetObjectItemCaseSensitive(into, "state");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(from, "state");
    for (const cJSON *e = src ? src->child : NULL; e; e = e->next) {
        int i = atoi(e->string);
        if (i < 0 || i >= z->n || !owns_part(z, i, keep)) continue;
        cJSON_DeleteItemFromObjectCaseSensitive(state, e->string);
        cJSON_AddItemToObject(state, e->string, cJSON_Duplicate(e, true));
    }
}

/* The parameter index in a state tensor's name "state.<i>.<name>", or -1. */
static int state_index(const char *name)
{
    int i = strncmp(name, "state.", 6) == 0 ? atoi(name + 6) : -1;
    return i < 0 ? -1 : i;
}

int zero_shard_state(Zero *z)
{
    StateDict sd, kept;
    state_dict_init(&sd);
    state_dict_init(&kept);
    char *json = NULL, *text = NULL;
    cJSON *root = NULL, *fresh = NULL;
    int rc = optimizer_state_dict(z->opt, &sd, &json), me = dist_rank();
    scope_begin(); /* the pieces, copied out of the whole state before optimizer_own clears it */
    for (int j = 0; rc == 0 && j < sd.n; j++) {
        int i = state_index(sd.names[j]);
        int64_t lo, hi;
        if (i >= z->n) continue;
        if (i < 0 || tensor_numel(sd.tensors[j]) != tensor_numel(z->params[i])) {
            engine_error("ZeRO: the optimizer state '%s' is not whole (shape %s)", sd.names[j],
                         shape_str(sd.tensors[j]->shape));
            rc = -1;
            break;
        }
        piece(z, i, me, &lo, &hi);
        if (hi == lo) continue;
        Tensor *part = t_clone(flat_range(sd.tensors[j], lo, hi));
        rc = part ? state_dict_add(&kept, sd.names[j], part) : -1;
    }
    if (rc == 0) {
        root = cJSON_Parse(json);
        if (!root) {
            engine_error("ZeRO: unreadable optimizer state");
            rc = -1;
            goto done;
        }
        fresh = cJSON_Duplicate(root, true);
        cJSON_DeleteItemFromObjectCaseSensitive(fresh, "state");
        cJSON_AddObjectToObject(fresh, "state");
        merge_state_json(fresh, root, z, me);
        text = cJSON_PrintUnformatted(fresh);
    }
    for (int i = 0; rc == 0 && i < z->n; i++) {
        int64_t lo, hi;
        piece(z, i, me, &lo, &hi);
        rc = optimizer_own(z->opt, i, lo, hi);
    }
    if (rc == 0) rc = optimizer_load_state_dict(z->opt, &kept, text);
done:
    scope_end();
    cJSON_Delete(fresh);
    cJSON_Delete(root);
    free(text);
    free(json);
    state_dict_free(&kept);
    state_dict_free(&sd);
    return rc;
}

/* Rank r's pieces (names "state.<i>.<name>") copied into whole, host
 * tensors made on first sight; *filled counts the elements written. */
static int place_pieces(const Zero *z, const StateDict *pieces, int r, StateDict *whole, int64_t *filled)
{
    for (int j = 0; j < pieces->n; j++) {
        Tensor *t = pieces->tensors[j];
        int i = state_index(pieces->names[j]);
        if (i >= z->n) continue;
        int64_t lo = 0, hi = 0;
        if (i >= 0) piece(z, i, r, &lo, &hi);
        ENGINE_CHECK_INT(i >= 0 && tensor_numel(t) == hi - lo && t->dtype == DT_F32,
                         "ZeRO: rank %d sent optimizer state '%s' of shape %s, not its %lld elements", r,
                         pieces->names[j], shape_str(t->shape), (long long)(hi - lo));
        Tensor *w = state_dict_get(whole, pieces->names[j]);
        if (!w) {
            w = tensor_zeros(z->params[i]->shape, DT_F32, CPU);
            if (!w || state_dict_add(whole, pieces->names[j], w)) return -1;
        }
        if (tensor_copy_to_buffer(t, tensor_f32(w) + lo)) return -1;
        *filled += hi - lo;
    }
    return 0;
}

int zero_gather_state(Zero *z)
{
    StateDict mine, whole;
    state_dict_init(&mine);
    state_dict_init(&whole);
    char *my_json = NULL;
    if (optimizer_state_dict(z->opt, &mine, &my_json)) return -1;
    cJSON *all = cJSON_Parse(my_json);
    ENGINE_ASSERT(all != NULL);
    int64_t filled = 0;
    int rc = 0;
    scope_begin(); /* the whole tensors and the other ranks' pieces, until loaded (copied) */
    /* each other rank sends its pieces to rank 0 alone: their size, then the bytes */
    if (!dist_is_main()) {
        Bytes b = {0};
        serialize(&mine, my_json, &b);
        uint64_t size = b.n;
        rc = dist_send(&size, sizeof size, 0, ZERO_TAG);
        if (rc == 0) rc = dist_send(b.buf, (int64_t)size, 0, ZERO_TAG);
        free(b.buf);
    } else {
        rc = place_pieces(z, &mine, 0, &whole, &filled);
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
        if (rc == 0) rc = place_pieces(z, &theirs, r, &whole, &filled);
        cJSON_Delete(jt);
        state_dict_free(&theirs);
        free(json);
        free(buf);
    }
    if (rc == 0 && dist_is_main()) {
        /* every element of every state tensor came from exactly one rank */
        int64_t expected = 0;
        for (int j = 0; j < whole.n; j++) expected += tensor_numel(whole.tensors[j]);
        if (filled != expected) {
            engine_error("ZeRO: the ranks' optimizer state covers %lld of %lld elements", (long long)filled,
                         (long long)expected);
            rc = -1;
            goto done;
        }
        char *text = cJSON_PrintUnformatted(all);
        optimizer_own_all(z->opt);
        rc = optimizer_load_state_dict(z->opt, &whole, text);
        free(text);
    }
done:
    scope_end();
    cJSON_Delete(all);
    state_dict_free(&whole);
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
