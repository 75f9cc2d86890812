/* LR schedulers against PyTorch: every group's lr (and OneCycleLR's
 * momentum / beta1) after construction and after each of 100 steps, for
 * two parameter groups with different lrs; the same with a third group added
 * to the optimizer half-way (as unfreezing does); state save/load half-way
 * continues identically, also across and after an added group; and the
 * error paths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "engine/optim/optim.h"
#include "tests/support/check.h"
#include "tests/support/torch_script.h"

#define N_GROUPS 2
#define N_STEPS 100

static const double group_lrs[N_GROUPS] = {0.1, 0.01};

typedef struct {
    const char *sched;        /* PyTorch's class name */
    const char *kwargs;       /* its keyword arguments, as JSON (the C options are read from them) */
    const char *optim;        /* "SGD" or "Adam" */
    const char *optim_kwargs; /* JSON */
    int metrics;              /* ReduceLROnPlateau: which metric sequence (1 or 2); 0 for the others */
} SchedCase;

static const SchedCase cases[] = {
    {"StepLR", "{\"step_size\": 7, \"gamma\": 0.5}", "SGD", "{\"momentum\": 0.9}", 0},
    {"MultiStepLR", "{\"milestones\": [10, 30, 30, 60], \"gamma\": 0.3}", "SGD", "{}", 0},
    {"ExponentialLR", "{\"gamma\": 0.97}", "SGD", "{}", 0},
    {"CosineAnnealingLR", "{\"T_max\": 30, \"eta_min\": 0.001}", "SGD", "{}", 0},
    {"LinearLR", "{\"start_factor\": 0.25, \"end_factor\": 1.0, \"total_iters\": 20}", "SGD", "{}", 0},
    {"LinearLR", "{}", "SGD", "{}", 0},
    {"OneCycleLR", "{\"max_lr\": [0.5, 0.05], \"total_steps\": 100}", "SGD", "{\"momentum\": 0.9}", 0},
    {"OneCycleLR",
     "{\"max_lr\": 0.3, \"epochs\": 10, \"steps_per_epoch\": 10, \"anneal_strategy\": \"linear\", \"three_phase\": "
     "true, \"div_factor\": 10.0, \"final_div_factor\": 100.0, \"pct_start\": 0.25, \"base_momentum\": 0.8, "
     "\"max_momentum\": 0.9}",
     "Adam", "{}", 0},
    {"OneCycleLR", "{\"max_lr\": 0.2, \"total_steps\": 100, \"cycle_momentum\": false}", "SGD", "{}", 0},
    {"ReduceLROnPlateau",
     "{\"mode\": \"min\", \"factor\": 0.5, \"patience\": 3, \"threshold\": 0.01, \"cooldown\": 2, \"min_lr\": 0.002}",
     "SGD", "{}", 1},
    {"ReduceLROnPlateau",
     "{\"mode\": \"min\", \"factor\": 0.5, \"patience\": 2, \"threshold\": 0.01, \"threshold_mode\": \"abs\", "
     "\"eps\": 0.001}",
     "SGD", "{}", 1},
    {"ReduceLROnPlateau",
     "{\"mode\": \"max\", \"factor\": 0.3, \"patience\": 2, \"threshold\": 0.05, \"threshold_mode\": \"abs\"}", "SGD",
     "{}", 2},
    {"ReduceLROnPlateau", "{\"mode\": \"max\", \"factor\": 0.7, \"patience\": 1, \"cooldown\": 3}", "SGD", "{}", 2},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Sequence 1 (a loss): improves, plateaus (reductions and cooldowns), drops
 * once more, plateaus again. Sequence 2 (an accuracy): rises, then flat. */
static double metric(int which, int i)
{
    if (which == 1) {
        if (i < 12) return 1.0 / (1 + 0.3 * i);
        if (i < 60) return 0.22 + 0.002 * ((i * 7) % 5);
        if (i == 60) return 0.1;
        return 0.1 + 0.001 * (i % 3);
    }
    return fmin(0.9, 0.05 * i) + 0.001 * (i % 2);
}

/* ---- building optimizers and schedulers from the JSON torch gets ---- */

static double num(const cJSON *o, const char *key, double fallback)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return fallback;
    return cJSON_IsBool(it) ? (double)cJSON_IsTrue(it) : it->valuedouble;
}

