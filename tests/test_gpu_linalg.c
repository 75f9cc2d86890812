/* The CUDA matrix products (cuBLAS) against the CPU's: mm, bmm, dot,
 * matmul with broadcast batch dims (shared right operand folded into rows,
 * broadcast on either side, batch dims that do not collapse to one stride),
 * vectors, transposed operands, an empty inner dim, and linear with and
 * without bias; forward and backward. TF32 off: relative error <= 1e-4;
 * with TF32 on, a looser bound. Skipped without a CUDA device. */
#include "tests/support/gpu_compare.h"

static Generator gen;

/* Which operands the product sees transposed: a stored as [K, M] (or b as
 * [N, K]) and passed as t_transpose(..., -1, -2), a non-contiguous view
 * cuBLAS takes as a transposition flag. */
typedef struct {
    bool trans_a, trans_b;
} Views;

static Tensor *view_of(Tensor *t, bool transposed) { return transposed ? t_transpose(t, -1, -2) : t; }

static Tensor *matmul_fn(Tensor **in, void *ctx)
{
    const Views *v = ctx;
    return t_matmul(view_of(in[0], v->trans_a), view_of(in[1], v->trans_b));
}

static Tensor *bmm_fn(Tensor **in, void *ctx) { return t_bmm(in[0], in[1]); }
static Tensor *mm_fn(Tensor **in, void *ctx) { return t_mm(in[0], in[1]); }
static Tensor *dot_fn(Tensor **in, void *ctx) { return t_dot(in[0], in[1]); }
static Tensor *linear_fn(Tensor **in, void *ctx) { return f_linear(in[0], in[1], in[2]); }

/* The stored shape of an operand the product sees as `seen`. */
static Shape stored_shape(Shape seen, bool transposed)
{
    if (transposed && seen.ndim >= 2) {
        int64_t t = seen.d[seen.ndim - 1];
        seen.d[seen.ndim - 1] = seen.d[seen.ndim - 2];
        seen.d[seen.ndim - 2] = t;
    }
    return seen;
}

static void check_matmul(Shape a, Shape b, Views v, double tol)
{
    scope_begin();
    Tensor *in[2] = {rand_leaf(stored_shape(a, v.trans_a), &gen), rand_leaf(stored_shape(b, v.trans_b), &gen)};
    char label[128];
    snprintf(label, sizeof label, "matmul %s%s @ %s%s", shape_str(a), v.trans_a ? "T" : "", shape_str(b),
             v.trans_b ? "T" : "");
    expect_gpu_matches_cpu(matmul_fn, &v, in, 2, tol, label);
    scope_end();
}

static const Views plain = {false, false};

static void test_mm_shapes_and_transposes(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    for (int t = 0; t < 4; t++) {
        Views v = {t & 1, t >> 1};
        check_matmul(SHAPE(5, 7), SHAPE(7, 3), v, 1e-4);
        check_matmul(SHAPE(130, 257), SHAPE(257, 65), v, 1e-4);
    }
    check_matmul(SHAPE(1, 9), SHAPE(9, 1), plain, 1e-4);   /* one row, one column */
    check_matmul(SHAPE(1, 33), SHAPE(33, 17), plain, 1e-4);
    scope_begin();
    Tensor *in[2] = {rand_leaf(SHAPE(6, 4), &gen), rand_leaf(SHAPE(4, 8), &gen)};
    expect_gpu_matches_cpu(mm_fn, NULL, in, 2, 1e-4, "mm [6, 4] @ [4, 8]");
    scope_end();
}

static void test_bmm_and_broadcast_batches(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    scope_begin();
    Tensor *in[2] = {rand_leaf(SHAPE(4, 5, 6), &gen), rand_leaf(SHAPE(4, 6, 3), &gen)};
    expect_gpu_matches_cpu(bmm_fn, NULL, in, 2, 1e-4, "bmm [4, 5, 6] @ [4, 6, 3]");
    scope_end();
    /* one right operand for the batch: the batch folds into the rows */
    check_matmul(SHAPE(2, 3, 4, 5), SHAPE(5, 6), plain, 1e-4);
    check_matmul(SHAPE(2, 3, 4, 5), SHAPE(5, 6), (Views){false, true}, 1e-4);
    /* ... unless a is seen transposed (no fold: strided batches) */
    check_matmul(SHAPE(2, 3, 4, 5), SHAPE(5, 6), (Views){true, false}, 1e-4);
    /* the left operand broadcast over the batch */
    check_matmul(SHAPE(4, 5), SHAPE(2, 3, 5, 6), plain, 1e-4);
    /* both broadcast: [3, 1] x [2] batch dims, which collapse to no single stride */
    check_matmul(SHAPE(3, 1, 4, 5), SHAPE(2, 5, 6), plain, 1e-4);
    check_matmul(SHAPE(3, 1, 4, 5), SHAPE(2, 5, 6), (Views){true, true}, 1e-4);
    check_matmul(SHAPE(2, 1, 3, 4, 5), SHAPE(1, 4, 1, 5, 2), plain, 1e-4);
    check_matmul(SHAPE(6, 16, 32), SHAPE(6, 32, 16), (Views){true, false}, 1e-4);
}

static void test_vectors_and_empty_inner_dim(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    scope_begin();
    Tensor *in[2] = {rand_leaf(SHAPE(37), &gen), rand_leaf(SHAPE(37), &gen)};
    expect_gpu_matches_cpu(dot_fn, NULL, in, 2, 1e-4, "dot [37]");
    scope_end();
    check_matmul(SHAPE(5), SHAPE(5, 3), plain, 1e-4);
    check_matmul(SHAPE(2, 4, 5), SHAPE(5), plain, 1e-4);
    check_matmul(SHAPE(3, 0), SHAPE(0, 4), plain, 1e-4); /* an empty sum: zeros */
}

static void test_linear(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(false, false);
    scope_begin();
    Tensor *in[3] = {rand_leaf(SHAPE(8, 20), &gen), rand_leaf(SHAPE(10, 20), &gen), rand_leaf(SHAPE(10), &gen)};
    expect_gpu_matches_cpu(linear_fn, NULL, in, 3, 1e-4, "linear [8, 20] -> 10 +bias");
    Tensor *in3[3] = {rand_leaf(SHAPE(2, 3, 20), &gen), rand_leaf(SHAPE(7, 20), &gen), NULL};
    expect_gpu_matches_cpu(linear_fn, NULL, in3, 3, 1e-4, "linear [2, 3, 20] -> 7");
    Tensor *big[3] = {rand_leaf(SHAPE(64, 320), &gen), rand_leaf(SHAPE(50, 320), &gen), rand_leaf(SHAPE(50), &gen)};
    expect_gpu_matches_cpu(linear_fn, NULL, big, 3, 1e-4, "linear [64, 320] -> 50 +bias");
    scope_end();
}

/* TF32 rounds the operands to 10 mantissa bits: about 1e-3 relative. */
static void test_tf32_mode(void **state)
{
    REQUIRE_GPU();
    gpu_set_modes(true, false);
    check_matmul(SHAPE(128, 256), SHAPE(256, 64), plain, 1e-2);
    gpu_set_modes(false, false);
    check_matmul(SHAPE(128, 256), SHAPE(256, 64), plain, 1e-4);
}

int main(void)
{
    generator_seed(&gen, 2024);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mm_shapes_and_transposes),
        cmocka_unit_test(test_bmm_and_broadcast_batches),
        cmocka_unit_test(test_vectors_and_empty_inner_dim),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_tf32_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
