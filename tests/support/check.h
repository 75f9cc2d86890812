/* Test helpers: comparing tensors with a printed error, finite-difference
 * gradient checks, and building test inputs. */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "engine/engine.h"

/* max |a - b| / max(max |b|, 1e-12): error relative to the reference's scale.
 * Shapes must match (asserted). */
double max_rel_error(Tensor *ours, Tensor *ref);
/* Asserts max_rel_error <= tol and prints it with label. */
void expect_close(Tensor *ours, Tensor *ref, double tol, const char *label);
/* Asserts an exact match (integer outputs). */
void expect_equal(Tensor *ours, Tensor *ref, const char *label);

/* A differentiable function of n inputs, for finite differences. */
typedef Tensor *(*TestFn)(Tensor **inputs, void *ctx);
/* Compares the backward gradients of sum(fn(inputs) * w) (w fixed random)
 * with central differences of step eps, for every input that requires grad
 * (up to max_elems elements each, spread over the tensor). Returns the max
 * error relative to the gradients' scale and prints it. */
double fd_gradcheck(TestFn fn, void *ctx, Tensor **inputs, int n, double eps, int max_elems, const char *label);

/* Random f32 input N(0,1) of the given shape, as a leaf requiring grad. */
Tensor *rand_leaf(Shape shape, Generator *g);
/* The same values through a transposed view (non-contiguous). */
Tensor *noncontig_leaf(Shape shape, Generator *g);

/* Asserts that a call failed and that the engine's message contains a and
 * b (b may be NULL); prints the message and clears it for the next check. */
void expect_failure(bool failed, const char *a, const char *b);
/* The same for a call that returns a pointer: NULL means it failed. */
#define expect_error(result, a, b) expect_failure((result) == NULL, (a), (b))

/* Fails the test with the engine's error message when t is NULL. */
#define REQUIRE_OK(t)                                                                     \
    do {                                                                                  \
        if ((t) == NULL) fail_engine(#t);                                                 \
    } while (0)

/* Fails the current test with the engine's error message, clearing it so the
 * next test starts clean. */
_Noreturn void fail_engine(const char *what);

#endif