static const char *str(const cJSON *o, const char *key, const char *fallback)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(it) ? it->valuestring : fallback;
}

typedef struct {
    Tensor *params[N_GROUPS];
    Optimizer *opt;
    LRScheduler *sched;
} Setup;

static Optimizer *make_optimizer(const SchedCase *c, Tensor **params)
{
    cJSON *o = cJSON_Parse(c->optim_kwargs);
    Optimizer *opt;
    if (strcmp(c->optim, "Adam") == 0) {
        AdamOptions a = adam_defaults();
        a.lr = group_lrs[0];
        opt = optim_adam(params, 1, a);
    } else {
        SGDOptions s = sgd_defaults();
        s.lr = group_lrs[0];
        s.momentum = num(o, "momentum", s.momentum);
        opt = optim_sgd(params, 1, s);
    }
    cJSON_Delete(o);
    REQUIRE_OK(opt);
    for (int g = 1; g < N_GROUPS; g++) {
        assert_int_equal(optimizer_add_param_group(opt, &params[g], 1), g);
        assert_int_equal(optimizer_set(opt, g, "lr", group_lrs[g]), 0);
    }
    return opt;
}

static LRScheduler *make_scheduler(const SchedCase *c, Optimizer *opt)
{
    cJSON *o = cJSON_Parse(c->kwargs);
    assert_non_null(o);
    LRScheduler *s = NULL;
    const char *name = c->sched;
    if (strcmp(name, "StepLR") == 0) {
        StepLROptions so = step_lr_defaults();
        so.step_size = (int64_t)num(o, "step_size", (double)so.step_size);
        so.gamma = num(o, "gamma", so.gamma);
        s = sched_step_lr(opt, so);
    } else if (strcmp(name, "MultiStepLR") == 0) {
        MultiStepLROptions mo = multistep_lr_defaults();
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "milestones");
        int64_t milestones[16];
        mo.n_milestones = cJSON_GetArraySize(ms);
        for (int i = 0; i < mo.n_milestones; i++) milestones[i] = (int64_t)cJSON_GetArrayItem(ms, i)->valuedouble;
        mo.milestones = milestones;
        mo.gamma = num(o, "gamma", mo.gamma);
        s = sched_multistep_lr(opt, mo);
    } else if (strcmp(name, "ExponentialLR") == 0) {
        s = sched_exponential_lr(opt, (ExponentialLROptions){.gamma = num(o, "gamma", NAN)});
    } else if (strcmp(name, "CosineAnnealingLR") == 0) {
        CosineAnnealingLROptions co = cosine_annealing_lr_defaults();
        co.T_max = (int64_t)num(o, "T_max", (double)co.T_max);
        co.eta_min = num(o, "eta_min", co.eta_min);
        s = sched_cosine_annealing_lr(opt, co);
    } else if (strcmp(name, "LinearLR") == 0) {
        LinearLROptions lo = linear_lr_defaults();
        lo.start_factor = num(o, "start_factor", lo.start_factor);
        lo.end_factor = num(o, "end_factor", lo.end_factor);
        lo.total_iters = (int64_t)num(o, "total_iters", (double)lo.total_iters);
        s = sched_linear_lr(opt, lo);
    } else if (strcmp(name, "OneCycleLR") == 0) {
        OneCycleLROptions oo = one_cycle_lr_defaults();
        const cJSON *max_lr = cJSON_GetObjectItemCaseSensitive(o, "max_lr");
        double max_lrs[N_GROUPS];
        if (cJSON_IsArray(max_lr)) {
            for (int g = 0; g < N_GROUPS; g++) max_lrs[g] = cJSON_GetArrayItem(max_lr, g)->valuedouble;
            oo.max_lrs = max_lrs;
        } else {
            oo.max_lr = max_lr->valuedouble;
        }
        oo.total_steps = (int64_t)num(o, "total_steps", 0);
        oo.epochs = (int64_t)num(o, "epochs", 0);
        oo.steps_per_epoch = (int64_t)num(o, "steps_per_epoch", 0);
        oo.pct_start = num(o, "pct_start", oo.pct_start);
        oo.anneal_strategy = str(o, "anneal_strategy", oo.anneal_strategy);
        oo.cycle_momentum = num(o, "cycle_momentum", oo.cycle_momentum) != 0;
        oo.base_momentum = num(o, "base_momentum", oo.base_momentum);
        oo.max_momentum = num(o, "max_momentum", oo.max_momentum);
        oo.div_factor = num(o, "div_factor", oo.div_factor);
        oo.final_div_factor = num(o, "final_div_factor", oo.final_div_factor);
        oo.three_phase = num(o, "three_phase", oo.three_phase) != 0;
        s = sched_one_cycle_lr(opt, oo);
    } else if (strcmp(name, "ReduceLROnPlateau") == 0) {
        ReduceLROnPlateauOptions po = reduce_lr_on_plateau_defaults();
        po.mode = str(o, "mode", po.mode);
        po.factor = num(o, "factor", po.factor);
        po.patience = (int64_t)num(o, "patience", (double)po.patience);
        po.threshold = num(o, "threshold", po.threshold);
        po.threshold_mode = str(o, "threshold_mode", po.threshold_mode);
        po.cooldown = (int64_t)num(o, "cooldown", (double)po.cooldown);
        po.min_lr = num(o, "min_lr", po.min_lr);
        po.eps = num(o, "eps", po.eps);
        s = sched_reduce_lr_on_plateau(opt, po);
    } else {
        fail_msg("unknown scheduler %s", name);
    }
    /* the strings the options point at must outlive construction only */
    cJSON_Delete(o);
    REQUIRE_OK(s);
    return s;
}

