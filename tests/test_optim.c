/* Optimizers against PyTorch: every algorithm and option combination over
 * 20 steps (two parameter groups with different lrs, a non-contiguous
 * parameter, steps where a parameter has no gradient), state-dict round
 * trips through a safetensors file (bit exact), gradient clipping, frozen
 * parameters (no backward work, no update) and unfreezing them into a new
 * group, and the error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine/nn/nn.h"
#include "engine/optim/optim.h"
#include "tests/support/check.h"
#include "tests/support/torch_script.h"

#define N_PARAMS 3
#define N_STEPS 20

static Shape param_shape(int i)
{
    switch (i) {
    case 0: return SHAPE(4, 5);
    case 1: return SHAPE(5);
    default: return SHAPE(3, 11, 1019); /* above the parallel grain, not a multiple of a vector or block */
    }
}

/* The same initial parameters and per-step gradients for every case; the
 * gradient scale changes from step to step so that AMSGrad's running
 * maximum matters, and parameter 1 has no gradient at some steps. */
typedef struct {
    Tensor *init[N_PARAMS];
    Tensor *grads[N_STEPS][N_PARAMS]; /* NULL: no gradient at that step */
} Data;

static void make_data(Data *d, uint64_t seed)
{
    Generator gen;
    generator_seed(&gen, seed);
    for (int i = 0; i < N_PARAMS; i++) d->init[i] = tensor_randn(param_shape(i), &gen, CPU);
    for (int s = 0; s < N_STEPS; s++) {
        double scale = s % 4 == 0 ? 3.0 : 0.5;
        for (int i = 0; i < N_PARAMS; i++) {
            bool skip = i == 1 && s % 7 == 3;
            d->grads[s][i] = skip ? NULL : t_mul_scalar(tensor_randn(param_shape(i), &gen, CPU), scale);
        }
    }
}

/* Persistent copies of the initial parameters; parameter 0 is a transposed
 * view (non-contiguous), so the optimizers' strided path runs too. */
static void make_params(const Data *d, Tensor **p)
{
    Tensor *base = tensor_persist(t_contiguous(t_transpose(d->init[0], 0, 1)));
    p[0] = tensor_persist(t_transpose(base, 0, 1));
    tensor_free(base); /* the view keeps the storage */
    assert_false(tensor_is_contiguous(p[0]));
    for (int i = 1; i < N_PARAMS; i++) p[i] = tensor_persist(t_clone(d->init[i]));
}

static void free_params(Tensor **p, int n)
{
    for (int i = 0; i < n; i++) tensor_free(p[i]);
}

/* Gives the parameters step s's gradients (zero_grad frees the old ones). */
static void set_grads(Optimizer *opt, Tensor **p, const Data *d, int s)
{
    optimizer_zero_grad(opt, true);
    for (int i = 0; i < N_PARAMS; i++) {
        assert_null(p[i]->grad);
        if (d->grads[s][i]) p[i]->grad = tensor_persist(t_clone(d->grads[s][i]));
    }
}

/* ---- building optimizers from the same JSON options torch gets ---- */

static double opt_num(const cJSON *o, const char *key, double fallback)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return fallback;
    return cJSON_IsBool(it) ? (double)cJSON_IsTrue(it) : it->valuedouble;
}

static Optimizer *optimizer_from_json(const char *algo, const char *options, Tensor **params, int n)
{
    cJSON *o = cJSON_Parse(options);
    assert_non_null(o);
    Optimizer *opt = NULL;
    if (strcmp(algo, "SGD") == 0) {
        SGDOptions s = sgd_defaults();
        s.lr = opt_num(o, "lr", s.lr);
        s.momentum = opt_num(o, "momentum", s.momentum);
        s.dampening = opt_num(o, "dampening", s.dampening);
        s.weight_decay = opt_num(o, "weight_decay", s.weight_decay);
        s.nesterov = opt_num(o, "nesterov", s.nesterov) != 0;
        s.maximize = opt_num(o, "maximize", s.maximize) != 0;
        opt = optim_sgd(params, n, s);
    } else if (strcmp(algo, "Adam") == 0 || strcmp(algo, "AdamW") == 0) {
        bool w = strcmp(algo, "AdamW") == 0;
        AdamOptions a = w ? adamw_defaults() : adam_defaults();
        a.lr = opt_num(o, "lr", a.lr);
        const cJSON *betas = cJSON_GetObjectItemCaseSensitive(o, "betas");
        if (betas) {
            a.betas[0] = cJSON_GetArrayItem(betas, 0)->valuedouble;
            a.betas[1] = cJSON_GetArrayItem(betas, 1)->valuedouble;
        }
        a.eps = opt_num(o, "eps", a.eps);
        a.weight_decay = opt_num(o, "weight_decay", a.weight_decay);
        a.amsgrad = opt_num(o, "amsgrad", a.amsgrad) != 0;
        a.maximize = opt_num(o, "maximize", a.maximize) != 0;
        opt = w ? optim_adamw(params, n, a) : optim_adam(params, n, a);
    } else if (strcmp(algo, "RMSprop") == 0) {
        RMSpropOptions r = rmsprop_defaults();
        r.lr = opt_num(o, "lr", r.lr);
        r.alpha = opt_num(o, "alpha", r.alpha);
        r.eps = opt_num(o, "eps", r.eps);
        r.weight_decay = opt_num(o, "weight_decay", r.weight_decay);
        r.momentum = opt_num(o, "momentum", r.momentum);
        r.centered = opt_num(o, "centered", r.centered) != 0;
        r.maximize = opt_num(o, "maximize", r.maximize) != 0;
        opt = optim_rmsprop(params, n, r);
    } else if (strcmp(algo, "Adagrad") == 0) {
        AdagradOptions a = adagrad_defaults();
        a.lr = opt_num(o, "lr", a.lr);
        a.lr_decay = opt_num(o, "lr_decay", a.lr_decay);
        a.weight_decay = opt_num(o, "weight_decay", a.weight_decay);
        a.initial_accumulator_value = opt_num(o, "initial_accumulator_value", a.initial_accumulator_value);
        a.eps = opt_num(o, "eps", a.eps);
        a.maximize = opt_num(o, "maximize", a.maximize) != 0;
        opt = optim_adagrad(params, n, a);
    } else if (strcmp(algo, "Adadelta") == 0) {
        AdadeltaOptions a = adadelta_defaults();
        a.lr = opt_num(o, "lr", a.lr);
        a.rho = opt_num(o, "rho", a.rho);
        a.eps = opt_num(o, "eps", a.eps);
        a.weight_decay = opt_num(o, "weight_decay", a.weight_decay);
        a.maximize = opt_num(o, "maximize", a.maximize) != 0;
        opt = optim_adadelta(params, n, a);
    } else {
        fail_msg("unknown algorithm %s", algo);
    }
    cJSON_Delete(o);
    return opt;
}

