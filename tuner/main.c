/* ./tune -c config.json -s search.json: hyper-parameter search over config
 * keys, each trial an ordinary ./train run (see README "Hyper-parameter
 * search"); ./tune -r FOLDER resumes an interrupted search. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/error.h"
#include "dist/world.h"
#include "tuner/tune.h"
#include "utils/config_schema.h"
#include "utils/fs.h"

static void usage(const char *prog)
{
    printf("usage: %s -c CONFIG -s SEARCH [--set KEY.PATH=VALUE]... [--search-set KEY=VALUE]... [--train PATH]\n"
           "       %s -r SEARCH_FOLDER [--train PATH]\n\n"
           "Hyper-parameter search: every trial is a ./train run of CONFIG with the search's --set overrides.\n\n"
           "options:\n"
           "  -h, --help               show this help message and exit\n"
           "  -c, --config CONFIG      the config every trial starts from\n"
           "  -s, --search SEARCH      the search file (space, search, num_samples, max_concurrent, metric,\n"
           "                           scheduler, seed, tpe)\n"
           "  -r, --resume FOLDER      resume the search in FOLDER (<save_dir>/tune/<name>/<search_id>)\n"
           "  --set KEY.PATH=VALUE     set a key of CONFIG, as ./train --set (repeatable)\n"
           "  --search-set KEY=VALUE   set a key of SEARCH (repeatable), as --search-set num_samples=4\n"
           "  --train PATH             the ./train to run (default: the one beside this program)\n",
           prog, prog);
}

/* The train program beside this one (/proc/self/exe) or one folder up, or the one given. */
static int find_train(Tune *t, const char *given)
{
    if (given) {
        snprintf(t->train, sizeof t->train, "%s", given);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        ENGINE_CHECK_INT(n > 0, "cannot find this program's path (/proc/self/exe): %s", strerror(errno));
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) *slash = '\0';
        /* beside it (an installed copy), or one folder up (a build: build/tuner/tune and build/train) */
        snprintf(t->train, sizeof t->train, "%s/train", self);
        if (access(t->train, X_OK) != 0) snprintf(t->train, sizeof t->train, "%s/../train", self);
    }
    ENGINE_CHECK_INT(access(t->train, X_OK) == 0, "%s: cannot run it (%s): ./tune runs every trial with ./train "
                                                  "(build train_prog, or give --train PATH)", t->train, strerror(errno));
    char a[PATH_MAX], b[PATH_MAX];
    bool same = realpath("./train", a) && realpath(t->train, b) && strcmp(a, b) == 0;
    if (!same && realpath(t->train, b)) snprintf(t->train, sizeof t->train, "%s", b);
    snprintf(t->train_shown, sizeof t->train_shown, "%s", same ? "./train" : t->train);
    return 0;
}

static int default_concurrency(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 2 ? (int)(n / 2) : 1;
}

/* <save_dir>/tune/<name>/<MMDD_HHMMSS>, made new (a suffix when it exists). */
static int make_folder(Tune *t)
{
    const char *save_dir, *name;
    if (config_string(t->config, "trainer.save_dir", &save_dir) || config_string(t->config, "name", &name)) return -1;
    ENGINE_CHECK_INT(*name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..") && strlen(name) < 200,
                     "%s: name: must be a folder name, got \"%s\"", t->config->label, name);
    ENGINE_CHECK_INT(*save_dir && strlen(save_dir) < 3000, "%s: trainer.save_dir: must name a folder",
                     t->config->label);
    snprintf(t->name, sizeof t->name, "%s", name);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s%stune/%s", save_dir, save_dir[strlen(save_dir) - 1] == '/' ? "" : "/", name);
    if (fs_mkdirs(parent)) return -1;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%m%d_%H%M%S", &tm);
    for (int k = 0; k < 1000; k++) {
        if (k == 0) snprintf(t->folder, sizeof t->folder, "%s/%s", parent, stamp);
        else snprintf(t->folder, sizeof t->folder, "%s/%s_%d", parent, stamp, k);
        if (mkdir(t->folder, 0755) == 0) return 0;
        ENGINE_CHECK_INT(errno == EEXIST, "%s: cannot create: %s", t->folder, strerror(errno));
    }
    engine_error("%s: cannot make a new search folder", parent);
    return -1;
}

typedef struct {
    const char *config, *search, *resume, *train;
    const char *sets[256], *search_sets[256];
    int n_sets, n_search_sets;
} Args;