static void setup_make(Setup *su, const SchedCase *c)
{
    for (int g = 0; g < N_GROUPS; g++) su->params[g] = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    su->opt = make_optimizer(c, su->params);
    su->sched = make_scheduler(c, su->opt);
}

static void setup_free(Setup *su)
{
    scheduler_free(su->sched);
    optimizer_free(su->opt);
    for (int g = 0; g < N_GROUPS; g++) tensor_free(su->params[g]);
}

static double group_momentum(const Optimizer *opt, int g)
{
    return optimizer_has_hparam(opt, "beta1") ? optimizer_get(opt, g, "beta1") : optimizer_get(opt, g, "momentum");
}

/* The lrs and momenta of every group at each point: [point][group]. */
typedef struct {
    double lr[N_STEPS + 1][N_GROUPS];
    double momentum[N_STEPS + 1][N_GROUPS];
} Trace;

static void record(Trace *t, int point, const Setup *su)
{
    const double *last = scheduler_get_last_lr(su->sched);
    for (int g = 0; g < N_GROUPS; g++) {
        t->lr[point][g] = su->opt->groups[g].lr;
        t->momentum[point][g] = group_momentum(su->opt, g);
        assert_true(last[g] == su->opt->groups[g].lr);
    }
}

static void step(const SchedCase *c, Setup *su, int i)
{
    int rc = c->metrics ? scheduler_step_metric(su->sched, metric(c->metrics, i)) : scheduler_step(su->sched);
    if (rc != 0) fail_engine("scheduler step");
}

static void run(const SchedCase *c, Setup *su, Trace *t, int from, int to)
{
    for (int i = from; i < to; i++) {
        step(c, su, i);
        record(t, i + 1, su);
    }
}

/* The point where the tests that add a group add it (before this step),
 * and its lr. */
#define ADD_AT 40
static const double added_lr = 0.05;

static char *torch_args(bool add_group)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "task", "sched");
    cJSON *jcases = cJSON_AddArrayToObject(args, "cases");
    for (int k = 0; k < N_CASES; k++) {
        cJSON *jc = cJSON_CreateObject();
        cJSON_AddStringToObject(jc, "sched", cases[k].sched);
        cJSON_AddItemToObject(jc, "kwargs", cJSON_Parse(cases[k].kwargs));
        cJSON_AddStringToObject(jc, "optim", cases[k].optim);
        cJSON_AddItemToObject(jc, "optim_kwargs", cJSON_Parse(cases[k].optim_kwargs));
        cJSON_AddItemToObject(jc, "group_lrs", cJSON_CreateDoubleArray(group_lrs, N_GROUPS));
        cJSON_AddNumberToObject(jc, "steps", N_STEPS);
        if (add_group) {
            cJSON_AddNumberToObject(jc, "add_at", ADD_AT);
            cJSON_AddNumberToObject(jc, "add_lr", added_lr);
        }
        if (cases[k].metrics) {
            /* as %.17g text: cJSON's own printing may drop the last bit */
            cJSON *m = cJSON_AddArrayToObject(jc, "metrics");
            for (int i = 0; i < N_STEPS; i++) {
                char text[32];
                snprintf(text, sizeof text, "%.17g", metric(cases[k].metrics, i));
                cJSON_AddItemToArray(m, cJSON_CreateRaw(text));
            }
        }
        cJSON_AddItemToArray(jcases, jc);
    }
    char *json = cJSON_PrintUnformatted(args);
    cJSON_Delete(args);
    return json;
}

