/* softmax and log_softmax over any dim, with fused backward functions. */
#include "engine/autocast.h"
#include "engine/dispatch.h"
#include "engine/ops.h"

/* saved: y (the output); ints: dim, log */
static int softmax_backward(Node *n, Tensor *g, Tensor **gin)
{
    Tensor *y = n->saved[0];
    Tensor *gc = t_contiguous(g);
    Tensor *gi = gc ? tensor_empty(y->shape, DT_F32, tensor_device(y)) : NULL;
    if (!gi) return -1;
    NEED_KERNEL_INT(gi, softmax_backward);
    backend_of(gi)->softmax_backward(gi, gc, y, (int)n->ints[0], n->ints[1] != 0);
    gin[0] = gi;
    return 0;
}

static Tensor *softmax_op(Tensor *x, int dim, bool log_out, const char *op, const char *node_name)
{
    if (!x) return NULL;
    CHECK_DTYPE(op, x, DT_F32, "input");
    int d = shape_wrap_dim(dim, x->shape.ndim, op);
    if (d < 0) return NULL;
    /* the kernel reads rows contiguously; a strided input is copied once
     * (its clone node passes the gradient straight through) */
    Tensor *xc = t_contiguous(x);
    Tensor *out = xc ? tensor_empty(x->shape, DT_F32, tensor_device(x)) : NULL;
    if (!out) return NULL;
    NEED_KERNEL(out, softmax);
    backend_of(out)->softmax(out, xc, d, log_out);
    Node *n = autograd_record(node_name, softmax_backward, out, 1, &xc);
    if (n) {
        n->saved[0] = out;
        n->ints[0] = d;
        n->ints[1] = log_out;
    }
    return out;
}

Tensor *f_softmax(Tensor *x, int dim)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 1, f_softmax(ac_in_[0], dim), x);
    return softmax_op(x, dim, false, "softmax", "SoftmaxBackward0");
}

Tensor *f_log_softmax(Tensor *x, int dim)
{
    AUTOCAST_DISPATCH(AUTOCAST_F32, 1, f_log_softmax(ac_in_[0], dim), x);
    return softmax_op(x, dim, true, "log_softmax", "LogSoftmaxBackward0");
}
