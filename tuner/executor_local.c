/* The local executor (see executor.h): fork + execv, waitpid(WNOHANG). */
#include "tuner/executor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/error.h"

typedef struct {
    int omp_threads;
} Local;

static int local_start(Executor *e, char *const argv[], const char *log_path, int64_t *handle)
{
    Local *l = e->impl;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ENGINE_CHECK_INT(fd >= 0, "%s: cannot open: %s", log_path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fd);
        engine_error("cannot start %s: fork: %s", argv[0], strerror(err));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* the parent's handlers do not survive exec; reset what it ignored */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(127);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, STDIN_FILENO);
        if (l->omp_threads > 0 && !getenv("OMP_NUM_THREADS")) {
            char n[16];
            snprintf(n, sizeof n, "%d", l->omp_threads);
            setenv("OMP_NUM_THREADS", n, 1);
        }
        execv(argv[0], argv);
        dprintf(STDERR_FILENO, "error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so that a signal sent at once finds the group */
    close(fd);
    *handle = pid;
    return 0;
}

static int local_poll(Executor *e, int64_t handle, int *status)
{
    int st;
    pid_t r = waitpid((pid_t)handle, &st, WNOHANG);
    if (r == 0) return 0;
    ENGINE_CHECK_INT(r == (pid_t)handle, "waitpid %lld: %s", (long long)handle, strerror(errno));
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    return 1;
}

static int local_signal(Executor *e, int64_t handle, int sig)
{
    ENGINE_CHECK_INT(kill((pid_t)handle, sig) == 0 || errno == ESRCH, "kill %lld: %s", (long long)handle,
                     strerror(errno));
    return 0;
}

static void local_destroy(Executor *e)
{
    if (!e) return;
    free(e->impl);
    free(e);
}

Executor *executor_local_new(int omp_threads)
{
    Executor *e = calloc(1, sizeof *e);
    Local *l = calloc(1, sizeof *l);
    if (!e || !l) {
        free(e);
        free(l);
        engine_error("out of memory");
        return NULL;
    }
    l->omp_threads = omp_threads;
    e->impl = l;
    e->start = local_start;
    e->poll = local_poll;
    e->signal = local_signal;
    e->destroy = local_destroy;
    return e;
}