/* Max relative difference between the trace and torch's [point][group] list. */
static double trace_error(double (*ours)[N_GROUPS], const cJSON *ref)
{
    assert_int_equal(cJSON_GetArraySize(ref), N_STEPS + 1);
    double worst = 0;
    for (int i = 0; i <= N_STEPS; i++)
        for (int g = 0; g < N_GROUPS; g++) {
            double r = cJSON_GetArrayItem(cJSON_GetArrayItem(ref, i), g)->valuedouble;
            double err = fabs(ours[i][g] - r) / fmax(fabs(r), 1e-300);
            if (!(err <= worst)) worst = err;
        }
    return worst;
}

/* Every scheduler's lrs (and momenta) over 100 steps. Both sides compute in
 * double with the same operations, so the tolerance is 1e-12 (in practice
 * the sequences agree exactly). */
static void test_schedulers_against_torch(void **state)
{
    scope_begin();
    char *args = torch_args(false);
    Safetensors *ref = NULL;
    int rc = torch_script_run("optim_ref.py", "sched", 0, NULL, NULL, args, &ref);
    free(args);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *rcases = cJSON_GetObjectItemCaseSensitive(result, "cases");
    assert_int_equal(cJSON_GetArraySize(rcases), N_CASES);
    const double tol = 1e-12;
    static Trace t;
    for (int k = 0; k < N_CASES; k++) {
        const SchedCase *c = &cases[k];
        Setup su;
        setup_make(&su, c);
        record(&t, 0, &su);
        run(c, &su, &t, 0, N_STEPS);
        const cJSON *rc_k = cJSON_GetArrayItem(rcases, k);
        double lr_err = trace_error(t.lr, cJSON_GetObjectItemCaseSensitive(rc_k, "lrs"));
        double mom_err = trace_error(t.momentum, cJSON_GetObjectItemCaseSensitive(rc_k, "momentum"));
        print_message("  %-18s %-60.60s lr err %.3g, momentum err %.3g (tol %.0e)\n", c->sched, c->kwargs, lr_err,
                      mom_err, tol);
        setup_free(&su);
        if (!(lr_err <= tol && mom_err <= tol))
            fail_msg("%s %s: lr error %.3g, momentum error %.3g", c->sched, c->kwargs, lr_err, mom_err);
    }
    cJSON_Delete(result);
    safetensors_free(ref);
    scope_end();
}

/* 50 steps, save the optimizer's and scheduler's state, rebuild both, load,
 * 50 more: the same lrs and momenta, bit for bit, as 100 straight steps. */
static void test_state_round_trip(void **state)
{
    scope_begin();
    static Trace a, b;
    for (int k = 0; k < N_CASES; k++) {
        const SchedCase *c = &cases[k];
        Setup su;
        setup_make(&su, c);
        record(&a, 0, &su);
        run(c, &su, &a, 0, N_STEPS);
        setup_free(&su);

        setup_make(&su, c);
        record(&b, 0, &su);
        run(c, &su, &b, 0, N_STEPS / 2);
        StateDict sd;
        state_dict_init(&sd);
        char *opt_json = NULL;
        assert_int_equal(optimizer_state_dict(su.opt, &sd, &opt_json), 0);
        char *sched_json = scheduler_state_dict(su.sched);
        assert_non_null(sched_json);
        setup_free(&su);

        setup_make(&su, c);
        if (optimizer_load_state_dict(su.opt, &sd, opt_json) != 0) fail_engine("optimizer_load_state_dict");
        if (scheduler_load_state_dict(su.sched, sched_json) != 0) fail_engine("scheduler_load_state_dict");
        run(c, &su, &b, N_STEPS / 2, N_STEPS);
        setup_free(&su);
        state_dict_free(&sd);
        free(opt_json);
        free(sched_json);

        bool same = memcmp(&a, &b, sizeof a) == 0;
        print_message("  %-18s resumed at step %d: %s\n", c->sched, N_STEPS / 2, same ? "exact" : "MISMATCH");
        if (!same) fail_msg("%s %s: the resumed run differs", c->sched, c->kwargs);
    }
    scope_end();
}

