/* nn.Module machinery: names and order of parameters and state dicts,
 * loading (strict and not), train/eval, apply order, hooks, zero_grad,
 * parameter counts, reprs and the pytorch-template summary (compared with
 * what PyTorch prints for the same modules). */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/nn/nn.h"
#include "model/model.h"
#include "tests/support/check.h"
#include "tests/support/oracle.h"

static Generator gen;

/* ---- models ---- */

/* features = Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Dropout(0.5)),
 * then a parameter of the module itself, then head = Linear(8, 3). */
static Tensor *net_forward(Module *self, Tensor *x)
{
    Tensor *h = module_forward(module_get_child(self, "features"), x);
    h = module_forward(module_get_child(self, "head"), h);
    return t_mul(h, module_get_parameter(self, "scale"));
}

static Module *make_net(void)
{
    Module *m = module_new("Net");
    m->forward = net_forward;
    Module *features = NN_SEQUENTIAL(nn_linear(4, 8, true), nn_batch_norm1d(8), nn_relu(), nn_dropout(0.5));
    if (!module_register_module(m, "features", features) ||
        !module_register_parameter(m, "scale", tensor_full(SHAPE(3), 1.5, DT_F32, CPU)) ||
        !module_register_module(m, "head", nn_linear(8, 3, true))) {
        module_free(m);
        return NULL;
    }
    return m;
}

static const char *NET_PARAMS[] = {"scale",           "features.0.weight", "features.0.bias", "features.1.weight",
                                   "features.1.bias", "head.weight",       "head.bias"};
static const char *NET_STATE[] = {"scale",
                                  "features.0.weight",
                                  "features.0.bias",
                                  "features.1.weight",
                                  "features.1.bias",
                                  "features.1.running_mean",
                                  "features.1.running_var",
                                  "features.1.num_batches_tracked",
                                  "head.weight",
                                  "head.bias"};

/* ---- PyTorch's printed text ---- */

/* An oracle case giving str() of a Python expression (tests/ref/ops_nn.py's
 * namespace: nn, torch, Net, MnistModel) as UTF-8 bytes. */
static int add_text_case(Oracle *o, const char *expr)
{
    char args[4096];
    size_t n = (size_t)snprintf(args, sizeof args, "{\"expr\": \"");
    for (const char *p = expr; *p; p++) {
        assert_true(n < sizeof args - 8);
        if (*p == '"' || *p == '\\') args[n++] = '\\';
        args[n++] = *p;
    }
    snprintf(args + n, sizeof args - n, "\"}");
    return oracle_add(o, "text", args, 0, NULL, NULL);
}

/* Fails with both texts when ours differs from the text case's. */
static void expect_text(Oracle *o, int id, const char *ours, const char *label)
{
    Tensor *t = oracle_output(o, id, 0);
    assert_non_null(t);
    size_t n = (size_t)tensor_numel(t);
    char *torch_text = malloc(n + 1);
    memcpy(torch_text, tensor_u8(t), n);
    torch_text[n] = '\0';
    if (strcmp(ours, torch_text) != 0) {
        print_message("%s differs.\n--- ours ---\n%s\n--- torch ---\n%s\n", label, ours, torch_text);
        fail();
    }
    free(torch_text);
}

/* The names of a state dict joined by spaces (malloc'd). */
static char *joined_names(const StateDict *sd)
{
    size_t len = 1;
    for (int i = 0; i < sd->n; i++) len += strlen(sd->names[i]) + 1;
    char *s = calloc(len, 1);
    for (int i = 0; i < sd->n; i++) strcat(strcat(s, i ? " " : ""), sd->names[i]);
    return s;
}

/* ---- tests ---- */

static void expect_names(const StateDict *sd, const char *const *names, int n)
{
    assert_int_equal(sd->n, n);
    for (int i = 0; i < n; i++) assert_string_equal(sd->names[i], names[i]);
}

