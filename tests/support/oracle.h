/* PyTorch as the oracle: a batch of op cases is written to one safetensors
 * file, tests/ref/oracle.py runs each case in torch (forward, and backward
 * with the given output gradient), and the results are read back here.
 * One interpreter start serves a whole batch. */
#ifndef TESTS_ORACLE_H
#define TESTS_ORACLE_H

#include "engine/engine.h"

typedef struct Oracle Oracle;

/* name labels the temporary files and messages. */
Oracle *oracle_new(const char *name);
void oracle_free(Oracle *o);
/* Adds a case: op is a key of an OPS table in tests/ref/ops_*.py, args_json
 * a JSON object (or NULL for {}). Inputs that require grad get gradients in
 * torch too; grad_out may be NULL (forward only). Returns the case index. */
int oracle_add(Oracle *o, const char *op, const char *args_json, int n_inputs, Tensor *const *inputs,
               Tensor *grad_out);
/* Runs torch: 0 when done, 1 when no torch is available (the caller
 * skips), -1 on failure (message printed). */
int oracle_run(Oracle *o);
/* Output k of a case, the gradient of input i (NULL if torch gave none). */
Tensor *oracle_output(Oracle *o, int case_index, int k);
Tensor *oracle_grad(Oracle *o, int case_index, int input_index);

/* Non-finite inputs and results, for the checks that NaN and +-Inf behave
 * as in PyTorch. */

/* Writes into a CPU f32 tensor t (any strides) at each flat row-major index
 * i the value pattern[i % strlen(pattern)] names: 'n' NaN, '+' +Inf, '-'
 * -Inf, '0' zero; any other character leaves the element as it is. */
void put_nonfinite(Tensor *t, const char *pattern);
/* Writes the value kind names ('n', '+', '-' or '0', as above) at the flat
 * row-major index i of t. */
void put_nonfinite_at(Tensor *t, int64_t i, char kind);
/* Writes n_nan NaN, n_pos +Inf and n_neg -Inf at random flat indices of t
 * drawn from g (a later one may overwrite an earlier one). */
void sprinkle_nonfinite(Tensor *t, int n_nan, int n_pos, int n_neg, Generator *g);
/* Like expect_close, but exact about non-finite values: ours must be NaN
 * exactly where ref is NaN and the same infinity where ref is infinite;
 * finite values are compared relative to the largest finite |ref| (an
 * infinity in ref would otherwise hide every finite error). */
void expect_close_nonfinite(Tensor *ours, Tensor *ref, double tol, const char *label);

/* Skips the calling cmocka test visibly when torch is not available. */
#define ORACLE_RUN_OR_SKIP(o)                                                      \
    do {                                                                           \
        int oracle_rc_ = oracle_run(o);                                            \
        if (oracle_rc_ == 1) {                                                     \
            print_message("SKIP: PyTorch reference not available (python3-torch)\n"); \
            oracle_free(o);                                                        \
            skip();                                                                \
        }                                                                          \
        assert_int_equal(oracle_rc_, 0);                                           \
    } while (0)

#endif