/* ---- a group added after the scheduler was made ---- */

typedef struct {
    Tensor *param;
    double lr[N_STEPS + 1][N_GROUPS + 1]; /* the added group's entries are NAN before it exists */
    double momentum[N_STEPS + 1][N_GROUPS + 1];
} AddTrace;

/* Adds the group as train.c's unfreezing does: default hyperparameters,
 * then its lr, then the scheduler takes it in. */
static void add_group(Setup *su, AddTrace *t)
{
    assert_int_equal(optimizer_add_param_group(su->opt, &t->param, 1), N_GROUPS);
    assert_int_equal(optimizer_set(su->opt, N_GROUPS, "lr", added_lr), 0);
    if (scheduler_adopt_param_groups(su->sched) != 0) fail_engine("scheduler_adopt_param_groups");
    assert_int_equal(scheduler_n_groups(su->sched), N_GROUPS + 1);
}

static void add_record(AddTrace *t, int point, const Setup *su)
{
    const double *last = scheduler_get_last_lr(su->sched);
    for (int g = 0; g <= N_GROUPS; g++) {
        bool exists = g < su->opt->n_groups;
        t->lr[point][g] = exists ? su->opt->groups[g].lr : NAN;
        t->momentum[point][g] = exists ? group_momentum(su->opt, g) : NAN;
        if (exists) assert_true(last[g] == su->opt->groups[g].lr);
    }
}

/* Steps from..to-1, adding the group before step ADD_AT. */
static void add_run(const SchedCase *c, Setup *su, AddTrace *t, int from, int to)
{
    for (int i = from; i < to; i++) {
        if (i == ADD_AT) add_group(su, t);
        step(c, su, i);
        add_record(t, i + 1, su);
    }
}

/* Max relative difference against torch's [point][group] list, whose
 * points before ADD_AT have one group fewer. */
static double add_trace_error(double (*ours)[N_GROUPS + 1], const cJSON *ref)
{
    assert_int_equal(cJSON_GetArraySize(ref), N_STEPS + 1);
    double worst = 0;
    for (int i = 0; i <= N_STEPS; i++) {
        const cJSON *point = cJSON_GetArrayItem(ref, i);
        int n = i > ADD_AT ? N_GROUPS + 1 : N_GROUPS;
        assert_int_equal(cJSON_GetArraySize(point), n);
        for (int g = 0; g < n; g++) {
            double r = cJSON_GetArrayItem(point, g)->valuedouble;
            double err = fabs(ours[i][g] - r) / fmax(fabs(r), 1e-300);
            if (!(err <= worst)) worst = err;
        }
    }
    return worst;
}

/* Every scheduler with a group added before step 40: the added group's lrs
 * (and momenta) against PyTorch's, taking the group in as
 * lr_scheduler.h describes (tests/ref/optim_ref.py adopt_group); the first
 * groups go on exactly as without it. */
