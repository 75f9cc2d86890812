/* trainer.batch_split (trainer/batch_split.h): a batch cut into shards that
 * run on the threads must give the gradients of the whole batch (within
 * float rounding), bit-identical results for 1 and 2 threads at a fixed
 * shard count (dropout included), each shard its own dropout stream, the
 * gradients of earlier batches kept (accumulation), frozen parameters left
 * alone, a loss whose mean spans the shards (ignore_index) exact, and one
 * line for each setting it refuses. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "model/model.h"
#include "tests/support/check.h"
#include "trainer/batch_split.h"

enum { BATCH = 40 };

static Config *config_with(const char *split)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"arch\": {\"type\": \"MnistModel\", \"args\": {}}, \"trainer\": {\"batch_split\": %s}}", split);
    Config *cfg = config_parse(json, "split.json");
    assert_non_null(cfg);
    return cfg;
}

/* nll_loss (mean) of the joined output against the target in ctx, with
 * target -100 ignored: its mean spans the shards unevenly. */
static Tensor *nll(void *ctx, Tensor *output) { return f_nll_loss(output, ctx, NULL, -100, REDUCTION_MEAN); }

typedef struct {
    Tensor *x, *y;
} Data;

static Data make_data(uint64_t seed, bool with_ignored)
{
    Generator g;
    generator_seed(&g, seed);
    Data d = {tensor_persist(tensor_randn(SHAPE(BATCH, 1, 28, 28), &g, CPU)),
              tensor_persist(tensor_randint(0, 10, SHAPE(BATCH), &g, CPU))};
    if (with_ignored) /* 7 of the first 13 samples ignored: the shards' counts differ */
        for (int i = 0; i < 13; i += 2) tensor_i64(d.y)[i] = -100;
    return d;
}

static void free_data(Data d)
{
    tensor_free(d.x);
    tensor_free(d.y);
}

/* One step of model on the data with `split` as trainer.batch_split; the
 * gradients are left in the model's parameters. */
static void run_step(Module *model, const char *split, Data d)
{
    Config *cfg = config_with(split);
    BatchSplit bs;
    assert_int_equal(batch_split_init(&bs, cfg, model, model_from_config, CPU, BATCH), 0);
    scope_begin();
    TensorBatch b = {0};
    assert_int_equal(tensor_batch_add(&b, "input", d.x), 0);
    assert_int_equal(tensor_batch_add(&b, "target", d.y), 0);
    Tensor *out;
    if (batch_split_step(&bs, &b, false, DT_F32, nll, d.y, &out)) fail_engine("batch_split_step");
    assert_true(shape_equal(out->shape, SHAPE(BATCH, 10)));
    scope_end();
    batch_split_free(&bs);
    config_free(cfg);
}

/* The model's gradients, copied (persistent), in parameter order. */
static Tensor **take_grads(Module *model, int *n)
{
    Tensor **ps = module_parameters(model, n);
    Tensor **gs = calloc((size_t)*n, sizeof *gs);
    for (int i = 0; i < *n; i++) {
        gs[i] = ps[i]->grad ? tensor_persist(t_clone(ps[i]->grad)) : NULL;
        if (ps[i]->grad) tensor_free(ps[i]->grad);
        ps[i]->grad = NULL;
    }
    free(ps);
    return gs;
}

static void free_grads(Tensor **gs, int n)
{
    for (int i = 0; i < n; i++) tensor_free(gs[i]);
    free(gs);
}

static Module *fresh_model(void)
{
    manual_seed(3);
    Module *m = mnist_model(10, 0.5);
    REQUIRE_OK(m);
    return m;
}

/* Dropout off: 1 (whole), 2 and 3 shards give the same gradients. */
static void test_shards_give_the_whole_batch_gradients(void **state)
{
    Data d = make_data(11, true);
    Module *model = fresh_model();
    module_train(model, false);
    int n;
    run_step(model, "1", d);
    Tensor **whole = take_grads(model, &n);
    const char *splits[] = {"2", "3", "\"auto\""};
    for (int k = 0; k < 3; k++) {
        run_step(model, splits[k], d);
        Tensor **split = take_grads(model, &n);
        for (int i = 0; i < n; i++) {
            char label[64];
            snprintf(label, sizeof label, "batch_split %s, parameter %d", splits[k], i);
            expect_close(split[i], whole[i], 1e-5, label);
        }
        free_grads(split, n);
    }
    free_grads(whole, n);
    module_free(model);
    free_data(d);
}

