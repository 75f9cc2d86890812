/* distributed.find_unused_parameters (dist/ddp.h), under mpirun with 2 or
 * more ranks (ctest launches 2): a model of two Linear heads whose forward
 * may leave out "extra". Each rank's loss is (rank + 1) * sum(heads(x_rank))
 * with x_rank fixed by the rank, so every rank computes every rank's
 * gradients itself and checks the averages DDP leaves in .grad:
 *  - false (the default): a parameter without a gradient fails the step
 *    with one line naming the rank, the parameter and the key, on the ranks
 *    that did not use it only, after collectives the others finish too (no
 *    hang), and the next step works;
 *  - true: used on rank 0 only -> rank 0's gradient / N everywhere; used
 *    nowhere -> .grad stays NULL; the flags are found again every step;
 *  - used everywhere -> the plain average (both settings); accumulation
 *    (no_sync) counts a gradient left in .grad as used.
 * One parameter per bucket and one bucket for all: with a head that only
 * some ranks use, the buckets must still start in the same order everywhere.
 * Every test runs all its collectives before asserting, so that a failure
 * on one rank does not leave another waiting; main then ends the job. */
#include <math.h>
#include <stdlib.h>

#include "dist/ddp.h"
#include "dist/world.h"
#include "tests/support/check.h"

enum { ROWS = 4, IN = 3, USED_OUT = 2, EXTRA_OUT = 5 };

/* Bucket sizes in MB: one parameter per bucket, and all in one. */
static const double bucket_sizes[] = {1e-6, 25};

/* Whether this rank's forward in the coming step uses the "extra" head. */
static bool extra_here;

static Tensor *heads_forward(Module *self, Tensor *x)
{
    Tensor *out = t_sum(module_forward(module_get_child(self, "used"), x), NULL, 0, false);
    if (!extra_here) return out;
    return t_add(out, t_sum(module_forward(module_get_child(self, "extra"), x), NULL, 0, false));
}

static Module *heads_model(void)
{
    manual_seed(5); /* the gradients do not depend on the weights, but every rank starts alike anyway */
    Module *m = module_new("Heads");
    REQUIRE_OK(m);
    REQUIRE_OK(module_register_module(m, "used", nn_linear(IN, USED_OUT, true)));
    REQUIRE_OK(module_register_module(m, "extra", nn_linear(IN, EXTRA_OUT, true)));
    m->forward = heads_forward;
    return m;
}

static float input_at(int rank, int i, int k) { return (float)((rank + 1) * (i + 1)) + 0.25f * (float)k; }

/* d loss_rank / d weight[j][k] (the same for every j), or / d bias[j] for k < 0. */
static double rank_grad(int rank, int k)
{
    double scale = rank + 1, sum = 0;
    if (k < 0) return scale * ROWS;
    for (int i = 0; i < ROWS; i++) sum += input_at(rank, i, k);
    return scale * sum;
}

/* One forward and backward of this rank's batch, then ddp_finish_backward
 * (which does nothing without sync): its result. */
static int step(DDP *d, Module *m, bool extra, bool sync)
{
    extra_here = extra;
    float x[ROWS * IN];
    for (int i = 0; i < ROWS; i++)
        for (int k = 0; k < IN; k++) x[i * IN + k] = input_at(dist_rank(), i, k);
    ddp_set_sync(d, sync);
    scope_begin();
    Tensor *out = module_forward(m, tensor_from_data(x, SHAPE(ROWS, IN), DT_F32, CPU));
    int rc = out ? tensor_backward(t_mul_scalar(out, dist_rank() + 1), NULL) : -1;
    scope_end();
    if (rc) {
        print_error("rank %d: forward/backward failed: %s\n", dist_rank(), engine_last_error());
        return -2; /* not an outcome any check accepts */
    }
    return ddp_finish_backward(d);
}

static Tensor *param(Module *m, const char *head, const char *name)
{
    return module_get_parameter(module_get_child(m, head), name);
}