static int parse_args(int argc, char **argv, Args *a, bool *help)
{
    memset(a, 0, sizeof *a);
    *help = false;
    for (int i = 1; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            *help = true;
            return 0;
        }
        ENGINE_CHECK_INT(v != NULL, "%s expects a value (see %s -h)", o, argv[0]);
        if (!strcmp(o, "-c") || !strcmp(o, "--config")) a->config = v;
        else if (!strcmp(o, "-s") || !strcmp(o, "--search")) a->search = v;
        else if (!strcmp(o, "-r") || !strcmp(o, "--resume")) a->resume = v;
        else if (!strcmp(o, "--train")) a->train = v;
        else if (!strcmp(o, "--set")) {
            ENGINE_CHECK_INT(a->n_sets < 256 && strchr(v, '=') && v[0] != '=', "--set expects KEY.PATH=VALUE, got %s", v);
            a->sets[a->n_sets++] = v;
        } else if (!strcmp(o, "--search-set")) {
            ENGINE_CHECK_INT(a->n_search_sets < 256 && strchr(v, '=') && v[0] != '=',
                             "--search-set expects KEY=VALUE, got %s", v);
            a->search_sets[a->n_search_sets++] = v;
        } else {
            engine_error("unrecognized argument: %s (see %s -h)", o, argv[0]);
            return -1;
        }
    }
    if (a->resume) {
        ENGINE_CHECK_INT(!a->config && !a->search && !a->n_sets && !a->n_search_sets,
                         "-r resumes a search as it was set up: it takes no -c, -s, --set or --search-set");
        return 0;
    }
    ENGINE_CHECK_INT(a->config && a->search, "give the config and the search file: %s -c config.json -s search.json "
                                             "(or -r FOLDER to resume)", argv[0]);
    return 0;
}

static int apply_sets(Config *c, const char *const *sets, int n)
{
    for (int i = 0; i < n; i++) {
        char key[256];
        size_t k = (size_t)(strchr(sets[i], '=') - sets[i]);
        ENGINE_CHECK_INT(k < sizeof key, "--set %s: key too long", sets[i]);
        memcpy(key, sets[i], k);
        key[k] = '\0';
        if (config_set(c, key, sets[i] + k + 1)) return -1;
    }
    return 0;
}

static int setup_new(Tune *t, const Args *a)
{
    if (!(t->config = config_load(a->config)) || apply_sets(t->config, a->sets, a->n_sets) ||
        config_check_schema(t->config))
        return -1;
    if (!(t->search = config_load(a->search)) || apply_sets(t->search, a->search_sets, a->n_search_sets)) return -1;
    if (tune_spec_parse(&t->spec, t->search, t->config, default_concurrency())) return -1;
    if (make_folder(t)) return -1;
    snprintf(t->config_path, sizeof t->config_path, "%s/config.json", t->folder);
    char path[4200];
    snprintf(path, sizeof path, "%s/search.json", t->folder);
    return config_save(t->config, t->config_path) || config_save(t->search, path) ? -1 : 0;
}

static int setup_resume(Tune *t, const Args *a)
{
    size_t len = strlen(a->resume);
    ENGINE_CHECK_INT(len > 0 && len < 3000, "-r: expected a search folder");
    snprintf(t->folder, sizeof t->folder, "%s", a->resume);
    while (len > 1 && t->folder[len - 1] == '/') t->folder[--len] = '\0';
    snprintf(t->config_path, sizeof t->config_path, "%s/config.json", t->folder);
    char path[4200];
    snprintf(path, sizeof path, "%s/search.json", t->folder);
    ENGINE_CHECK_INT(fs_exists(t->config_path) && fs_exists(path),
                     "%s: not a search folder (no config.json and search.json from ./tune)", t->folder);
    if (!(t->config = config_load(t->config_path)) || !(t->search = config_load(path))) return -1;
    if (tune_spec_parse(&t->spec, t->search, t->config, default_concurrency())) return -1;
    const char *name;
    if (config_string(t->config, "name", &name)) return -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->trials = calloc((size_t)t->spec.n_trials, sizeof *t->trials);
    ENGINE_CHECK_INT(t->trials != NULL, "out of memory");
    return tune_state_load(t);
}

