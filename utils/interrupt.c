/* SIGINT / SIGTERM / SIGXFSZ handling (see interrupt.h).
 *
 * Where a stop signal runs: on a thread of its own. interrupt_install
 * blocks SIGINT and SIGTERM in the calling thread, so that every thread
 * started after it inherits the block (it runs first in main: the data
 * loader's workers, OpenMP's, MPI's and CUDA's threads come later), and
 * starts one thread that takes them with sigwait. Why not a handler on
 * whichever thread the kernel picks: the kernel writes a handler's frame
 * below the interrupted thread's stack pointer, and oneDNN's JIT f32 GEMM
 * kernels (Debian's 2.6; fixed upstream in 3.11.2) point it into the heap
 * while they run. A SIGINT that landed in one (the linear layers' sgemm on
 * a batch shard) corrupted the heap, and the run crashed later in a free:
 * about one run in 200 stopped as the signal tests stop them, and one in
 * five with a signal every 10 ms. The handler stays installed for the
 * threads that were already running (a library's, started before main),
 * which keep the signals unblocked. */
#include "utils/interrupt.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"

/* Atomic, not just volatile: the waiting thread sets it as well as handlers. */
static atomic_int requested;

/* Async-signal-safe: a flag, and on the second signal write(2) + _exit. */
static void on_stop_signal(int sig)
{
    if (atomic_load(&requested)) {
        static const char msg[] = "\nsecond interrupt: exiting at once (no checkpoint of this position)\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(128 + sig);
    }
    atomic_store(&requested, sig);
}

static sigset_t stop_signals;

static void *wait_for_stop_signals(void *unused)
{
    (void)unused;
    for (;;) {
        int sig;
        if (sigwait(&stop_signals, &sig) == 0) on_stop_signal(sig);
    }
    return NULL;
}

int interrupt_install(void)
{
    static bool installed;
    if (installed) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART; /* blocking reads and writes carry on after the flag is set */
    sigemptyset(&sa.sa_mask);
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ENGINE_CHECK_INT(sigaction(SIGINT, &sa, NULL) == 0 && sigaction(SIGTERM, &sa, NULL) == 0 &&
                         sigaction(SIGXFSZ, &ignore, NULL) == 0,
                     "cannot install signal handlers: %s", strerror(errno));
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigset_t before;
    int err = pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
    ENGINE_CHECK_INT(err == 0, "cannot block SIGINT and SIGTERM: %s", strerror(err));
    pthread_t waiter;
    err = pthread_create(&waiter, NULL, wait_for_stop_signals, NULL);
    if (err != 0) {
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        engine_error("cannot start the thread that waits for SIGINT and SIGTERM: %s", strerror(err));
        return -1;
    }
    pthread_detach(waiter);
    installed = true;
    return 0;
}

int interrupt_requested(void) { return atomic_load(&requested); }

const char *interrupt_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
    }
}

int interrupt_exit_status(int sig) { return 128 + sig; }