typedef struct {
    const char *algo;
    const char *options; /* the keyword arguments torch gets, as JSON */
    double group1_lr;    /* lr of the second group (parameter 2) */
} OptimCase;

/* Groups {0, 1} with the options and {2} with group1_lr. */
static Optimizer *make_optimizer(const OptimCase *c, Tensor **p)
{
    Optimizer *opt = optimizer_from_json(c->algo, c->options, p, 2);
    REQUIRE_OK(opt);
    assert_int_equal(optimizer_add_param_group(opt, &p[2], 1), 1);
    assert_int_equal(optimizer_set(opt, 1, "lr", c->group1_lr), 0);
    return opt;
}

static const OptimCase optim_cases[] = {
    {"SGD", "{\"lr\": 0.1}", 0.05},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9}", 0.05},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9, \"dampening\": 0.5}", 0.05},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9, \"nesterov\": true}", 0.05},
    {"SGD", "{\"lr\": 0.1, \"weight_decay\": 0.01}", 0.05},
    {"SGD", "{\"lr\": 0.1, \"momentum\": 0.8, \"weight_decay\": 0.01, \"nesterov\": true, \"maximize\": true}", 0.05},
    {"Adam", "{\"lr\": 0.01}", 0.002},
    {"Adam", "{\"lr\": 0.01, \"weight_decay\": 0.1}", 0.002},
    {"Adam", "{\"lr\": 0.01, \"amsgrad\": true}", 0.002},
    {"Adam", "{\"lr\": 0.01, \"betas\": [0.8, 0.99], \"eps\": 1e-6, \"weight_decay\": 0.1, \"amsgrad\": true, "
             "\"maximize\": true}",
     0.002},
    {"AdamW", "{\"lr\": 0.01}", 0.002},
    {"AdamW", "{\"lr\": 0.01, \"weight_decay\": 0.1, \"amsgrad\": true}", 0.002},
    {"RMSprop", "{\"lr\": 0.01}", 0.002},
    {"RMSprop", "{\"lr\": 0.01, \"centered\": true}", 0.002},
    {"RMSprop", "{\"lr\": 0.01, \"momentum\": 0.9}", 0.002},
    {"RMSprop", "{\"lr\": 0.01, \"alpha\": 0.9, \"centered\": true, \"momentum\": 0.5, \"weight_decay\": 0.01}",
     0.002},
    {"Adagrad", "{\"lr\": 0.1}", 0.02},
    {"Adagrad", "{\"lr\": 0.1, \"lr_decay\": 0.01}", 0.02},
    {"Adagrad", "{\"lr\": 0.1, \"lr_decay\": 0.01, \"weight_decay\": 0.1, \"initial_accumulator_value\": 0.1}", 0.02},
    {"Adadelta", "{}", 0.5},
    {"Adadelta", "{\"lr\": 0.5, \"rho\": 0.95, \"eps\": 1e-5, \"weight_decay\": 0.1}", 0.25},
};
#define N_OPTIM_CASES (int)(sizeof optim_cases / sizeof optim_cases[0])

/* Names and tensors of the shared data for the torch script. */
typedef struct {
    int n;
    char *names[N_PARAMS * (N_STEPS + 1)];
    Tensor *tensors[N_PARAMS * (N_STEPS + 1)];
} Inputs;

static void inputs_add(Inputs *in, const char *name, Tensor *t)
{
    in->names[in->n] = strdup(name);
    in->tensors[in->n++] = t;
}

static void inputs_of_data(Inputs *in, const Data *d)
{
    char name[32];
    in->n = 0;
    for (int i = 0; i < N_PARAMS; i++) {
        snprintf(name, sizeof name, "p%d", i);
        inputs_add(in, name, d->init[i]);
    }
    for (int s = 0; s < N_STEPS; s++)
        for (int i = 0; i < N_PARAMS; i++) {
            if (!d->grads[s][i]) continue;
            snprintf(name, sizeof name, "g%d.%d", s, i);
            inputs_add(in, name, d->grads[s][i]);
        }
}

