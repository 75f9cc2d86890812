/* SIGINT / SIGTERM / SIGXFSZ handling (see interrupt.h). */
#include "utils/interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"

static volatile sig_atomic_t requested;

/* Async-signal-safe: a flag, and on the second signal write(2) + _exit. */
static void on_stop_signal(int sig)
{
    if (requested) {
        static const char msg[] = "\nsecond interrupt: exiting at once (no checkpoint of this position)\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(128 + sig);
    }
    requested = sig;
}

int interrupt_install(void)
{
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
    return 0;
}

int interrupt_requested(void) { return requested; }

const char *interrupt_name(int sig)
{
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
    }
}

int interrupt_exit_status(int sig) { return 128 + sig; }