static void test_added_group_against_torch(void **state)
{
    scope_begin();
    char *args = torch_args(true);
    Safetensors *ref = NULL;
    int rc = torch_script_run("optim_ref.py", "sched_added_group", 0, NULL, NULL, args, &ref);
    free(args);
    if (rc == 1) {
        scope_end();
        print_message("SKIP: PyTorch reference not available (python3-torch)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    cJSON *result = cJSON_Parse(safetensors_meta(ref, "result"));
    const cJSON *rcases = cJSON_GetObjectItemCaseSensitive(result, "cases");
    assert_int_equal(cJSON_GetArraySize(rcases), N_CASES);
    const double tol = 1e-12;
    static AddTrace t;
    t.param = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    for (int k = 0; k < N_CASES; k++) {
        const SchedCase *c = &cases[k];
        Setup su;
        setup_make(&su, c);
        add_record(&t, 0, &su);
        add_run(c, &su, &t, 0, N_STEPS);
        const cJSON *rc_k = cJSON_GetArrayItem(rcases, k);
        double lr_err = add_trace_error(t.lr, cJSON_GetObjectItemCaseSensitive(rc_k, "lrs"));
        double mom_err = add_trace_error(t.momentum, cJSON_GetObjectItemCaseSensitive(rc_k, "momentum"));
        print_message("  %-18s %-60.60s added group: lr err %.3g, momentum err %.3g (tol %.0e)\n", c->sched,
                      c->kwargs, lr_err, mom_err, tol);
        setup_free(&su);
        if (!(lr_err <= tol && mom_err <= tol))
            fail_msg("%s %s with an added group: lr error %.3g, momentum error %.3g", c->sched, c->kwargs, lr_err,
                     mom_err);
    }
    tensor_free(t.param);
    cJSON_Delete(result);
    safetensors_free(ref);
    scope_end();
}

/* Save at step `at`, rebuild optimizer and scheduler (adding the group
 * again first when it was there, as a resumed run rebuilds its layout),
 * load and go on: the same lrs and momenta, bit for bit, as straight
 * through. at before ADD_AT: the state of 2 groups, the group added after
 * loading; at after it: the state of 3 groups. */
static void test_added_group_round_trip(void **state)
{
    scope_begin();
    static AddTrace a, b;
    a.param = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    b.param = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    const int points[] = {ADD_AT - 10, ADD_AT, ADD_AT + 10};
    for (int k = 0; k < N_CASES; k++) {
        const SchedCase *c = &cases[k];
        Setup su;
        setup_make(&su, c);
        add_record(&a, 0, &su);
        add_run(c, &su, &a, 0, N_STEPS);
        setup_free(&su);
        for (int p = 0; p < 3; p++) {
            int at = points[p];
            memset(b.lr, 0, sizeof b.lr);
            memset(b.momentum, 0, sizeof b.momentum);
            setup_make(&su, c);
            add_record(&b, 0, &su);
            add_run(c, &su, &b, 0, at);
            StateDict sd;
            state_dict_init(&sd);
            char *opt_json = NULL;
            assert_int_equal(optimizer_state_dict(su.opt, &sd, &opt_json), 0);
            char *sched_json = scheduler_state_dict(su.sched);
            assert_non_null(sched_json);
            setup_free(&su);

            setup_make(&su, c);
            if (at > ADD_AT) add_group(&su, &b);
            if (optimizer_load_state_dict(su.opt, &sd, opt_json) != 0) fail_engine("optimizer_load_state_dict");
            if (scheduler_load_state_dict(su.sched, sched_json) != 0) fail_engine("scheduler_load_state_dict");
            add_run(c, &su, &b, at, N_STEPS);
            setup_free(&su);
            state_dict_free(&sd);
            free(opt_json);
            free(sched_json);
            bool same = memcmp(a.lr, b.lr, sizeof a.lr) == 0 && memcmp(a.momentum, b.momentum, sizeof a.momentum) == 0;
            if (!same) fail_msg("%s %s: resumed at step %d (group added before %d) differs", c->sched, c->kwargs, at,
                                ADD_AT);
        }
        print_message("  %-18s resumed before, at and after the added group: exact\n", c->sched);
    }
    tensor_free(a.param);
    tensor_free(b.param);
    scope_end();
}

static void test_errors(void **state)
{
    scope_begin();
    Setup su;
    setup_make(&su, &cases[0]); /* StepLR on SGD */
    expect_failure(scheduler_step_metric(su.sched, 1.0) != 0, "StepLR: step takes no metric", NULL);
    char *json = scheduler_state_dict(su.sched);
    LRScheduler *exp = sched_exponential_lr(su.opt, (ExponentialLROptions){.gamma = 0.5});
    REQUIRE_OK(exp);
    expect_failure(scheduler_load_state_dict(exp, json) != 0,
                 "the state dict is of scheduler type StepLR, but this scheduler is ExponentialLR", NULL);
    expect_failure(scheduler_load_state_dict(exp, "[1, 2]") != 0, "not a JSON object", NULL);
    scheduler_free(exp);
    expect_failure(sched_step_lr(su.opt, (StepLROptions){.step_size = 0, .gamma = 0.1}) == NULL,
                 "step_size must be at least 1", NULL);
    expect_failure(sched_cosine_annealing_lr(su.opt, (CosineAnnealingLROptions){.T_max = 0}) == NULL,
                 "T_max must be at least 1", NULL);
    LinearLROptions lo = linear_lr_defaults();
    lo.start_factor = 0;
    expect_failure(sched_linear_lr(su.opt, lo) == NULL, "Starting multiplicative factor", NULL);

    OneCycleLROptions oo = one_cycle_lr_defaults();
    oo.max_lr = 0.1;
    expect_failure(sched_one_cycle_lr(su.opt, oo) == NULL, "You must define either total_steps OR", NULL);
    oo.total_steps = 10;
    oo.anneal_strategy = "exp";
    expect_failure(sched_one_cycle_lr(su.opt, oo) == NULL, "anneal_strategy must be one of 'cos' or 'linear'", NULL);
    oo.anneal_strategy = "cos";
    oo.pct_start = 1.5;
    expect_failure(sched_one_cycle_lr(su.opt, oo) == NULL, "Expected float between 0 and 1 pct_start", NULL);

    ReduceLROnPlateauOptions po = reduce_lr_on_plateau_defaults();
    po.factor = 1.0;
    expect_failure(sched_reduce_lr_on_plateau(su.opt, po) == NULL, "Factor should be < 1.0", NULL);
    po = reduce_lr_on_plateau_defaults();
    po.mode = "avg";
    expect_failure(sched_reduce_lr_on_plateau(su.opt, po) == NULL, "mode avg is unknown", NULL);
    po = reduce_lr_on_plateau_defaults();
    LRScheduler *plateau = sched_reduce_lr_on_plateau(su.opt, po);
    REQUIRE_OK(plateau);
    expect_failure(scheduler_step(plateau) != 0, "step needs the monitored metric", NULL);
    scheduler_free(plateau);

    /* a state for two groups does not load into a scheduler of one */
    Tensor *lone = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    Optimizer *one = optim_sgd(&lone, 1, sgd_defaults());
    LRScheduler *step1 = sched_step_lr(one, step_lr_defaults());
    REQUIRE_OK(step1);
    expect_failure(scheduler_load_state_dict(step1, json) != 0, "'_last_lr' must be a list of 1 numbers", NULL);
    scheduler_free(step1);
    /* cycling momentum needs an optimizer that has one */
    Optimizer *adagrad = optim_adagrad(&lone, 1, adagrad_defaults());
    oo = one_cycle_lr_defaults();
    oo.max_lr = 0.1;
    oo.total_steps = 10;
    expect_failure(sched_one_cycle_lr(adagrad, oo) == NULL, "optimizer must support momentum", NULL);
    /* OneCycleLR past its total steps */
    oo.cycle_momentum = false;
    LRScheduler *cycle = sched_one_cycle_lr(adagrad, oo);
    REQUIRE_OK(cycle);
    for (int i = 0; i < 10; i++) assert_int_equal(scheduler_step(cycle), 0);
    double last = adagrad->groups[0].lr;
    expect_failure(scheduler_step(cycle) != 0, "Tried to step 12 times. The specified number of total steps is 10", NULL);
    assert_true(adagrad->groups[0].lr == last);
    scheduler_free(cycle);
    optimizer_free(adagrad);
    optimizer_free(one);
    tensor_free(lone);
    free(json);

    /* a group added after the scheduler was made is taken in; a state of
     * 2 groups then no longer loads (the layout must be rebuilt first) */
    char *json2 = scheduler_state_dict(su.sched);
    Tensor *extra = tensor_persist(tensor_zeros(SHAPE(1), DT_F32, CPU));
    assert_int_equal(optimizer_add_param_group(su.opt, &extra, 1), N_GROUPS);
    assert_int_equal(scheduler_step(su.sched), 0);
    assert_int_equal(scheduler_n_groups(su.sched), N_GROUPS + 1);
    expect_failure(scheduler_load_state_dict(su.sched, json2) != 0, "'_last_lr' must be a list of 3 numbers", NULL);
    free(json2);
    setup_free(&su);
    tensor_free(extra);
    scope_end();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedulers_against_torch),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_added_group_against_torch),
        cmocka_unit_test(test_added_group_round_trip),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