/* Dropout on, 3 shards: 1 and 2 threads give the same bits, and the run's
 * random stream ends where it did. */
static void test_threads_do_not_change_the_bits(void **state)
{
    Data d = make_data(12, false);
    int max_threads = omp_get_max_threads(), n = 0;
    Tensor **grads[2];
    uint64_t rng[2][2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        Module *model = fresh_model();
        manual_seed(5);
        run_step(model, "3", d);
        assert_int_equal(omp_get_max_threads(), r + 1); /* the pieces' one thread stayed inside them */
        generator_get_state(generator_default(), rng[r]);
        grads[r] = take_grads(model, &n);
        module_free(model);
    }
    omp_set_num_threads(max_threads);
    for (int i = 0; i < n; i++) expect_close(grads[1][i], grads[0][i], 0.0, "1 vs 2 threads");
    assert_true(rng[0][1] == rng[1][1] && rng[0][1] > 0);
    free_grads(grads[0], n);
    free_grads(grads[1], n);
    free_data(d);
}

/* Each shard draws its own dropout masks: with dropout on, 2 shards of the
 * same samples twice over (rows 0-19 = rows 20-39) see different masks. */
static void test_shards_draw_their_own_masks(void **state)
{
    Data d = make_data(13, false);
    for (int i = 0; i < BATCH / 2; i++)
        for (int j = 0; j < 28 * 28; j++) tensor_f32(d.x)[(i + BATCH / 2) * 28 * 28 + j] = tensor_f32(d.x)[i * 28 * 28 + j];
    Module *model = fresh_model();
    Config *cfg = config_with("2");
    BatchSplit bs;
    assert_int_equal(batch_split_init(&bs, cfg, model, model_from_config, CPU, BATCH), 0);
    scope_begin();
    TensorBatch b = {0};
    tensor_batch_add(&b, "input", d.x);
    tensor_batch_add(&b, "target", d.y);
    Tensor *out;
    bool mode = no_grad_begin();
    if (batch_split_step(&bs, &b, false, DT_F32, NULL, NULL, &out)) fail_engine("batch_split_step");
    grad_mode_restore(mode);
    double differs = 0;
    for (int i = 0; i < BATCH / 2 * 10; i++) differs += fabsf(tensor_f32(out)[i] - tensor_f32(out)[i + BATCH / 2 * 10]);
    assert_true(differs > 1e-3);
    scope_end();
    batch_split_free(&bs);
    config_free(cfg);
    module_free(model);
    free_data(d);
}

/* Gradients already there are added to (accumulation); frozen parameters
 * get none. */
static void test_accumulates_and_leaves_frozen_parameters(void **state)
{
    Data d = make_data(14, false);
    Module *model = fresh_model();
    module_train(model, false);
    int n;
    Tensor **ps = module_parameters(model, &n);
    ps[0]->requires_grad = false; /* conv1.weight frozen */
    run_step(model, "1", d);
    Tensor **once = take_grads(model, &n);
    run_step(model, "2", d);
    run_step(model, "2", d);
    Tensor **twice = take_grads(model, &n);
    assert_null(twice[0]);
    for (int i = 1; i < n; i++) {
        Tensor *doubled = tensor_persist(t_mul_scalar(once[i], 2.0));
        expect_close(twice[i], doubled, 1e-5, "two accumulated split steps");
        tensor_free(doubled);
    }
    free(ps);
    free_grads(once, n);
    free_grads(twice, n);
    module_free(model);
    free_data(d);
}

/* A model whose output is not batch-major (here a sum over the batch)
 * cannot be joined: one error naming the shape and the key. */
static Tensor *sum_forward(Module *self, Tensor *x) { return t_sum(x, NULL, 0, false); }
static Module *summing_model(const Config *cfg) { return module_new("Summing"); }

