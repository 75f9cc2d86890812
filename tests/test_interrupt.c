/* Where SIGINT and SIGTERM run (utils/interrupt.c): after interrupt_install
 * they are blocked in the installing thread and in every thread started
 * later (a pthread's, OpenMP's), and a signal sent to the process still
 * sets the stop flag, taken by the thread that waits for them. A handler
 * on a compute thread could land in oneDNN's GEMM kernels, which point the
 * stack pointer into the heap, and write its frame there. */
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "utils/interrupt.h"

/* Whether the calling thread blocks both stop signals. */
static bool blocks_stop_signals(void)
{
    sigset_t mask;
    if (pthread_sigmask(SIG_BLOCK, NULL, &mask) != 0) return false;
    return sigismember(&mask, SIGINT) == 1 && sigismember(&mask, SIGTERM) == 1;
}

static void *report_mask(void *out)
{
    *(bool *)out = blocks_stop_signals();
    return NULL;
}

static bool a_new_thread_blocks_stop_signals(void)
{
    pthread_t t;
    bool blocked = false;
    assert_int_equal(pthread_create(&t, NULL, report_mask, &blocked), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    return blocked;
}

static void test_stop_signals_are_blocked_in_every_thread_started_after_install(void **state)
{
    (void)state;
    assert_false(a_new_thread_blocks_stop_signals()); /* the default, before */
    assert_int_equal(interrupt_install(), 0);
    assert_true(blocks_stop_signals());
    assert_true(a_new_thread_blocks_stop_signals());
    int threads = 0, blocking = 0;
#pragma omp parallel num_threads(2) reduction(+ : threads, blocking)
    {
        threads += 1;
        blocking += blocks_stop_signals();
    }
    print_message("  %d OpenMP threads, %d of them block SIGINT and SIGTERM\n", threads, blocking);
    assert_int_equal(blocking, threads);
}

static void test_a_signal_to_the_process_sets_the_stop_flag(void **state)
{
    (void)state;
    assert_int_equal(interrupt_install(), 0); /* a second call changes nothing */
    assert_int_equal(interrupt_requested(), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    /* every thread here blocks it: only the waiting thread can take it */
    for (int i = 0; i < 1000 && !interrupt_requested(); i++) nanosleep(&(struct timespec){0, 10000000}, NULL);
    assert_int_equal(interrupt_requested(), SIGTERM);
    assert_string_equal(interrupt_name(interrupt_requested()), "SIGTERM");
    assert_int_equal(interrupt_exit_status(SIGTERM), 143);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stop_signals_are_blocked_in_every_thread_started_after_install),
        cmocka_unit_test(test_a_signal_to_the_process_sets_the_stop_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