/* Whether head's .grad (weight and bias) is `times` x the sum over the
 * ranks in used_by (a bit mask) of their gradients, divided by the ranks. */
static bool grad_is(Module *m, const char *head, unsigned used_by, double times, const char *what)
{
    bool ok = true;
    for (int b = 0; b < 2; b++) {
        Tensor *p = param(m, head, b ? "bias" : "weight");
        if (!p->grad) {
            print_error("rank %d, %s: %s.%s has no .grad\n", dist_rank(), what, head, b ? "bias" : "weight");
            return false;
        }
        int64_t rows = p->shape.d[0], cols = b ? 1 : IN;
        const float *g = tensor_f32(p->grad);
        for (int64_t j = 0; j < rows; j++)
            for (int64_t k = 0; k < cols; k++) {
                double want = 0;
                for (int r = 0; r < dist_size(); r++)
                    if (used_by & (1u << r)) want += rank_grad(r, b ? -1 : (int)k);
                want *= times / dist_size();
                double got = g[j * cols + k];
                if (fabs(got - want) > 1e-5 * fabs(want) + 1e-6) {
                    print_error("rank %d, %s: %s.%s grad[%lld] = %g, expected %g\n", dist_rank(), what, head,
                                b ? "bias" : "weight", (long long)(j * cols + k), got, want);
                    ok = false;
                }
            }
    }
    return ok;
}

/* Whether a step's result and message are those of the false setting on a
 * rank where extra got no gradient; clears the message. */
static bool unused_error(int rc, const char *what)
{
    char rank_part[32];
    snprintf(rank_part, sizeof rank_part, "rank %d: ", dist_rank());
    const char *msg = engine_has_error() ? engine_last_error() : "(no message)";
    bool ok = rc == -1 && strncmp(msg, rank_part, strlen(rank_part)) == 0 && strstr(msg, "'extra.weight'") &&
              strstr(msg, "'extra.bias'") && !strstr(msg, "'used.") && strstr(msg, "distributed.find_unused_parameters") &&
              !strchr(msg, '\n');
    print_message("rank %d, %s: %d, %s\n", dist_rank(), what, rc, msg);
    if (!ok) print_error("rank %d, %s: not the expected error\n", dist_rank(), what);
    engine_clear_error();
    return ok;
}

static bool succeeded(int rc, const char *what)
{
    if (rc == 0) return true;
    print_error("rank %d, %s: failed: %s\n", dist_rank(), what, engine_has_error() ? engine_last_error() : "?");
    engine_clear_error();
    return false;
}

static bool no_grad(Module *m, const char *head, const char *what)
{
    bool ok = !param(m, head, "weight")->grad && !param(m, head, "bias")->grad;
    if (!ok) print_error("rank %d, %s: %s got a .grad though no rank used it\n", dist_rank(), what, head);
    return ok;
}

static const unsigned ALL = ~0u, RANK0 = 1u;

static void test_unused_fails_without_the_setting(void **state)
{
    bool ok = true;
    for (int s = 0; s < 2; s++) {
        Module *m = heads_model();
        DDP *d = ddp_new(m, bucket_sizes[s], false);
        REQUIRE_OK(d);
        /* used nowhere: every rank fails */
        ok &= unused_error(step(d, m, false, true), "false, extra used nowhere");
        module_zero_grad(m, true);
        /* used on rank 0 only: the others fail; rank 0's step completes (no rank waits) */
        int rc = step(d, m, dist_rank() == 0, true);
        if (dist_rank() == 0)
            ok &= succeeded(rc, "false, extra on rank 0") && grad_is(m, "used", ALL, 1, "false, extra on rank 0") &&
                  grad_is(m, "extra", RANK0, 1, "false, extra on rank 0");
        else
            ok &= unused_error(rc, "false, extra on rank 0 only");
        module_zero_grad(m, true);
        /* the next step, all used, is the plain average */
        ok &= succeeded(step(d, m, true, true), "false, after the error") &&
              grad_is(m, "used", ALL, 1, "false, after the error") && grad_is(m, "extra", ALL, 1, "false, after the error");
        ddp_free(d);
        module_free(m);
    }
    assert_true(ok);
}