static void inputs_free(Inputs *in)
{
    for (int i = 0; i < in->n; i++) free(in->names[i]);
}

static char *optim_args_json(const OptimCase *cases, int n_cases)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "task", "optim");
    cJSON_AddNumberToObject(args, "n_params", N_PARAMS);
    cJSON_AddNumberToObject(args, "steps", N_STEPS);
    cJSON *jcases = cJSON_AddArrayToObject(args, "cases");
    for (int k = 0; k < n_cases; k++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "algo", cases[k].algo);
        cJSON_AddItemToObject(c, "defaults", cJSON_Parse(cases[k].options));
        cJSON *groups = cJSON_AddArrayToObject(c, "groups");
        cJSON *g0 = cJSON_CreateObject(), *g1 = cJSON_CreateObject();
        cJSON_AddItemToObject(g0, "params", cJSON_CreateIntArray((const int[]){0, 1}, 2));
        cJSON_AddItemToObject(g1, "params", cJSON_CreateIntArray((const int[]){2}, 1));
        cJSON_AddNumberToObject(g1, "lr", cases[k].group1_lr);
        cJSON_AddItemToArray(groups, g0);
        cJSON_AddItemToArray(groups, g1);
        cJSON_AddItemToArray(jcases, c);
    }
    char *json = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    return json;
}

/* Every case, compared with torch after every one of the 20 steps.
 * Tolerance 1e-5 relative to the parameters' scale for all algorithms: the
 * fused kernels round like PyTorch's per-op kernels, so the differences
 * left are last-bit ones (fused multiply-adds in PyTorch's vector code). */
static void test_optimizers_against_torch(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 1234);
    Inputs in;
    inputs_of_data(&in, &d);
    char *args = optim_args_json(optim_cases, N_OPTIM_CASES);
    Safetensors *ref = NULL;
    int rc = torch_script_run("optim_ref.py", "optim", in.n, (const char *const *)in.names, in.tensors, args, &ref);
    free(args);
    inputs_free(&in);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    const double tol = 1e-5;
    for (int k = 0; k < N_OPTIM_CASES; k++) {
        Tensor *p[N_PARAMS];
        make_params(&d, p);
        Optimizer *opt = make_optimizer(&optim_cases[k], p);
        double worst = 0;
        for (int s = 0; s < N_STEPS; s++) {
            scope_begin();
            set_grads(opt, p, &d, s);
            if (optimizer_step(opt) != 0) fail_engine("optimizer_step");
            for (int i = 0; i < N_PARAMS; i++) {
                char name[48];
                snprintf(name, sizeof name, "c%d.s%d.p%d", k, s, i);
                Tensor *r = safetensors_get(ref, name);
                assert_non_null(r);
                double err = max_rel_error(p[i], r);
                if (!(err <= worst)) worst = err;
            }
            scope_end();
        }
        print_message("  %-8s %-100s max rel err %.3g (tol %.0e)\n", optim_cases[k].algo, optim_cases[k].options,
                      worst, tol);
        optimizer_free(opt);
        free_params(p, N_PARAMS);
        if (!(worst <= tol)) fail_msg("%s %s: max relative error %.3g", optim_cases[k].algo, optim_cases[k].options,
                                      worst);
    }
    safetensors_free(ref);
    scope_end();
}

/* ---- state dict round trip ---- */

static void run_steps(Optimizer *opt, Tensor **p, const Data *d, int from, int to)
{
    for (int s = from; s < to; s++) {
        scope_begin();
        set_grads(opt, p, d, s);
        if (optimizer_step(opt) != 0) fail_engine("optimizer_step");
        scope_end();
    }
}

/* 10 steps, state saved to a safetensors file, loaded into a fresh optimizer
 * made with default options (so the hyperparameters must come from the
 * state), 10 more steps: bit-identical to 20 straight steps. */
