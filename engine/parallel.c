/* See parallel.h. OpenMP runs the pieces; inside each, nthreads-var is 1, so
 * the kernels' own parallel regions run on the calling thread (BLAS is
 * single-threaded throughout: linalg.c). */
#include "engine/parallel.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/autocast.h"
#include "engine/autograd.h"
#include "engine/error.h"

int engine_num_threads(void) { return omp_get_max_threads(); }

enum { PIECE_ERROR_MAX = 1024 };

int engine_parallel_for(int n, ParallelFn fn, void *ctx)
{
    if (n <= 0) return 0;
    bool grad = grad_enabled();
    AutocastState autocast = autocast_state();
    int threads = omp_get_max_threads() < n ? omp_get_max_threads() : n;
    char *errors = calloc((size_t)n, PIECE_ERROR_MAX);
    ENGINE_CHECK_INT(errors != NULL, "out of memory for %d parallel pieces", n);
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int i = 0; i < n; i++) {
        omp_set_num_threads(1); /* this task's nested regions: one thread */
        bool grad_before = grad_mode_set(grad);
        AutocastState autocast_before = autocast_state();
        autocast_restore(autocast);
        engine_clear_error();
        if (fn(i, ctx) != 0) {
            const char *msg = engine_last_error();
            snprintf(errors + (size_t)i * PIECE_ERROR_MAX, PIECE_ERROR_MAX, "%s",
                     msg && *msg ? msg : "a parallel piece failed without a message");
        }
        autocast_restore(autocast_before);
        grad_mode_set(grad_before);
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *msg = errors + (size_t)i * PIECE_ERROR_MAX;
        if (*msg) {
            engine_error("%s", msg);
            rc = -1;
        }
    }
    free(errors);
    return rc;
}
