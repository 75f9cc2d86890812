/* Printing a tensor as PyTorch's repr does (torch/_tensor_str.py of
 * PyTorch 1.13), character for character:
 *
 *   tensor([[1.0000, 2.5000],
 *           [3.0000, 4.0000]], requires_grad=True)
 *   tensor([1., 2., 3.])                  (whole floats: a trailing point)
 *   tensor([1.0000e-05, 1.0000e+03])      (scientific when the range calls for it)
 *   tensor([0, 1, 2,  ..., 7, 8, 9])      (more than `threshold` elements: edgeitems
 *                                          at each end of every dim)
 *   tensor([1, 2], dtype=torch.uint8)     (float32 and int64 print no dtype)
 *   tensor([2.], device='cuda:0', grad_fn=<MulBackward0>)
 *
 * with PyTorch's print options (torch.set_printoptions) and their defaults. */
#ifndef ENGINE_TENSOR_PRINT_H
#define ENGINE_TENSOR_PRINT_H

#include <stdio.h>

#include "engine/tensor.h"

typedef struct {
    int precision;     /* digits after the point (4) */
    int64_t threshold; /* more elements than this are summarised (1000) */
    int edgeitems;     /* items kept at each end of a summarised dim (3) */
    int linewidth;     /* characters per line (80) */
    int sci_mode;      /* -1: chosen from the values (PyTorch's None), 0: never, 1: always */
} TensorPrintOptions;

/* PyTorch's defaults: precision 4, threshold 1000, edgeitems 3, linewidth 80, sci_mode None. */
TensorPrintOptions tensor_print_defaults(void);

/* repr(t) as a malloc'd string (free() it), with opts (NULL: the defaults).
 * Works for any dtype, strides and device (a GPU tensor is copied to the
 * host). NULL with an error for NULL t or options out of range. */
char *tensor_repr(const Tensor *t, const TensorPrintOptions *opts);
/* print(t): repr(t) and a newline to f. 0, or -1 with an error. */
int tensor_print(const Tensor *t, FILE *f);

#endif