static void test_state_dict_round_trip(void **state)
{
    static const OptimCase cases[] = {
        {"SGD", "{\"lr\": 0.1, \"momentum\": 0.9, \"weight_decay\": 0.01, \"nesterov\": true}", 0.05},
        {"Adam", "{\"lr\": 0.01, \"betas\": [0.8, 0.99], \"weight_decay\": 0.1, \"amsgrad\": true}", 0.002},
        {"AdamW", "{\"lr\": 0.01, \"amsgrad\": true}", 0.002},
        {"RMSprop", "{\"lr\": 0.01, \"centered\": true, \"momentum\": 0.5}", 0.002},
        {"Adagrad", "{\"lr\": 0.1, \"lr_decay\": 0.01, \"initial_accumulator_value\": 0.1}", 0.02},
        {"Adadelta", "{\"lr\": 0.5, \"weight_decay\": 0.1}", 0.25},
    };
    scope_begin();
    Data d;
    make_data(&d, 99);
    char path[256];
    snprintf(path, sizeof path, "%s/optim_state_%d.safetensors", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const OptimCase *c = &cases[k];
        Tensor *pa[N_PARAMS], *pb[N_PARAMS];
        make_params(&d, pa);
        make_params(&d, pb);
        Optimizer *a = make_optimizer(c, pa);
        run_steps(a, pa, &d, 0, N_STEPS);

        Optimizer *b = make_optimizer(c, pb);
        run_steps(b, pb, &d, 0, N_STEPS / 2);
        StateDict sd;
        state_dict_init(&sd);
        char *json = NULL;
        assert_int_equal(optimizer_state_dict(b, &sd, &json), 0);
        assert_non_null(json);
        char type_key[64];
        snprintf(type_key, sizeof type_key, "\"type\":\"%s\"", c->algo);
        assert_non_null(strstr(json, type_key));
        assert_non_null(strstr(json, "\"params\":[2]"));
        const char *keys[] = {"optimizer"};
        const char *values[] = {json};
        assert_int_equal(safetensors_save(path, sd.n, (const char *const *)sd.names, sd.tensors, 1, keys, values), 0);
        state_dict_free(&sd);
        free(json);
        optimizer_free(b);

        OptimCase fresh = *c;
        fresh.options = "{}";
        fresh.group1_lr = 0.123;
        Optimizer *b2 = make_optimizer(&fresh, pb);
        Safetensors *st = safetensors_load(path);
        REQUIRE_OK(st);
        StateDict loaded;
        state_dict_init(&loaded);
        for (int i = 0; i < st->n_tensors; i++)
            assert_int_equal(state_dict_add(&loaded, st->names[i], st->tensors[i]), 0);
        if (optimizer_load_state_dict(b2, &loaded, safetensors_meta(st, "optimizer")) != 0)
            fail_engine("optimizer_load_state_dict");
        state_dict_free(&loaded);
        safetensors_free(st);
        assert_true(optimizer_get(b2, 1, "lr") == c->group1_lr);
        run_steps(b2, pb, &d, N_STEPS / 2, N_STEPS);

        char label[128];
        for (int i = 0; i < N_PARAMS; i++) {
            snprintf(label, sizeof label, "%s resumed, parameter %d", c->algo, i);
            expect_equal(pb[i], pa[i], label);
        }
        optimizer_free(a);
        optimizer_free(b2);
        free_params(pa, N_PARAMS);
        free_params(pb, N_PARAMS);
    }
    unlink(path);
    scope_end();
}

/* PyTorch's state names, and only the state the options use. */
static void test_state_dict_names(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 5);
    Tensor *p[N_PARAMS];
    make_params(&d, p);
    OptimCase c = {"Adam", "{\"amsgrad\": true}", 0.01};
    Optimizer *opt = make_optimizer(&c, p);
    run_steps(opt, p, &d, 0, 5);
    StateDict sd;
    state_dict_init(&sd);
    char *json = NULL;
    assert_int_equal(optimizer_state_dict(opt, &sd, &json), 0);
    assert_int_equal(sd.n, 9);
    assert_non_null(state_dict_get(&sd, "state.0.exp_avg"));
    assert_non_null(state_dict_get(&sd, "state.1.exp_avg_sq"));
    assert_non_null(state_dict_get(&sd, "state.2.max_exp_avg_sq"));
    assert_non_null(strstr(json, "\"betas\":[0.9,0.999]"));
    assert_non_null(strstr(json, "\"amsgrad\":true"));
    /* parameter 1 had no gradient at step 3, so it was stepped once less */
    assert_non_null(strstr(json, "\"0\":{\"step\":5}"));
    assert_non_null(strstr(json, "\"1\":{\"step\":4}"));
    state_dict_free(&sd);
    free(json);
    optimizer_free(opt);
    free_params(p, N_PARAMS);

    make_params(&d, p);
    OptimCase plain = {"SGD", "{\"lr\": 0.1}", 0.01};
    opt = make_optimizer(&plain, p);
    run_steps(opt, p, &d, 0, 2);
    state_dict_init(&sd);
    assert_int_equal(optimizer_state_dict(opt, &sd, &json), 0);
    assert_int_equal(sd.n, 0); /* no momentum, no buffers */
    state_dict_free(&sd);
    free(json);
    optimizer_free(opt);
    free_params(p, N_PARAMS);
    scope_end();
}

/* ---- gradient clipping ---- */

typedef struct {
    bool by_value;
    double max_norm, norm_type, clip_value;
    bool no_grad_1; /* parameter 1 has no gradient */
} ClipCase;

static const ClipCase clip_cases[] = {
    {false, 1.0, 2.0, 0, true},      /* clips */
    {false, 1000.0, 2.0, 0, false},  /* coefficient clamped to 1 */
    {false, 0.5, INFINITY, 0, true}, /* max norm */
    {false, 2.0, 1.5, 0, false},
    {false, 3.0, 1.0, 0, false},
    {true, 0, 0, 0.3, false},
};
#define N_CLIP_CASES (int)(sizeof clip_cases / sizeof clip_cases[0])

/* Tolerance 1e-5: torch sums |g|^p in float, the engine in double, so for
 * p other than 2 and inf the total norms differ by up to ~2e-6 relative on
 * the 33k-element gradient. */
