/* The per-thread autocast state and the casts the op layer makes under it
 * (see autocast.h). */
#include "engine/autocast.h"

#include <string.h>

#include "engine/ops.h"

static _Thread_local AutocastState state = {false, DT_BF16};

int autocast_begin(DType dtype, AutocastState *prev)
{
    ENGINE_CHECK_INT(dtype_is_lowp(dtype), "autocast: expected dtype bfloat16 or float16, got %s", dtype_name(dtype));
    if (prev) *prev = state;
    state = (AutocastState){true, dtype};
    return 0;
}

void autocast_restore(AutocastState prev) { state = prev; }

AutocastState autocast_state(void) { return state; }

bool autocast_parse_dtype(const char *name, DType *out)
{
    static const struct {
        const char *name;
        DType dt;
    } names[] = {{"bf16", DT_BF16}, {"bfloat16", DT_BF16}, {"fp16", DT_F16}, {"f16", DT_F16}, {"float16", DT_F16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].dt;
            return true;
        }
    return false;
}

/* The dtype an op of kind computes in (every floating input rounded
 * through it) and the dtype of its result: 0 when it runs as it is (no low
 * precision anywhere), 1 when it does not, -1 with an error. */
static int plan(AutocastKind kind, Tensor *const *ts, int n, DType *compute, DType *out_dtype)
{
    /* the low dtype among the floating inputs (the first one found) */
    DType low = DT_F32;
    bool any_f32 = false;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (dtype_is_lowp(ts[i]->dtype) && low == DT_F32) low = ts[i]->dtype;
        if (ts[i]->dtype == DT_F32) any_f32 = true;
    }
    if (kind == AUTOCAST_LOWP && state.enabled) {
        *compute = state.dtype;
        *out_dtype = state.dtype;
    } else if (low == DT_F32) {
        return 0;
    } else if (kind == AUTOCAST_F32 && state.enabled) {
        *compute = DT_F32;
        *out_dtype = DT_F32;
    } else if (kind == AUTOCAST_KEEP && any_f32) {
        *compute = DT_F32; /* bf16 op f32 promotes to f32, as in PyTorch */
        *out_dtype = DT_F32;
    } else {
        *compute = low; /* mixed bf16/f16 inputs round through the first one's type */
        *out_dtype = low;
    }
    return 1;
}

int autocast_prepare(AutocastKind kind, Tensor *const *ts, int n, Tensor **f32_inputs, DType *out_dtype)
{
    DType compute; /* the dtype every floating input is rounded through */
    int rc = plan(kind, ts, n, &compute, out_dtype);
    if (rc <= 0) return rc;
    bool any_cast = false;
    for (int i = 0; i < n; i++) {
        f32_inputs[i] = ts[i];
        if (!ts[i] || !dtype_is_floating(ts[i]->dtype)) continue;
        Tensor *r = tensor_to_dtype(ts[i], compute);
        if (!r) return -1;
        f32_inputs[i] = tensor_to_dtype(r, DT_F32);
        if (!f32_inputs[i]) return -1;
        any_cast = true;
    }
    if (!any_cast && *out_dtype == DT_F32) return 0;
    return 1;
}

static bool native_lowp = true;

void autocast_set_native_lowp(bool on) { native_lowp = on; }

int autocast_native_lowp(Tensor **const *operands, int n, AutocastNativeFn native, const void *ctx)
{
    enum { MAX_OPERANDS = 4 };
    if (!native_lowp || n > MAX_OPERANDS) return 0;
    Tensor *ts[MAX_OPERANDS], *lowp[MAX_OPERANDS];
    for (int i = 0; i < n; i++) ts[i] = *operands[i];
    DType compute, out_dtype;
    int rc = plan(AUTOCAST_LOWP, ts, n, &compute, &out_dtype);
    if (rc <= 0 || !dtype_is_lowp(compute) || out_dtype != compute) return rc < 0 ? -1 : 0;
    const Tensor *first = NULL;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (!dtype_is_floating(ts[i]->dtype)) return 0;
        if (!first) first = ts[i];
        else if (!device_equal(tensor_device(ts[i]), tensor_device(first))) return 0; /* the usual path says why */
    }
    if (!native(compute, ctx)) return 0;
    for (int i = 0; i < n; i++) {
        lowp[i] = ts[i] ? tensor_to_dtype(ts[i], compute) : NULL;
        if (ts[i] && !lowp[i]) return -1;
    }
    for (int i = 0; i < n; i++) *operands[i] = lowp[i];
    return 1;
}
