/* The local executor (see executor.h): fork + execv, waitpid(WNOHANG). */
#include "tuner/executor.h"

#include <errno.h>
#include <stdbool.h>
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

extern char **environ;

/* A launcher's variable: a trial is a plain ./train even when ./tune runs
 * under mpirun, and without these it joins no MPI job. */
static bool launcher_variable(const char *entry)
{
    return strncmp(entry, "OMPI_", 5) == 0 || strncmp(entry, "PMIX_", 5) == 0 || strncmp(entry, "PMI_", 4) == 0;
}

/* The trial's environment, made before fork (the child only execs): ours
 * without the launcher's variables, plus OMP_NUM_THREADS when asked for and
 * unset. The strings are environ's own, or omp (kept by the caller). */
static char **trial_environment(const Local *l, char *omp, size_t omp_size)
{
    size_t n = 0;
    while (environ[n]) n++;
    char **env = malloc(sizeof(char *) * (n + 2));
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!launcher_variable(environ[i])) env[k++] = environ[i];
    if (l->omp_threads > 0 && !getenv("OMP_NUM_THREADS")) {
        snprintf(omp, omp_size, "OMP_NUM_THREADS=%d", l->omp_threads);
        env[k++] = omp;
    }
    env[k] = NULL;
    return env;
}

static int local_start(Executor *e, char *const argv[], const char *log_path, int64_t *handle)
{
    Local *l = e->impl;
    char omp[48];
    char **env = trial_environment(l, omp, sizeof omp);
    ENGINE_CHECK_INT(env != NULL, "out of memory");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(env);
        engine_error("%s: cannot open: %s", log_path, strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fd);
        free(env);
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
        execve(argv[0], argv, env);
        dprintf(STDERR_FILENO, "error: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so that a signal sent at once finds the group */
    close(fd);
    free(env);
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