static void test_clip_grad_against_torch(void **state)
{
    scope_begin();
    Generator gen;
    generator_seed(&gen, 77);
    Tensor *grads[N_CLIP_CASES][N_PARAMS] = {{0}};
    char *names[N_CLIP_CASES * N_PARAMS];
    Tensor *tensors[N_CLIP_CASES * N_PARAMS];
    int n = 0;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "task", "clip");
    cJSON *jcases = cJSON_AddArrayToObject(args, "cases");
    for (int k = 0; k < N_CLIP_CASES; k++) {
        const ClipCase *c = &clip_cases[k];
        cJSON *jc = cJSON_CreateObject();
        cJSON_AddStringToObject(jc, "kind", c->by_value ? "value" : "norm");
        cJSON_AddNumberToObject(jc, "n_params", N_PARAMS);
        cJSON_AddNumberToObject(jc, "max_norm", c->max_norm);
        cJSON_AddNumberToObject(jc, "clip_value", c->clip_value);
        if (isinf(c->norm_type)) cJSON_AddStringToObject(jc, "norm_type", "inf");
        else cJSON_AddNumberToObject(jc, "norm_type", c->norm_type);
        cJSON_AddItemToArray(jcases, jc);
        for (int i = 0; i < N_PARAMS; i++) {
            if (i == 1 && c->no_grad_1) continue;
            grads[k][i] = tensor_randn(param_shape(i), &gen, CPU);
            char name[32];
            snprintf(name, sizeof name, "c%d.g%d", k, i);
            names[n] = strdup(name);
            tensors[n++] = grads[k][i];
        }
    }
    char *json = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    Safetensors *ref = NULL;
    int rc = torch_script_run("optim_ref.py", "clip", n, (const char *const *)names, tensors, json, &ref);
    free(json);
    for (int i = 0; i < n; i++) free(names[i]);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *norms = cJSON_GetObjectItemCaseSensitive(result, "norms");
    assert_int_equal(cJSON_GetArraySize(norms), N_CLIP_CASES);
    for (int k = 0; k < N_CLIP_CASES; k++) {
        const ClipCase *c = &clip_cases[k];
        Tensor *p[N_PARAMS];
        for (int i = 0; i < N_PARAMS; i++) {
            p[i] = tensor_persist(tensor_zeros(param_shape(i), DT_F32, CPU));
            if (grads[k][i]) p[i]->grad = tensor_persist(t_clone(grads[k][i]));
        }
        char label[96];
        if (c->by_value) {
            assert_int_equal(clip_grad_value_(p, N_PARAMS, c->clip_value), 0);
        } else {
            double total = clip_grad_norm_(p, N_PARAMS, c->max_norm, c->norm_type);
            double expected = cJSON_GetArrayItem(norms, k)->valuedouble;
            double err = fabs(total - expected) / fabs(expected);
            print_message("  clip_grad_norm_ max_norm %-6g norm_type %-4g total norm %.6g rel err %.3g (tol 1e-05)\n",
                          c->max_norm, c->norm_type, total, err);
            if (!(err <= 1e-5)) fail_msg("total norm %.9g, torch %.9g", total, expected);
        }
        for (int i = 0; i < N_PARAMS; i++) {
            if (!grads[k][i]) {
                assert_null(p[i]->grad);
                continue;
            }
            snprintf(label, sizeof label, "clip case %d gradient %d", k, i);
            char name[32];
            snprintf(name, sizeof name, "c%d.g%d", k, i);
            expect_close(p[i]->grad, safetensors_get(ref, name), 1e-5, label);
        }
        free_params(p, N_PARAMS);
    }
    cJSON_Delete(result);
    safetensors_free(ref);

    /* no gradients: total norm 0; a bad norm type is an error */
    Tensor *q = tensor_persist(tensor_zeros(SHAPE(3), DT_F32, CPU));
    assert_true(clip_grad_norm_(&q, 1, 1.0, 2.0) == 0.0);
    assert_true(isnan(clip_grad_norm_(&q, 1, 1.0, 0.0)));
    assert_non_null(strstr(engine_last_error(), "norm_type"));
    engine_clear_error();
    tensor_free(q);
    scope_end();
}

/* ---- zero_grad ---- */

static void test_zero_grad(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 3);
    Tensor *p[N_PARAMS];
    make_params(&d, p);
    OptimCase c = {"SGD", "{\"lr\": 0.1}", 0.1};
    Optimizer *opt = make_optimizer(&c, p);
    set_grads(opt, p, &d, 0);
    optimizer_zero_grad(opt, false);
    for (int i = 0; i < N_PARAMS; i++) {
        assert_non_null(p[i]->grad);
        expect_equal(p[i]->grad, tensor_zeros(param_shape(i), DT_F32, CPU), "zero_grad keeps zeroed gradients");
    }
    optimizer_zero_grad(opt, true);
    for (int i = 0; i < N_PARAMS; i++) assert_null(p[i]->grad);
    /* with no gradients a step changes nothing */
    Tensor *before = t_clone(p[2]);
    assert_int_equal(optimizer_step(opt), 0);
    expect_equal(p[2], before, "a step without gradients");
    optimizer_free(opt);
    free_params(p, N_PARAMS);
    scope_end();
}

/* What arch.freeze relies on: a layer whose parameters have requires_grad
 * off, fed by an input that needs no gradient, records no autograd node
 * (so backward does no work for it), gets no .grad and is not updated;
 * unfrozen and added as a new group (trainer.unfreeze_epoch), it trains. */