int main(int argc, char **argv)
{
    Args a;
    bool help;
    if (parse_args(argc, argv, &a, &help)) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 2;
    }
    if (help) {
        usage(argv[0]);
        return 0;
    }
    /* under mpirun rank 0 runs the search and the other ranks run its trials */
    if (dist_init()) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    if (dist_size() > 1 && !dist_is_main()) {
        /* signals are rank 0's to handle (it passes them to the trials, then says stop) */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int workers_here = dist_local_size() - (dist_local_size() == dist_size() ? 1 : 0);
        int threads = (int)(cores / (workers_here > 0 ? workers_here : 1));
        int rc = executor_mpi_serve(threads >= 1 ? threads : 1);
        if (rc) { /* rank 0 would wait for this rank's trials forever */
            fprintf(stderr, "error: rank %d: %s\n", dist_rank(), engine_last_error());
            dist_abort(1);
        }
        dist_finalize();
        return rc ? 1 : 0;
    }
    Tune t;
    memset(&t, 0, sizeof t);
    int lock_fd = -1;
    t.t0 = tune_now();
    t.tty = isatty(STDOUT_FILENO);
    int rc = -1;
    if (tune_install_signals() || find_train(&t, a.train)) goto out;
    if (a.resume ? setup_resume(&t, &a) : setup_new(&t, &a)) goto out;
    /* one ./tune per search folder: a second one would start the same trials again */
    char lock_path[4200];
    snprintf(lock_path, sizeof lock_path, "%s/tune.lock", t.folder);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        engine_error("%s: %s", t.folder,
                     lock_fd < 0 ? strerror(errno) : "another ./tune is running this search (tune.lock is held)");
        goto out;
    }
    if (!t.trials) {
        t.trials = calloc((size_t)t.spec.n_trials, sizeof *t.trials);
        if (!t.trials) {
            engine_error("out of memory");
            goto out;
        }
    }
    if (tune_scheduler_init(&t.sched, &t.spec.sched, t.spec.maximize, (int)t.spec.n_trials)) goto out;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = (int)(cores / t.spec.max_concurrent);
    if (dist_size() > 1) {
        /* under mpirun: a trial on each worker rank at a time */
        if (t.spec.max_concurrent != executor_mpi_workers())
            printf("mpirun: %d worker ranks run the trials, %d at a time (search.json's max_concurrent is %lld)\n",
                   executor_mpi_workers(), executor_mpi_workers(), (long long)t.spec.max_concurrent);
        t.spec.max_concurrent = executor_mpi_workers();
        if (!(t.exec = executor_mpi_new())) goto out;
    } else if (!(t.exec = executor_local_new(threads >= 1 ? threads : 1))) {
        goto out;
    }
    printf("%s search %s: %lld trials (%lld at a time), %s %s, scheduler %s, seed %llu\n",
           a.resume ? "resuming" : "starting", t.folder, (long long)t.spec.n_trials, (long long)t.spec.max_concurrent,
           t.spec.maximize ? "max" : "min", t.spec.metric, sched_kind_name(t.spec.sched.kind),
           (unsigned long long)t.spec.seed);
    fflush(stdout);
    rc = tune_run(&t);
    if (rc >= 0 || t.n_created > 0) {
        tune_print_table(&t, true);
        char png[4200];
        snprintf(png, sizeof png, "%s/results.png", t.folder);
        if (tune_draw_results(&t, png) == 0) printf("results: %s/trials.csv, %s\n", t.folder, png);
        else {
            fprintf(stderr, "warning: %s\n", engine_last_error());
            engine_clear_error();
        }
        if (rc == 0 && tune_write_best(&t)) rc = -1;
    }
    if (rc == 1)
        printf("interrupted: the trials that ran saved checkpoints; resume the search with:\n  %s -r %s\n", argv[0],
               t.folder);
out:
    if (rc < 0) fprintf(stderr, "error: %s\n", engine_has_error() ? engine_last_error() : "the search failed");
    int sig = tune_signal_received();
    if (!t.exec && dist_size() > 1) t.exec = executor_mpi_new(); /* to tell the workers to stop */
    if (t.exec) t.exec->destroy(t.exec);
    tune_scheduler_free(&t.sched);
    for (int k = 0; k < t.n_created; k++) {
        trial_free(t.trials[k]);
        free(t.trials[k]);
    }
    free(t.trials);
    tune_spec_free(&t.spec);
    config_free(t.config);
    config_free(t.search);
    if (lock_fd >= 0) close(lock_fd);
    dist_finalize();
    if (rc == 1) return 128 + (sig ? sig : 2);
    return rc == 0 ? 0 : 1;
}
