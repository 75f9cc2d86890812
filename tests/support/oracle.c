/* The PyTorch oracle's C side (see oracle.h). */
#include "tests/support/oracle.h"
#include "tests/support/ref_dir.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

enum { ORACLE_MAX_INPUTS = 16 };

typedef struct {
    char op[64];
    char *args;
    int n_inputs;
    bool needs_grad[ORACLE_MAX_INPUTS];
    bool has_grad_out;
} OracleCase;

struct Oracle {
    char name[64];
    OracleCase *cases;
    int n_cases, cap_cases;
    /* tensors to send */
    char **names;
    Tensor **tensors;
    int n_tensors, cap_tensors;
    Safetensors *result;
};

Oracle *oracle_new(const char *name)
{
    Oracle *o = calloc(1, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    return o;
}

void oracle_free(Oracle *o)
{
    if (!o) return;
    for (int i = 0; i < o->n_cases; i++) free(o->cases[i].args);
    for (int i = 0; i < o->n_tensors; i++) free(o->names[i]);
    free(o->cases);
    free(o->names);
    free(o->tensors);
    safetensors_free(o->result);
    free(o);
}

static void add_tensor(Oracle *o, const char *name, Tensor *t)
{
    if (o->n_tensors == o->cap_tensors) {
        o->cap_tensors = o->cap_tensors ? 2 * o->cap_tensors : 64;
        o->names = realloc(o->names, sizeof(char *) * (size_t)o->cap_tensors);
        o->tensors = realloc(o->tensors, sizeof(Tensor *) * (size_t)o->cap_tensors);
    }
    o->names[o->n_tensors] = strdup(name);
    o->tensors[o->n_tensors] = t;
    o->n_tensors++;
}

int oracle_add(Oracle *o, const char *op, const char *args_json, int n_inputs, Tensor *const *inputs,
               Tensor *grad_out)
{
    if (o->n_cases == o->cap_cases) {
        o->cap_cases = o->cap_cases ? 2 * o->cap_cases : 16;
        o->cases = realloc(o->cases, sizeof(OracleCase) * (size_t)o->cap_cases);
    }
    /* a test bug, not a user error: abort before writing past needs_grad */
    ENGINE_ASSERT(n_inputs >= 0 && n_inputs <= ORACLE_MAX_INPUTS);
    int k = o->n_cases++;
    OracleCase *c = &o->cases[k];
    memset(c, 0, sizeof *c);
    snprintf(c->op, sizeof c->op, "%s", op);
    c->args = strdup(args_json ? args_json : "{}");
    c->n_inputs = n_inputs;
    char name[64];
    for (int i = 0; i < n_inputs; i++) {
        c->needs_grad[i] = inputs[i] && inputs[i]->requires_grad;
        snprintf(name, sizeof name, "c%d.in%d", k, i);
        if (inputs[i]) add_tensor(o, name, inputs[i]);
    }
    if (grad_out) {
        c->has_grad_out = true;
        snprintf(name, sizeof name, "c%d.gout", k);
        add_tensor(o, name, grad_out);
    }
    return k;
}

int oracle_run(Oracle *o)
{
    if (TORCH_PYTHON[0] == '\0') return 1;
    cJSON *cases = cJSON_CreateArray();
    for (int k = 0; k < o->n_cases; k++) {
        OracleCase *c = &o->cases[k];
        cJSON *jc = cJSON_CreateObject();
        cJSON_AddStringToObject(jc, "op", c->op);
        cJSON *args = cJSON_Parse(c->args);
        if (!args) {
            fprintf(stderr, "oracle %s: case %d (%s): args are not valid JSON: %s\n", o->name, k, c->op, c->args);
            cJSON_Delete(cases);
            cJSON_Delete(jc);
            return -1;
        }
        cJSON_AddItemToObject(jc, "args", args);
        cJSON_AddNumberToObject(jc, "n_inputs", c->n_inputs);
        cJSON *ng = cJSON_AddArrayToObject(jc, "needs_grad");
        for (int i = 0; i < c->n_inputs; i++) cJSON_AddItemToArray(ng, cJSON_CreateBool(c->needs_grad[i]));
        cJSON_AddBoolToObject(jc, "has_grad_out", c->has_grad_out);
        cJSON_AddItemToArray(cases, jc);
    }
    char *cases_json = cJSON_PrintUnformatted(cases);
    cJSON_Delete(cases);
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char in_path[512], out_path[512];
    snprintf(in_path, sizeof in_path, "%s/oracle_%s_%d_in.safetensors", tmpdir, o->name, (int)getpid());
    snprintf(out_path, sizeof out_path, "%s/oracle_%s_%d_out.safetensors", tmpdir, o->name, (int)getpid());
    const char *keys[] = {"cases"};
    const char *values[] = {cases_json};
    int rc = safetensors_save(in_path, o->n_tensors, (const char *const *)o->names, o->tensors, 1, keys, values);
    free(cases_json);
    if (rc != 0) {
        fprintf(stderr, "oracle %s: %s\n", o->name, engine_last_error());
        return -1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s/oracle.py' '%s' '%s'", TORCH_PYTHON, ref_dir(), in_path, out_path);
    int status = system(cmd);
    unlink(in_path);
    if (status == -1 || !WIFEXITED(status)) {
        fprintf(stderr, "oracle %s: could not run %s\n", o->name, cmd);
        return -1;
    }
    if (WEXITSTATUS(status) == 3) return 1; /* torch not importable */
    if (WEXITSTATUS(status) != 0) {
        fprintf(stderr, "oracle %s: reference script failed (exit %d)\n", o->name, WEXITSTATUS(status));
        return -1;
    }
    o->result = safetensors_load(out_path);
    unlink(out_path);
    if (!o->result) {
        fprintf(stderr, "oracle %s: %s\n", o->name, engine_last_error());
        return -1;
    }
    return 0;
}

Tensor *oracle_output(Oracle *o, int case_index, int k)
{
    char name[64];
    snprintf(name, sizeof name, "c%d.out%d", case_index, k);
    return o->result ? safetensors_get(o->result, name) : NULL;
}

Tensor *oracle_grad(Oracle *o, int case_index, int input_index)
{
    char name[64];
    snprintf(name, sizeof name, "c%d.grad%d", case_index, input_index);
    return o->result ? safetensors_get(o->result, name) : NULL;
}

/* ---- non-finite values ---- */

/* The f32 values of t in row-major order, in a malloc'd buffer. */
static float *host_values(Tensor *t)
{
    bool mode = no_grad_begin();
    Tensor *f = tensor_to_dtype(t_contiguous(t), DT_F32);
    grad_mode_restore(mode);
    float *buf = malloc(sizeof(float) * (size_t)(tensor_numel(t) + 1));
    assert_non_null(f);
    assert_non_null(buf);
    assert_int_equal(tensor_copy_to_buffer(f, buf), 0);
    return buf;
}

void put_nonfinite_at(Tensor *t, int64_t i, char kind)
{
    ENGINE_ASSERT(t->dtype == DT_F32 && device_equal(tensor_device(t), CPU) && i >= 0 && i < tensor_numel(t));
    int64_t off = t->offset;
    for (int d = t->shape.ndim - 1; d >= 0; d--) {
        off += (i % t->shape.d[d]) * t->strides[d];
        i /= t->shape.d[d];
    }
    float *data = (float *)t->storage->data;
    switch (kind) {
    case 'n': data[off] = NAN; break;
    case '+': data[off] = INFINITY; break;
    case '-': data[off] = -INFINITY; break;
    case '0': data[off] = 0.0f; break;
    default: break;
    }
}

void put_nonfinite(Tensor *t, const char *pattern)
{
    int64_t n = (int64_t)strlen(pattern);
    ENGINE_ASSERT(n > 0);
    for (int64_t i = 0; i < tensor_numel(t); i++) put_nonfinite_at(t, i, pattern[i % n]);
}

void sprinkle_nonfinite(Tensor *t, int n_nan, int n_pos, int n_neg, Generator *g)
{
    int total = n_nan + n_pos + n_neg;
    if (total == 0 || tensor_numel(t) == 0) return;
    Tensor *at = tensor_randint(0, tensor_numel(t), SHAPE(total), g, CPU);
    ENGINE_ASSERT(at != NULL);
    for (int k = 0; k < total; k++) put_nonfinite_at(t, tensor_i64(at)[k], k < n_nan ? 'n' : k < n_nan + n_pos ? '+' : '-');
}

static const char *value_kind(float v) { return isnan(v) ? "NaN" : isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : "finite"; }

void expect_close_nonfinite(Tensor *ours, Tensor *ref, double tol, const char *label)
{
    assert_non_null(ours);
    assert_non_null(ref);
    if (!shape_equal(ours->shape, ref->shape))
        fail_msg("%s: shape mismatch: ours %s, reference %s", label, shape_str(ours->shape), shape_str(ref->shape));
    float *a = host_values(ours), *b = host_values(ref);
    int64_t numel = tensor_numel(ref), n_special = 0;
    double max_diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < numel; i++) {
        bool a_finite = isfinite(a[i]), b_finite = isfinite(b[i]);
        bool same_kind = isnan(b[i]) ? isnan(a[i]) : isinf(b[i]) ? a[i] == b[i] : a_finite;
        if (!same_kind) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s: element %lld is %s (%g), the reference's is %s (%g)", label, (long long)i,
                     value_kind(a[i]), (double)a[i], value_kind(b[i]), (double)b[i]);
            free(a);
            free(b);
            fail_msg("%s", msg);
        }
        if (!b_finite) {
            n_special++;
            continue;
        }
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > max_diff) max_diff = d;
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    free(a);
    free(b);
    double err = max_diff / scale;
    print_message("  %-48s max rel err %.3g (tol %.0e), %lld non-finite matched\n", label, err, tol,
                  (long long)n_special);
    if (!(err <= tol)) fail_msg("%s: max relative error %.3g exceeds %.0e", label, err, tol);
}