static void test_frozen_parameters(void **state)
{
    scope_begin();
    manual_seed(5);
    Module *conv = nn_conv2d(1, 4, 3, 3, conv_params_default(), true);
    Module *fc = nn_linear(4 * 6 * 6, 3, true);
    REQUIRE_OK(conv);
    REQUIRE_OK(fc);
    int n_conv, n_fc;
    Tensor **conv_params = module_parameters(conv, &n_conv), **fc_params = module_parameters(fc, &n_fc);
    for (int i = 0; i < n_conv; i++) conv_params[i]->requires_grad = false;
    Optimizer *opt = optim_sgd(fc_params, n_fc, (SGDOptions){.lr = 0.1, .momentum = 0.9});
    REQUIRE_OK(opt);
    Tensor *x = tensor_randn(SHAPE(2, 1, 8, 8), NULL, CPU);
    Tensor *w_before = t_clone(conv_params[0]), *fc_before = t_clone(fc_params[0]);
    for (int round = 0; round < 2; round++) {
        Tensor *h = module_forward(conv, x);
        REQUIRE_OK(h);
        if (round == 0) {
            assert_null(h->grad_fn); /* nothing recorded: the frozen layer costs no backward work */
            assert_false(h->requires_grad);
        } else {
            assert_non_null(h->grad_fn);
        }
        Tensor *loss = t_sum(module_forward(fc, t_flatten(t_relu(h), 1, -1)), NULL, 0, false);
        REQUIRE_OK(loss);
        assert_int_equal(tensor_backward(loss, NULL), 0);
        for (int i = 0; i < n_fc; i++) assert_non_null(fc_params[i]->grad);
        for (int i = 0; i < n_conv; i++) {
            if (round == 0) assert_null(conv_params[i]->grad);
            else assert_non_null(conv_params[i]->grad);
        }
        assert_int_equal(optimizer_step(opt), 0);
        optimizer_zero_grad(opt, true);
        if (round == 0) {
            expect_equal(conv_params[0], w_before, "a frozen parameter is not updated");
            assert_false(memcmp(tensor_f32(fc_params[0]), tensor_f32(fc_before), sizeof(float) * 3 * 144) == 0);
            /* unfreeze: requires_grad on, a new group with the defaults */
            for (int i = 0; i < n_conv; i++) conv_params[i]->requires_grad = true;
            assert_int_equal(optimizer_add_param_group(opt, conv_params, n_conv), 1);
            assert_true(opt->groups[1].lr == 0.1 && optimizer_get(opt, 1, "momentum") == 0.9);
        }
    }
    assert_false(memcmp(tensor_f32(conv_params[0]), tensor_f32(w_before), sizeof(float) * 4 * 9) == 0);
    optimizer_free(opt);
    free(conv_params);
    free(fc_params);
    module_free(conv);
    module_free(fc);
    scope_end();
}

/* ---- errors ---- */

/* A copy of sd without the entry called drop, and with replace_name (if
 * not NULL) pointing at replacement. */
static void edited_dict(StateDict *out, const StateDict *sd, const char *drop, const char *replace_name,
                        Tensor *replacement)
{
    state_dict_init(out);
    for (int i = 0; i < sd->n; i++) {
        if (drop && strcmp(sd->names[i], drop) == 0) continue;
        bool replace = replace_name && strcmp(sd->names[i], replace_name) == 0;
        assert_int_equal(state_dict_add(out, sd->names[i], replace ? replacement : sd->tensors[i]), 0);
    }
}

