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