static void test_used_on_some_ranks_averages_zeros(void **state)
{
    bool ok = true;
    for (int s = 0; s < 2; s++) {
        Module *m = heads_model();
        DDP *d = ddp_new(m, bucket_sizes[s], true);
        REQUIRE_OK(d);
        ok &= succeeded(step(d, m, dist_rank() == 0, true), "true, extra on rank 0") &&
              grad_is(m, "used", ALL, 1, "true, extra on rank 0") && grad_is(m, "extra", RANK0, 1, "true, extra on rank 0");
        ddp_free(d);
        module_free(m);
    }
    assert_true(ok);
}

static void test_used_nowhere_keeps_grad_null(void **state)
{
    bool ok = true;
    for (int s = 0; s < 2; s++) {
        Module *m = heads_model();
        DDP *d = ddp_new(m, bucket_sizes[s], true);
        REQUIRE_OK(d);
        ok &= succeeded(step(d, m, false, true), "true, extra nowhere") &&
              grad_is(m, "used", ALL, 1, "true, extra nowhere") && no_grad(m, "extra", "true, extra nowhere");
        module_zero_grad(m, true);
        /* the flags are the step's: used everywhere next, averaged everywhere */
        ok &= succeeded(step(d, m, true, true), "true, then all used") &&
              grad_is(m, "used", ALL, 1, "true, then all used") && grad_is(m, "extra", ALL, 1, "true, then all used");
        ddp_free(d);
        module_free(m);
    }
    assert_true(ok);
}

static void test_used_everywhere_is_the_plain_average(void **state)
{
    bool ok = true;
    for (int find_unused = 0; find_unused < 2; find_unused++)
        for (int s = 0; s < 2; s++) {
            Module *m = heads_model();
            DDP *d = ddp_new(m, bucket_sizes[s], find_unused);
            REQUIRE_OK(d);
            const char *what = find_unused ? "true, all used" : "false, all used";
            ok &= succeeded(step(d, m, true, true), what) && grad_is(m, "used", ALL, 1, what) &&
                  grad_is(m, "extra", ALL, 1, what);
            ddp_free(d);
            module_free(m);
        }
    assert_true(ok);
}

/* no_sync: a head used in an earlier micro-batch has its gradient in .grad,
 * which counts as used when the last micro-batch leaves it out. */
static void test_accumulated_gradient_counts_as_used(void **state)
{
    bool ok = true;
    for (int s = 0; s < 2; s++) {
        Module *m = heads_model();
        DDP *d = ddp_new(m, bucket_sizes[s], false);
        REQUIRE_OK(d);
        ok &= succeeded(step(d, m, true, false), "no_sync micro-batch") &&
              succeeded(step(d, m, false, true), "last micro-batch without extra") &&
              grad_is(m, "used", ALL, 2, "accumulated") && grad_is(m, "extra", ALL, 1, "accumulated");
        ddp_free(d);
        module_free(m);
    }
    assert_true(ok);
}

int main(void)
{
    if (dist_init()) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    if (!dist_launched() || dist_size() < 2) {
        printf("[  SKIPPED ] test_ddp_unused needs 2 or more ranks (mpirun -np 2; ctest launches it so where "
               "mpirun and build/libdist_mpi.so exist)\n");
        dist_finalize();
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unused_fails_without_the_setting),
        cmocka_unit_test(test_used_on_some_ranks_averages_zeros),
        cmocka_unit_test(test_used_nowhere_keeps_grad_null),
        cmocka_unit_test(test_used_everywhere_is_the_plain_average),
        cmocka_unit_test(test_accumulated_gradient_counts_as_used),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* a rank that failed may have left another waiting in a collective: end them all */
    if (failed) dist_abort(1);
    dist_finalize();
    return 0;
}