static char *replace_text(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void test_load_state_dict_errors(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 11);
    Tensor *p[N_PARAMS];
    make_params(&d, p);
    OptimCase adam = {"Adam", "{\"lr\": 0.01}", 0.002};
    Optimizer *src = make_optimizer(&adam, p);
    run_steps(src, p, &d, 0, 4);
    StateDict sd;
    state_dict_init(&sd);
    char *json = NULL;
    assert_int_equal(optimizer_state_dict(src, &sd, &json), 0);

    /* another optimizer type */
    OptimCase sgd = {"SGD", "{\"lr\": 0.1}", 0.3};
    Optimizer *other = make_optimizer(&sgd, p);
    expect_failure(optimizer_load_state_dict(other, &sd, json) != 0, "optimizer type Adam, but this optimizer is SGD", NULL);
    assert_true(optimizer_get(other, 1, "lr") == 0.3);
    optimizer_free(other);

    /* one group instead of two */
    Optimizer *one = optim_adam(p, N_PARAMS, adam_defaults());
    REQUIRE_OK(one);
    expect_failure(optimizer_load_state_dict(one, &sd, json) != 0, "different number of parameter groups", NULL);
    optimizer_free(one);

    /* groups of other sizes */
    Optimizer *sizes = optim_adam(p, 1, adam_defaults());
    REQUIRE_OK(sizes);
    assert_int_equal(optimizer_add_param_group(sizes, &p[1], 2), 1);
    expect_failure(optimizer_load_state_dict(sizes, &sd, json) != 0, "doesn't match the size of optimizer's group", NULL);
    optimizer_free(sizes);

    Optimizer *dst = make_optimizer(&adam, p);
    assert_int_equal(optimizer_set(dst, 1, "lr", 0.7), 0);
    StateDict bad;
    /* a tensor of the wrong shape */
    edited_dict(&bad, &sd, NULL, "state.2.exp_avg", tensor_zeros(SHAPE(3), DT_F32, CPU));
    expect_failure(optimizer_load_state_dict(dst, &bad, json) != 0, "'state.2.exp_avg' has shape [3]", NULL);
    state_dict_free(&bad);
    /* a missing tensor */
    edited_dict(&bad, &sd, "state.0.exp_avg", NULL, NULL);
    expect_failure(optimizer_load_state_dict(dst, &bad, json) != 0, "missing tensor state.0.exp_avg", NULL);
    state_dict_free(&bad);
    /* an unknown tensor */
    edited_dict(&bad, &sd, NULL, NULL, NULL);
    assert_int_equal(state_dict_add(&bad, "state.0.momentum_buffer", tensor_zeros(SHAPE(4, 5), DT_F32, CPU)), 0);
    expect_failure(optimizer_load_state_dict(dst, &bad, json) != 0, "Adam has no state called 'momentum_buffer'", NULL);
    state_dict_free(&bad);
    /* an invalid hyperparameter, and text that is not JSON */
    char *bad_json = replace_text(json, "\"eps\":1e-08", "\"eps\":-1");
    expect_failure(optimizer_load_state_dict(dst, &sd, bad_json) != 0, "Invalid eps value: -1", NULL);
    free(bad_json);
    bad_json = replace_text(json, "\"betas\":[0.9,0.999]", "\"betas\":[0.9]");
    expect_failure(optimizer_load_state_dict(dst, &sd, bad_json) != 0, "'betas' is missing or has no element 1", NULL);
    free(bad_json);
    expect_failure(optimizer_load_state_dict(dst, &sd, "{\"type\": ") != 0, "not a JSON object", NULL);
    /* nothing changed by the failures; then a good load works */
    assert_true(optimizer_get(dst, 1, "lr") == 0.7);
    assert_int_equal(optimizer_load_state_dict(dst, &sd, json), 0);
    assert_true(optimizer_get(dst, 1, "lr") == 0.002);

    state_dict_free(&sd);
    free(json);
    optimizer_free(src);
    optimizer_free(dst);
    free_params(p, N_PARAMS);
    scope_end();
}

/* Sharded state (ZeRO, optimizer_own): optimizers that each own one run of
 * the parameters' elements, laid end to end as dist/zero.c lays them out,
 * update those elements bit for bit as one optimizer owning everything
 * does, leave the others untouched, and keep state of the run's length
 * alone; every algorithm and option. The cuts fall inside the strided
 * parameter 0 and inside parameter 1. */
static void test_owned_ranges_match_whole(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 23);
    enum { PARTS = 3 };
    int64_t offset[N_PARAMS], total = 0;
    for (int i = 0; i < N_PARAMS; i++) {
        offset[i] = total;
        total += shape_numel(param_shape(i));
    }
    const int64_t cut[PARTS + 1] = {0, 7, 23, total};
    for (int c = 0; c < N_OPTIM_CASES; c++) {
        Tensor *whole_p[N_PARAMS], *part_p[PARTS][N_PARAMS];
        make_params(&d, whole_p);
        Optimizer *whole = make_optimizer(&optim_cases[c], whole_p), *part[PARTS];
        int64_t lo[PARTS][N_PARAMS], hi[PARTS][N_PARAMS];
        for (int k = 0; k < PARTS; k++) {
            make_params(&d, part_p[k]);
            part[k] = make_optimizer(&optim_cases[c], part_p[k]);
            for (int i = 0; i < N_PARAMS; i++) {
                int64_t n = shape_numel(param_shape(i)), a = cut[k] - offset[i], b = cut[k + 1] - offset[i];
                lo[k][i] = a < 0 ? 0 : a > n ? n : a;
                hi[k][i] = b < 0 ? 0 : b > n ? n : b;
                assert_int_equal(optimizer_own(part[k], i, lo[k][i], hi[k][i]), 0);
            }
        }
        for (int s = 0; s < N_STEPS; s++) {
            set_grads(whole, whole_p, &d, s);
            assert_int_equal(optimizer_step(whole), 0);
            for (int k = 0; k < PARTS; k++) {
                set_grads(part[k], part_p[k], &d, s);
                assert_int_equal(optimizer_step(part[k]), 0);
            }
        }
        for (int k = 0; k < PARTS; k++) {
            StateDict sd;
            state_dict_init(&sd);
            char *json = NULL;
            assert_int_equal(optimizer_state_dict(part[k], &sd, &json), 0);
            for (int j = 0; j < sd.n; j++) {
                int i = atoi(sd.names[j] + strlen("state."));
                assert_int_equal(tensor_numel(sd.tensors[j]), hi[k][i] - lo[k][i]);
            }
            /* a state of that shape loads back */
            assert_int_equal(optimizer_load_state_dict(part[k], &sd, json), 0);
            state_dict_free(&sd);
            free(json);
            for (int i = 0; i < N_PARAMS; i++) {
                Tensor *ours = t_reshape(t_contiguous(part_p[k][i]), SHAPE(-1));
                Tensor *ref = t_reshape(t_contiguous(whole_p[i]), SHAPE(-1));
                Tensor *init = t_reshape(t_contiguous(d.init[i]), SHAPE(-1));
                int64_t n = tensor_numel(ref);
                for (int64_t e = 0; e < n; e++) {
                    float expected = e >= lo[k][i] && e < hi[k][i] ? tensor_f32(ref)[e] : tensor_f32(init)[e];
                    if (memcmp(&tensor_f32(ours)[e], &expected, sizeof expected) != 0)
                        fail_msg("%s %s: part %d, parameter %d, element %lld: %.9g, expected %.9g", optim_cases[c].algo,
                                 optim_cases[c].options, k, i, (long long)e, tensor_f32(ours)[e], expected);
                }
            }
        }
        expect_failure(optimizer_own(part[0], 0, 3, 21) != 0, "elements [3, 21) of parameter 0, which has 20", NULL);
        for (int k = 0; k < PARTS; k++) {
            optimizer_free(part[k]);
            free_params(part_p[k], N_PARAMS);
        }
        optimizer_free(whole);
        free_params(whole_p, N_PARAMS);
    }
    scope_end();
}