static void test_named_parameters_and_state_dict_order(void **state)
{
    scope_begin();
    Module *net = make_net();
    REQUIRE_OK(net);
    StateDict params, sd;
    assert_int_equal(module_named_parameters(net, &params), 0);
    assert_int_equal(module_state_dict(net, &sd), 0);
    expect_names(&params, NET_PARAMS, 7);
    expect_names(&sd, NET_STATE, 10);
    /* buffers and the flat parameter list follow the same order */
    StateDict buffers;
    assert_int_equal(module_named_buffers(net, &buffers), 0);
    assert_int_equal(buffers.n, 3);
    assert_string_equal(buffers.names[2], "features.1.num_batches_tracked");
    int n;
    Tensor **ps = module_parameters(net, &n);
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++) assert_ptr_equal(ps[i], params.tensors[i]);
    free(ps);
    char *param_names = joined_names(&params), *state_names = joined_names(&sd);
    state_dict_free(&buffers);
    state_dict_free(&params);
    state_dict_free(&sd);
    module_free(net);

    /* the same, as PyTorch lists them */
    Oracle *o = oracle_new("nn_names");
    int id_params = add_text_case(o, "' '.join(n for n, _ in Net().named_parameters())");
    int id_state = add_text_case(o, "' '.join(Net().state_dict())");
    ORACLE_RUN_OR_SKIP(o);
    expect_text(o, id_params, param_names, "named_parameters");
    expect_text(o, id_state, state_names, "state_dict keys");
    oracle_free(o);
    free(param_names);
    free(state_names);
    scope_end();
}

/* Runs net once in training mode so its running stats and counter move. */
static void train_step(Module *net)
{
    module_train(net, true);
    REQUIRE_OK(module_forward(net, tensor_randn(SHAPE(6, 4), &gen, CPU)));
}

