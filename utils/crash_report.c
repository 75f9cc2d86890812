/* See crash_report.h. The handler only writes: the heap may be what broke,
 * so nothing in it allocates (backtrace() is called once at install, which
 * loads what it needs then). */
#include "utils/crash_report.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "engine/error.h"

enum { MAX_FRAMES = 64 };

static const char *program_name = "program";

static void write_text(const char *s)
{
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
    (void)ignored;
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bad memory access)";
    case SIGFPE: return "SIGFPE (arithmetic fault)";
    case SIGILL: return "SIGILL (illegal instruction: a CPU without an instruction this build uses?)";
    case SIGABRT: return "SIGABRT (aborted, e.g. by a failed check or heap corruption)";
    default: return "a fatal signal";
    }
}

static void on_crash(int sig)
{
    write_text("\n");
    write_text(program_name);
    write_text(": crashed with ");
    write_text(signal_name(sig));
    write_text("; stack of the crashing thread:\n");
    void *frames[MAX_FRAMES];
    int n = backtrace(frames, MAX_FRAMES);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    /* SA_RESETHAND has restored the default action: a core where enabled,
     * and the exit status of the signal */
    raise(sig);
}

int crash_report_install(const char *program)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)program; /* the sanitizer's own reports say more, and its handlers must stay */
    (void)on_crash;
    return 0;
#else
    if (program && *program) program_name = program;
    void *warm[1];
    (void)backtrace(warm, 1); /* loads libgcc's unwinder now, not in the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER; /* a crash inside the handler ends the process */
    sigemptyset(&sa.sa_mask);
    static const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        ENGINE_CHECK_INT(sigaction(signals[i], &sa, NULL) == 0, "cannot install the crash report for signal %d: %s",
                         signals[i], strerror(errno));
    return 0;
#endif
}