static void test_constructor_and_step_errors(void **state)
{
    scope_begin();
    Data d;
    make_data(&d, 21);
    Tensor *p[N_PARAMS];
    make_params(&d, p);
    SGDOptions sgd = sgd_defaults();
    sgd.lr = -1;
    expect_failure(optim_sgd(p, N_PARAMS, sgd) == NULL, "Invalid learning rate: -1", NULL);
    sgd = sgd_defaults();
    sgd.nesterov = true;
    expect_failure(optim_sgd(p, N_PARAMS, sgd) == NULL, "Nesterov momentum requires a momentum and zero dampening", NULL);
    AdamOptions adam = adam_defaults();
    adam.betas[0] = 1.0;
    expect_failure(optim_adam(p, N_PARAMS, adam) == NULL, "Invalid betas parameter at index 0: 1", NULL);
    RMSpropOptions rms = rmsprop_defaults();
    rms.alpha = -0.5;
    expect_failure(optim_rmsprop(p, N_PARAMS, rms) == NULL, "Invalid alpha value: -0.5", NULL);
    AdadeltaOptions ada = adadelta_defaults();
    ada.rho = 1.5;
    expect_failure(optim_adadelta(p, N_PARAMS, ada) == NULL, "Invalid rho value: 1.5", NULL);
    expect_failure(optim_adagrad(p, 0, adagrad_defaults()) == NULL, "optimizer got an empty parameter list", NULL);

    Tensor *scoped = tensor_zeros(SHAPE(2), DT_F32, CPU);
    expect_failure(optim_sgd(&scoped, 1, sgd_defaults()) == NULL, "must be persistent", NULL);
    Tensor *leaf = tensor_set_requires_grad(tensor_ones(SHAPE(2), DT_F32, CPU), true);
    Tensor *non_leaf = t_mul_scalar(leaf, 2.0);
    expect_failure(optim_sgd(&non_leaf, 1, sgd_defaults()) == NULL, "can't optimize a non-leaf Tensor", NULL);
    Tensor *ints = tensor_persist(tensor_zeros(SHAPE(2), DT_I64, CPU));
    expect_failure(optim_sgd(&ints, 1, sgd_defaults()) == NULL, "only float32 parameters", NULL);
    tensor_free(ints);
    Tensor *twice[2] = {p[0], p[0]};
    expect_failure(optim_sgd(twice, 2, sgd_defaults()) == NULL, "more than one parameter group", NULL);

    Optimizer *opt = optim_sgd(p, 2, sgd_defaults());
    REQUIRE_OK(opt);
    expect_failure(optimizer_add_param_group(opt, &p[1], 1) < 0,
                 "more than one parameter group (parameter 0, shape [5])", NULL);
    assert_int_equal(opt->n_groups, 1);
    expect_failure(optimizer_set(opt, 0, "beta1", 0.5) != 0, "SGD: no hyperparameter 'beta1'", NULL);
    expect_failure(optimizer_set(opt, 0, "momentum", -0.5) != 0, "Invalid momentum value: -0.5", NULL);
    assert_true(optimizer_get(opt, 0, "momentum") == 0.0);
    expect_failure(isnan(optimizer_get(opt, 3, "lr")), "no parameter group 3", NULL);
    assert_true(optimizer_has_hparam(opt, "dampening") && !optimizer_has_hparam(opt, "betas"));

    /* a gradient of the wrong shape: an error, and nothing is updated */
    assert_int_equal(optimizer_add_param_group(opt, &p[2], 1), 1);
    for (int i = 0; i < N_PARAMS; i++) p[i]->grad = tensor_persist(tensor_ones(param_shape(i), DT_F32, CPU));
    tensor_free(p[1]->grad);
    p[1]->grad = tensor_persist(tensor_ones(SHAPE(6), DT_F32, CPU));
    Tensor *before = t_clone(p[0]);
    expect_failure(optimizer_step(opt) != 0, "parameter 1 has shape [5] but its gradient has shape [6]", NULL);
    expect_equal(p[0], before, "parameters after a failed step");
    optimizer_free(opt);
    free_params(p, N_PARAMS);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers_against_torch),
        cmocka_unit_test(test_state_dict_round_trip),
        cmocka_unit_test(test_state_dict_names),
        cmocka_unit_test(test_clip_grad_against_torch),
        cmocka_unit_test(test_zero_grad),
        cmocka_unit_test(test_frozen_parameters),
        cmocka_unit_test(test_load_state_dict_errors),
        cmocka_unit_test(test_owned_ranges_match_whole),
        cmocka_unit_test(test_constructor_and_step_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