static void test_state_dict_round_trip_through_safetensors(void **state)
{
    scope_begin();
    Module *a = make_net(), *b = make_net();
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    train_step(a);
    StateDict sd;
    assert_int_equal(module_state_dict(a, &sd), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/test_nn_%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    assert_int_equal(safetensors_save(path, sd.n, (const char *const *)sd.names, sd.tensors, 0, NULL, NULL), 0);
    Safetensors *st = safetensors_load(path);
    unlink(path);
    REQUIRE_OK(st);
    StateDict loaded = {.n = st->n_tensors, .cap = st->n_tensors, .names = st->names, .tensors = st->tensors};
    Tensor *b_weight = module_get_parameter(module_get_child(b, "head"), "weight");
    assert_int_equal(module_load_state_dict(b, &loaded, true), 0);
    /* values copied in place: the same tensors, a's values */
    assert_ptr_equal(module_get_parameter(module_get_child(b, "head"), "weight"), b_weight);
    StateDict sb;
    assert_int_equal(module_state_dict(b, &sb), 0);
    for (int i = 0; i < sd.n; i++) {
        if (sd.tensors[i]->dtype == DT_F32)
            expect_close(sb.tensors[i], sd.tensors[i], 0, sd.names[i]);
        else
            expect_equal(sb.tensors[i], sd.tensors[i], sd.names[i]);
    }
    assert_int_equal((int)tensor_item(state_dict_get(&sb, "features.1.num_batches_tracked")), 1);
    module_eval(a);
    module_eval(b);
    Tensor *x = tensor_randn(SHAPE(5, 4), &gen, CPU);
    expect_close(module_forward(b, x), module_forward(a, x), 0, "same outputs after loading");
    safetensors_free(st);
    state_dict_free(&sd);
    state_dict_free(&sb);
    module_free(a);
    module_free(b);
    scope_end();
}

/* A state dict of net's keys with one key dropped, one added and one reshaped. */
static void damaged_state_dict(Module *net, StateDict *out)
{
    StateDict sd;
    assert_int_equal(module_state_dict(net, &sd), 0);
    state_dict_init(out);
    for (int i = 0; i < sd.n; i++) {
        if (strcmp(sd.names[i], "head.bias") == 0) continue;
        Tensor *t = sd.tensors[i];
        if (strcmp(sd.names[i], "head.weight") == 0) t = tensor_zeros(SHAPE(3, 9), DT_F32, CPU);
        state_dict_add(out, sd.names[i], t);
    }
    state_dict_add(out, "head.extra", tensor_zeros(SHAPE(2), DT_F32, CPU));
    state_dict_free(&sd);
}

static void test_strict_load_errors(void **state)
{
    scope_begin();
    Module *net = make_net(), *other = make_net();
    REQUIRE_OK(net);
    REQUIRE_OK(other);
    StateDict bad;
    damaged_state_dict(other, &bad);
    Tensor *before = t_clone(module_get_parameter(net, "scale"));
    tensor_fill_(module_get_parameter(other, "scale"), 7.0);
    engine_clear_error();
    assert_int_equal(module_load_state_dict(net, &bad, true), -1);
    const char *msg = engine_last_error();
    print_message("  error: %s\n", msg);
    assert_non_null(strstr(msg, "Error(s) in loading state_dict for Net:"));
    assert_non_null(strstr(msg, "Missing key(s) in state_dict: \"head.bias\"."));
    assert_non_null(strstr(msg, "Unexpected key(s) in state_dict: \"head.extra\"."));
    assert_non_null(strstr(msg, "size mismatch for head.weight: copying a param with shape [3, 9] from checkpoint, "
                                "the shape in current model is [3, 8]."));
    engine_clear_error();
    /* nothing was copied */
    expect_close(module_get_parameter(net, "scale"), before, 0, "untouched after a failed load");

    /* non-strict still refuses the shape mismatch, but only names that */
    assert_int_equal(module_load_state_dict(net, &bad, false), -1);
    msg = engine_last_error();
    assert_non_null(strstr(msg, "size mismatch for head.weight"));
    assert_null(strstr(msg, "Missing"));
    assert_null(strstr(msg, "Unexpected"));
    engine_clear_error();
    state_dict_free(&bad);

    /* non-strict with only missing and unexpected keys loads what matches */
    StateDict partial;
    state_dict_init(&partial);
    state_dict_add(&partial, "scale", module_get_parameter(other, "scale"));
    state_dict_add(&partial, "not.in.model", tensor_zeros(SHAPE(1), DT_F32, CPU));
    assert_int_equal(module_load_state_dict(net, &partial, true), -1);
    engine_clear_error();
    assert_int_equal(module_load_state_dict(net, &partial, false), 0);
    expect_close(module_get_parameter(net, "scale"), tensor_full(SHAPE(3), 7.0, DT_F32, CPU), 0, "non-strict load");
    state_dict_free(&partial);

    /* a checkpoint without num_batches_tracked (older PyTorch) loads and resets it */
    train_step(net);
    StateDict sd, without;
    module_state_dict(other, &sd);
    state_dict_init(&without);
    for (int i = 0; i < sd.n; i++)
        if (!strstr(sd.names[i], "num_batches_tracked")) state_dict_add(&without, sd.names[i], sd.tensors[i]);
    assert_int_equal(module_load_state_dict(net, &without, true), 0);
    assert_int_equal((int)tensor_item(module_get_buffer(module_get_child(module_get_child(net, "features"), "1"),
                                                        "num_batches_tracked")),
                     0);
    state_dict_free(&sd);
    state_dict_free(&without);
    module_free(net);
    module_free(other);
    scope_end();
}

static void expect_training(Module *m, void *ctx)
{
    bool want = *(bool *)ctx;
    if (m->training != want) fail_msg("%s: training is %d, want %d", m->type_name, m->training, want);
}

static void test_train_eval_propagate_and_switch_dropout(void **state)
{
    scope_begin();
    Module *net = make_net();
    REQUIRE_OK(net);
    bool want = true;
    module_apply(net, expect_training, &want);
    module_eval(net);
    want = false;
    module_apply(net, expect_training, &want);
    module_train(net, true);
    want = true;
    module_apply(net, expect_training, &want);

    Module *dropout = module_get_child(module_get_child(net, "features"), "3");
    Tensor *ones = tensor_ones(SHAPE(1000), DT_F32, CPU);
    Tensor *y = module_forward(dropout, ones);
    REQUIRE_OK(y);
    float *v = tensor_f32(y);
    int zeros = 0;
    for (int i = 0; i < 1000; i++) {
        assert_true(v[i] == 0.0f || v[i] == 2.0f); /* survivors scaled by 1 / (1 - p) */
        zeros += v[i] == 0.0f;
    }
    print_message("  dropout(0.5) in training zeroed %d of 1000\n", zeros);
    assert_in_range(zeros, 400, 600);
    module_eval(net);
    expect_close(module_forward(dropout, ones), ones, 0, "dropout in eval is the identity");
    module_free(net);
    scope_end();
}

typedef struct {
    Module *seen[16];
    int n;
} Visits;

static void record_visit(Module *m, void *ctx)
{
    Visits *v = ctx;
    assert_true(v->n < 16);
    v->seen[v->n++] = m;
}

static void test_apply_is_post_order(void **state)
{
    scope_begin();
    Module *net = make_net();
    REQUIRE_OK(net);
    Visits v = {.n = 0};
    assert_ptr_equal(module_apply(net, record_visit, &v), net);
    Module *features = module_get_child(net, "features");
    Module *want[] = {module_child_at(features, 0),
                      module_child_at(features, 1),
                      module_child_at(features, 2),
                      module_child_at(features, 3),
                      features,
                      module_get_child(net, "head"),
                      net};
    assert_int_equal(v.n, 7);
    for (int i = 0; i < 7; i++) assert_ptr_equal(v.seen[i], want[i]);
    module_free(net);
    scope_end();
}

static Tensor *double_input(Module *m, Tensor *x, void *ctx)
{
    (*(int *)ctx)++;
    return t_mul_scalar(x, 2.0);
}
static Tensor *add_one(Module *m, Tensor *x, Tensor *y, void *ctx) { return t_add_scalar(y, 1.0); }
static Tensor *times_three(Module *m, Tensor *x, Tensor *y, void *ctx) { return t_mul_scalar(y, 3.0); }

typedef struct {
    Tensor *input, *output;
} Observed;

static Tensor *observe(Module *m, Tensor *x, Tensor *y, void *ctx)
{
    Observed *o = ctx;
    o->input = x;
    o->output = y;
    return NULL; /* keeps the output */
}

static void test_hooks_replace_input_and_output(void **state)
{
    scope_begin();
    Module *lin = nn_linear(3, 2, true);
    REQUIRE_OK(lin);
    Tensor *w = module_get_parameter(lin, "weight"), *b = module_get_parameter(lin, "bias");
    Tensor *x = tensor_randn(SHAPE(4, 3), &gen, CPU);
    int pre_calls = 0;
    Observed seen = {0};
    int h_pre = module_register_forward_pre_hook(lin, double_input, &pre_calls);
    int h_add = module_register_forward_hook(lin, add_one, NULL);
    int h_mul = module_register_forward_hook(lin, times_three, NULL);
    module_register_forward_hook(lin, observe, &seen);
    Tensor *y = module_forward(lin, x);
    REQUIRE_OK(y);
    assert_int_equal(pre_calls, 1);
    /* hooks run in registration order: (linear(2x) + 1) * 3 */
    Tensor *want = t_mul_scalar(t_add_scalar(f_linear(t_mul_scalar(x, 2.0), w, b), 1.0), 3.0);
    expect_close(y, want, 0, "pre-hook input, hooks' output");
    expect_close(seen.input, t_mul_scalar(x, 2.0), 0, "hooks see the replaced input");
    assert_ptr_equal(seen.output, y);
    assert_int_equal(module_remove_hook(lin, h_pre), 0);
    assert_int_equal(module_remove_hook(lin, h_add), 0);
    assert_int_equal(module_remove_hook(lin, h_mul), 0);
    assert_int_equal(module_remove_hook(lin, h_mul), -1);
    assert_non_null(strstr(engine_last_error(), "no forward hook"));
    engine_clear_error();
    expect_close(module_forward(lin, x), f_linear(x, w, b), 0, "after removing the hooks");
    assert_int_equal(pre_calls, 1);
    module_free(lin);
    scope_end();
}

static void test_zero_grad(void **state)
{
    scope_begin();
    Module *net = make_net();
    REQUIRE_OK(net);
    Tensor *y = module_forward(net, tensor_randn(SHAPE(5, 4), &gen, CPU));
    REQUIRE_OK(y);
    assert_int_equal(tensor_backward(t_sum(t_mul(y, y), NULL, 0, false), NULL), 0);
    int n;
    Tensor **ps = module_parameters(net, &n);
    Tensor *grads[16];
    for (int i = 0; i < n; i++) {
        assert_non_null(ps[i]->grad);
        grads[i] = ps[i]->grad;
    }
    assert_true(tensor_item(t_sum(t_abs(module_get_parameter(net, "scale")->grad), NULL, 0, false)) > 0);
    module_zero_grad(net, false);
    for (int i = 0; i < n; i++) {
        assert_ptr_equal(ps[i]->grad, grads[i]); /* zeroed in place */
        expect_close(ps[i]->grad, tensor_zeros_like(ps[i]), 0, "zeroed grad");
    }
    module_zero_grad(net, true);
    for (int i = 0; i < n; i++) assert_null(ps[i]->grad);
    free(ps);
    module_free(net);
    scope_end();
}

static void test_num_parameters_and_tied_weights(void **state)
{
    scope_begin();
    Module *net = make_net();
    REQUIRE_OK(net);
    /* scale 3, Linear(4, 8) 40, BatchNorm1d(8) 16, Linear(8, 3) 27 */
    assert_int_equal(module_num_parameters(net, false), 86);
    assert_int_equal(module_num_parameters(net, true), 86);
    tensor_set_requires_grad(module_get_parameter(module_get_child(net, "head"), "weight"), false);
    assert_int_equal(module_num_parameters(net, true), 62);
    assert_int_equal(module_num_parameters(net, false), 86);

    /* one tensor under two names: listed once as a parameter, twice in the state dict, freed once */
    Module *tied = NN_SEQUENTIAL(nn_linear(3, 3, true), nn_linear(3, 3, false));
    REQUIRE_OK(tied);
    Tensor *shared = module_get_parameter(module_child_at(tied, 0), "weight");
    assert_non_null(module_register_parameter(module_child_at(tied, 1), "tied", shared));
    assert_int_equal(module_num_parameters(tied, false), 9 + 3 + 9);
    StateDict params, sd;
    module_named_parameters(tied, &params);
    module_state_dict(tied, &sd);
    assert_int_equal(params.n, 3);
    assert_int_equal(sd.n, 4);
    assert_string_equal(sd.names[3], "1.tied");
    assert_ptr_equal(sd.tensors[3], shared);
    state_dict_free(&params);
    state_dict_free(&sd);
    module_free(tied);
    module_free(net);
    scope_end();
}

static void test_module_errors(void **state)
{
    scope_begin();
    engine_clear_error();
    Module *lin = nn_linear(2, 2, true);
    REQUIRE_OK(lin);
    assert_null(module_register_parameter(lin, "weight", tensor_zeros(SHAPE(2), DT_F32, CPU)));
    assert_non_null(strstr(engine_last_error(), "attribute 'weight' already exists"));
    engine_clear_error();
    assert_null(module_register_buffer(lin, "a.b", tensor_zeros(SHAPE(2), DT_F32, CPU)));
    assert_non_null(strstr(engine_last_error(), "can't contain \".\""));
    engine_clear_error();
    assert_null(module_register_module(lin, "", nn_relu()));
    assert_non_null(strstr(engine_last_error(), "can't be empty"));
    engine_clear_error();
    assert_null(module_register_parameter(lin, "idx", tensor_zeros(SHAPE(2), DT_I64, CPU)));
    assert_non_null(strstr(engine_last_error(), "int64"));
    engine_clear_error();
    /* a persistent tensor handed over is freed on failure (ASan checks the leak) */
    assert_null(module_register_parameter(lin, "bias", tensor_persist(tensor_zeros(SHAPE(2), DT_F32, CPU))));
    engine_clear_error();

    Module *list = nn_module_list(2, (Module *[]){nn_relu(), nn_tanh()});
    REQUIRE_OK(list);
    assert_null(module_forward(list, tensor_zeros(SHAPE(2), DT_F32, CPU)));
    assert_string_equal(engine_last_error(), "Module [ModuleList] is missing the required \"forward\" function");
    engine_clear_error();

    /* a failed constructor inside a container: NULL, the first message kept, nothing leaked */
    assert_null(NN_SEQUENTIAL(nn_linear(2, 2, true), nn_dropout(1.5), nn_relu()));
    assert_non_null(strstr(engine_last_error(), "dropout probability has to be between 0 and 1, but got 1.5"));
    engine_clear_error();

    Module *bn = nn_batch_norm2d(3);
    REQUIRE_OK(bn);
    assert_null(module_forward(bn, tensor_zeros(SHAPE(4, 3), DT_F32, CPU)));
    assert_non_null(strstr(engine_last_error(), "expected 4D input (got 2D input"));
    engine_clear_error();
    /* a NULL input propagates without a message */
    assert_null(module_forward(bn, NULL));
    assert_false(engine_has_error());

    /* moving to the device this module is on is a no-op; CUDA needs a CUDA build */
    Tensor *w = module_get_parameter(lin, "weight");
    Tensor *w_before = t_clone(w);
    assert_int_equal(module_to(lin, CPU), 0);
#ifndef ENGINE_HAVE_CUDA
    assert_int_equal(module_to(lin, CUDA(0)), -1);
    print_message("  error: %s\n", engine_last_error());
    assert_non_null(strstr(engine_last_error(), "CUDA"));
    engine_clear_error();
    assert_false(tensor_is_cuda(w));
#endif
    expect_close(w, w_before, 0, "weight after module_to");
    module_free(bn);
    module_free(list);
    module_free(lin);
    scope_end();
}

/* ---- errors inside a forward name the module ---- */

static Tensor *blocks_forward(Module *self, Tensor *x) { return module_forward(module_get_child(self, "blocks"), x); }
static Tensor *bad_view_forward(Module *self, Tensor *x) { return t_view(x, SHAPE(7, -1)); }

/* Counts the occurrences of piece in s. */
static int count_of(const char *s, const char *piece)
{
    int n = 0;
    for (const char *p = strstr(s, piece); p; p = strstr(p + 1, piece)) n++;
    return n;
}

/* An op failing inside a nested child gets the child's full dotted path in
 * front, once (not one prefix per level); only a forward that failed adds
 * it; an error in the outermost module's own forward has none. */
static void test_errors_name_the_module_path(void **state)
{
    scope_begin();
    engine_clear_error();
    Module *net = module_new("Net");
    net->forward = blocks_forward;
    Module *conv_seq = NN_SEQUENTIAL(nn_conv2d(3, 4, 3, 3, conv_params_default(), true));
    REQUIRE_OK(module_register_module(net, "blocks", NN_SEQUENTIAL(nn_relu(), conv_seq)));
    Tensor *flat = tensor_zeros(SHAPE(2, 3), DT_F32, CPU);
    for (int round = 0; round < 2; round++) { /* the same failure reads the same the second time */
        assert_null(module_forward(net, flat));
        const char *msg = engine_last_error();
        print_message("  error: %s\n", msg);
        assert_true(strncmp(msg, "blocks.1.0: conv2d: expected 4-D input", 38) == 0);
        assert_int_equal(count_of(msg, "blocks"), 1);
        assert_int_equal(count_of(msg, "conv2d"), 1);
        engine_clear_error();
    }
    /* a child called on its own is the outermost module: no path */
    assert_null(module_forward(conv_seq, flat));
    assert_true(strncmp(engine_last_error(), "0: conv2d: expected 4-D input", 29) == 0);
    engine_clear_error();
    /* an error recorded before a forward is left alone, whether it succeeds or fails */
    engine_error("an earlier error");
    REQUIRE_OK(module_forward(net, tensor_zeros(SHAPE(1, 3, 5, 5), DT_F32, CPU)));
    assert_null(module_forward(net, flat));
    assert_string_equal(engine_last_error(), "an earlier error");
    engine_clear_error();
    /* an op of the outermost module's own forward */
    Module *root = module_new("Root");
    root->forward = bad_view_forward;
    assert_null(module_forward(root, flat));
    assert_true(strncmp(engine_last_error(), "view: shape '[7, -1]' is invalid", 32) == 0);
    engine_clear_error();
    module_free(root);
    module_free(net);
    scope_end();
}

/* A model whose repr nests three levels, with and without extra_repr. */
/* Every layer's repr (and a three-level nesting) against PyTorch's. */
static void test_reprs_match_pytorch(void **state)
{
    scope_begin();
    ConvParams c2 = conv_params_default();
    c2.stride[0] = c2.stride[1] = 2;
    c2.padding[0] = c2.padding[1] = 1;
    c2.dilation[0] = c2.dilation[1] = 2;
    ConvParams ct = conv_params_default();
    ct.stride[0] = ct.stride[1] = 2;
    ct.output_padding[0] = ct.output_padding[1] = 1;
    ct.groups = 2;
    PoolParams mp = {.kernel = {2, 3}, .stride = {1, 1}, .padding = {1, 1}, .ceil_mode = true};
    PoolParams ap = pool_params(3, 2, 1);
    ap.ceil_mode = true;
    ap.count_include_pad = false;
    struct {
        Module *m;
        const char *torch;
    } cases[] = {
        {nn_linear(3, 4, true), "nn.Linear(3, 4)"},
        {nn_linear(3, 4, false), "nn.Linear(3, 4, bias=False)"},
        {nn_conv2d(1, 10, 5, 5, conv_params_default(), true), "nn.Conv2d(1, 10, 5)"},
        {nn_conv2d(3, 8, 3, 5, c2, false), "nn.Conv2d(3, 8, (3, 5), stride=2, padding=1, dilation=2, bias=False)"},
        {nn_conv_transpose2d(4, 2, 3, 3, ct, true),
         "nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, groups=2)"},
        {nn_max_pool2d(pool_params(2, 0, 0)), "nn.MaxPool2d(2)"},
        {nn_max_pool2d(mp), "nn.MaxPool2d((2, 3), stride=1, padding=1, ceil_mode=True)"},
        {nn_avg_pool2d(pool_params(2, 0, 0)), "nn.AvgPool2d(2)"},
        {nn_avg_pool2d(ap), "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)"},
        {nn_adaptive_avg_pool2d(1, 1), "nn.AdaptiveAvgPool2d(1)"},
        {nn_adaptive_avg_pool2d(2, 3), "nn.AdaptiveAvgPool2d((2, 3))"},
        {nn_batch_norm1d(5), "nn.BatchNorm1d(5)"},
        {nn_batch_norm2d_ex(3, 1e-3, NAN, false, false),
         "nn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False, track_running_stats=False)"},
        {nn_batch_norm2d_ex(3, 1e-5, 0.01, true, true), "nn.BatchNorm2d(3, momentum=0.01)"},
        {nn_layer_norm(SHAPE(10), 1e-5, true), "nn.LayerNorm(10)"},
        {nn_layer_norm(SHAPE(3, 4), 1e-6, false), "nn.LayerNorm([3, 4], eps=1e-6, elementwise_affine=False)"},
        {nn_dropout(0.5), "nn.Dropout()"},
        {nn_dropout2d(0.25), "nn.Dropout2d(0.25)"},
        {nn_embedding(10, 3, -1), "nn.Embedding(10, 3)"},
        {nn_embedding(10, 3, 9), "nn.Embedding(10, 3, padding_idx=9)"},
        {nn_relu(), "nn.ReLU()"},
        {nn_leaky_relu(0.01), "nn.LeakyReLU()"},
        {nn_leaky_relu(0.2), "nn.LeakyReLU(0.2)"},
        /* Python's float repr: fixed or exponent, shortest round-trip digits */
        {nn_leaky_relu(1.0), "nn.LeakyReLU(1.0)"},
        {nn_leaky_relu(123456.5), "nn.LeakyReLU(123456.5)"},
        {nn_leaky_relu(1e16), "nn.LeakyReLU(1e16)"},
        {nn_leaky_relu(-2.5e-7), "nn.LeakyReLU(-2.5e-7)"},
        {nn_leaky_relu(1.0 / 3), "nn.LeakyReLU(1 / 3)"},
        {nn_gelu(false), "nn.GELU()"},
        {nn_gelu(true), "nn.GELU('tanh')"},
        {nn_sigmoid(), "nn.Sigmoid()"},
        {nn_tanh(), "nn.Tanh()"},
        {nn_flatten(1, -1), "nn.Flatten()"},
        {nn_identity(), "nn.Identity()"},
        {NN_SEQUENTIAL(nn_linear(2, 3, true), nn_relu()), "nn.Sequential(nn.Linear(2, 3), nn.ReLU())"},
        {nn_module_list(3, (Module *[]){nn_linear(2, 3, true), nn_linear(2, 3, true), nn_relu()}),
         "nn.ModuleList([nn.Linear(2, 3), nn.Linear(2, 3), nn.ReLU()])"},
        {nn_module_list(0, NULL), "nn.ModuleList()"},
        {nn_sequential(0, NULL), "nn.Sequential()"},
        {make_net(), "Net()"},
        {NN_SEQUENTIAL(make_net(), nn_sequential(0, NULL)), "nn.Sequential(Net(), nn.Sequential())"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    char *ours[64];
    assert_true(n <= 64);
    Oracle *o = oracle_new("nn_repr");
    for (int i = 0; i < n; i++) {
        REQUIRE_OK(cases[i].m);
        ours[i] = module_repr(cases[i].m);
        module_free(cases[i].m);
        add_text_case(o, cases[i].torch);
    }
    ORACLE_RUN_OR_SKIP(o);
    for (int i = 0; i < n; i++) {
        expect_text(o, i, ours[i], cases[i].torch);
        free(ours[i]);
    }
    print_message("  %d reprs identical to PyTorch's\n", n);
    oracle_free(o);
    scope_end();
}

static void test_mnist_model_summary(void **state)
{
    scope_begin();
    Module *model = mnist_model(10, 0.5);
    REQUIRE_OK(model);
    assert_int_equal(module_num_parameters(model, true), 21840);
    char *ours = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&ours, &len);
    module_summary(model, f);
    fclose(f);
    module_free(model);
    print_message("%s", ours);
    assert_true(len > 0 && ours[len - 1] == '\n');
    ours[len - 1] = '\0'; /* print() adds the newline on the Python side */
    Oracle *o = oracle_new("nn_summary");
    int id = add_text_case(o, "MnistModel()"); /* str(): BaseModel.__str__ */
    ORACLE_RUN_OR_SKIP(o);
    expect_text(o, id, ours, "MnistModel summary");
    oracle_free(o);
    free(ours);
    scope_end();
}

int main(void)
{
    generator_seed(&gen, 7);
    manual_seed(7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_parameters_and_state_dict_order),
        cmocka_unit_test(test_state_dict_round_trip_through_safetensors),
        cmocka_unit_test(test_strict_load_errors),
        cmocka_unit_test(test_train_eval_propagate_and_switch_dropout),
        cmocka_unit_test(test_apply_is_post_order),
        cmocka_unit_test(test_hooks_replace_input_and_output),
        cmocka_unit_test(test_zero_grad),
        cmocka_unit_test(test_num_parameters_and_tied_weights),
        cmocka_unit_test(test_module_errors),
        cmocka_unit_test(test_errors_name_the_module_path),
        cmocka_unit_test(test_reprs_match_pytorch),
        cmocka_unit_test(test_mnist_model_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