static void test_output_must_be_batch_major(void **state)
{
    Module *model = summing_model(NULL);
    model->forward = sum_forward;
    Config *cfg = config_with("2");
    BatchSplit bs;
    assert_int_equal(batch_split_init(&bs, cfg, model, summing_model, CPU, BATCH), 0);
    for (int s = 1; s < bs.shards; s++) bs.replicas[s]->forward = sum_forward;
    Data d = make_data(15, false);
    scope_begin();
    TensorBatch b = {0};
    tensor_batch_add(&b, "input", d.x);
    tensor_batch_add(&b, "target", d.y);
    Tensor *out;
    expect_failure(batch_split_step(&bs, &b, false, DT_F32, nll, d.y, &out) != 0, "output has shape []",
                   "trainer.batch_split to 1");
    scope_end();
    batch_split_free(&bs);
    config_free(cfg);
    module_free(model);
    free_data(d);
}

static void test_refused_settings(void **state)
{
    Module *model = fresh_model();
    BatchSplit bs;
    const char *bad[] = {"0", "\"two\"", "1.5", "true", "1e300", "-1e300"};
    for (int i = 0; i < 6; i++) {
        Config *cfg = config_with(bad[i]);
        expect_failure(batch_split_init(&bs, cfg, model, model_from_config, CPU, BATCH) != 0,
                       "trainer.batch_split", "\"auto\"");
        config_free(cfg);
    }
    Config *cfg = config_with("41");
    expect_failure(batch_split_init(&bs, cfg, model, model_from_config, CPU, BATCH) != 0,
                   "trainer.batch_split", "one shard per sample");
    config_free(cfg);
    module_free(model);

    /* BatchNorm couples the samples: refused when asked for, off under "auto" */
    Config *bn = config_parse("{\"arch\": {\"type\": \"ResNet18\"}, \"trainer\": {\"batch_split\": 2}}", "bn.json");
    Module *resnet = model_from_config(bn);
    REQUIRE_OK(resnet);
    expect_failure(batch_split_init(&bs, bn, resnet, model_from_config, CPU, 64) != 0, "BatchNorm2d",
                   "trainer.batch_split");
    config_free(bn);
    bn = config_parse("{\"arch\": {\"type\": \"ResNet18\"}}", "bn.json");
    assert_int_equal(batch_split_init(&bs, bn, resnet, model_from_config, CPU, 64), 0);
    assert_int_equal(bs.shards, 1);
    batch_split_free(&bs);
    config_free(bn);
    module_free(resnet);
}

/* "auto" splits convolutional models only: an MLP's products run faster as
 * one sgemm over the whole batch; a number still splits it. */
static void test_auto_keeps_matrix_products_whole(void **state)
{
    int max_threads = omp_get_max_threads();
    omp_set_num_threads(2);
    const char *models[] = {"MLP", "MnistModel"};
    const int auto_shards[] = {1, 2};
    for (int i = 0; i < 2; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"arch\": {\"type\": \"%s\"}}", models[i]);
        Config *cfg = config_parse(json, "auto.json");
        Module *model = model_from_config(cfg);
        REQUIRE_OK(model);
        BatchSplit bs;
        assert_int_equal(batch_split_init(&bs, cfg, model, model_from_config, CPU, 64), 0);
        assert_int_equal(bs.shards, auto_shards[i]);
        batch_split_free(&bs);
        config_free(cfg);
        snprintf(json, sizeof json, "{\"arch\": {\"type\": \"%s\"}, \"trainer\": {\"batch_split\": 2}}",
                 models[i]);
        cfg = config_parse(json, "two.json");
        assert_int_equal(batch_split_init(&bs, cfg, model, model_from_config, CPU, 64), 0);
        assert_int_equal(bs.shards, 2);
        batch_split_free(&bs);
        config_free(cfg);
        module_free(model);
    }
    omp_set_num_threads(max_threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shards_give_the_whole_batch_gradients),
        cmocka_unit_test(test_auto_keeps_matrix_products_whole),
        cmocka_unit_test(test_threads_do_not_change_the_bits),
        cmocka_unit_test(test_shards_draw_their_own_masks),
        cmocka_unit_test(test_accumulates_and_leaves_frozen_parameters),
        cmocka_unit_test(test_output_must_be_batch_major),
        cmocka_unit_test(test_refused_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
