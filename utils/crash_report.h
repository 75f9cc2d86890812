/* A last word from a program that crashes: on SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL or SIGABRT (glibc aborts on heap corruption), one line naming the
 * signal and the stack of the thread that took it go to stderr, then the
 * signal's default action runs (core dump, exit status 128 + signal), so
 * that a crash seen once (in CI, on a cluster) leaves more than its exit
 * status. The addresses resolve with addr2line -e PROGRAM -f ADDRESS. */
#ifndef UTILS_CRASH_REPORT_H
#define UTILS_CRASH_REPORT_H

/* Installs the handlers; call early in main(). 0, or -1 with an error. */
int crash_report_install(const char *program);

#endif
