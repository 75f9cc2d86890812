/* Per-step values kept on the device (see step_values.h). */
#include "trainer/step_values.h"

#include <stdlib.h>

#include "engine/ops.h"
#include "engine/scope.h"

int step_values_init(StepValues *sv, int capacity, int n_values, Device device)
{
    *sv = (StepValues){.capacity = capacity, .n_values = n_values};
    sv->values = tensor_persist(tensor_zeros(SHAPE(capacity, n_values), DT_F32, device));
    sv->info = calloc((size_t)capacity, sizeof *sv->info);
    sv->host = calloc((size_t)capacity * (size_t)n_values, sizeof *sv->host);
    if (sv->values && sv->info && sv->host) return 0;
    step_values_free(sv);
    engine_error_context("out of memory for the values of %d steps", capacity);
    return -1;
}

void step_values_free(StepValues *sv)
{
    tensor_free(sv->values);
    free(sv->info);
    free(sv->host);
    *sv = (StepValues){0};
}

int step_values_push(StepValues *sv, Tensor *const *values, StepInfo info)
{
    ENGINE_ASSERT(sv->count < sv->capacity);
    scope_begin();
    int rc = 0;
    for (int i = 0; i < sv->n_values && rc == 0; i++) {
        Tensor *cell = t_select(t_select(sv->values, 0, sv->count), 0, i);
        rc = cell && values[i] ? tensor_copy_(cell, values[i]) : -1;
    }
    scope_end();
    if (rc) return -1;
    sv->info[sv->count++] = info;
    return 0;
}

int step_values_read(StepValues *sv)
{
    int rows = sv->count;
    if (rows == 0) return 0;
    scope_begin();
    int rc = tensor_copy_to_buffer(t_narrow(sv->values, 0, 0, rows), sv->host);
    scope_end();
    sv->count = 0;
    return rc ? -1 : rows;
}
