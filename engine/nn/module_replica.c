/* Replicas of a module for data parallelism inside one process: a replica
 * built from the same description views the original's parameter and
 * buffer storages, so it computes with the same weights without a copy,
 * while the gradients it accumulates stay its own (see module.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/nn/module.h"

/* Makes r view m's storage (the header keeps its identity, so the layers'
 * pointers to it stay valid). */
static void view_storage_of(Tensor *r, const Tensor *m)
{
    if (r->storage == m->storage && r->offset == m->offset) return;
    storage_retain(m->storage);
    storage_release(r->storage);
    r->storage = m->storage;
    r->offset = m->offset;
    memcpy(r->strides, m->strides, sizeof r->strides);
}

/* The i-th tensors of two lists must agree in dtype and shape. */
static int check_same_layout(const Tensor *r, const Tensor *m, const char *what, int i)
{
    if (r->dtype == m->dtype && shape_equal(r->shape, m->shape)) return 0;
    engine_error("module replica: %s %d is %s %s in the replica but %s %s in the original", what, i,
                 dtype_name(r->dtype), shape_str(r->shape), dtype_name(m->dtype), shape_str(m->shape));
    return -1;
}

static int share_list(Tensor **rs, int nr, Tensor **ms, int nm, const char *what, bool parameters)
{
    if (nr != nm) {
        engine_error("module replica: %d %ss in the replica, %d in the original", nr, what, nm);
        return -1;
    }
    for (int i = 0; i < nr; i++) {
        if (check_same_layout(rs[i], ms[i], what, i)) return -1;
        view_storage_of(rs[i], ms[i]);
        if (parameters) rs[i]->requires_grad = ms[i]->requires_grad; /* frozen layers stay frozen */
    }
    return 0;
}

int module_replica_sync(Module *replica, const Module *original)
{
    int nrp = 0, nmp = 0, nrb = 0, nmb = 0;
    Tensor **rp = module_parameters(replica, &nrp), **mp = module_parameters(original, &nmp);
    Tensor **rb = module_buffers(replica, &nrb), **mb = module_buffers(original, &nmb);
    int rc = rp && mp && rb && mb ? 0 : -1;
    if (rc == 0) rc = share_list(rp, nrp, mp, nmp, "parameter", true);
    if (rc == 0) rc = share_list(rb, nrb, mb, nmb, "buffer", false);
    free(rp);
    free(mp);
    free(rb);
    free(mb);
    if (rc == 0 && replica->training != original->training) module_train(replica, original->training);
    return rc;
}

const char *module_find_type(const Module *m, const char *prefix)
{
    if (strncmp(m->type_name, prefix, strlen(prefix)) == 0) return m->type_name;
    for (int i = 0; i < m->children.n; i++) {
        const char *found = module_find_type((const Module *)m->children.items[i], prefix);
        if (found) return found;
    }
    return NULL;
}
