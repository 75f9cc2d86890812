/* ConfigParser (see parse_config.h). */
#include "parse_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "utils/config_schema.h"
#include "utils/fs.h"

static void usage(const char *prog, const char *description, const CustomArg *custom, int n_custom)
{
    printf("usage: %s [-h] [-c CONFIG] [-r RESUME] [-d DEVICE] [--set KEY.PATH=VALUE]...", prog);
    for (int i = 0; i < n_custom; i++) printf(" [%s VALUE]", custom[i].flag);
    printf("\n\n%s\n\noptions:\n", description);
    printf("  -h, --help            show this help message and exit\n");
    printf("  -c, --config CONFIG   config file path (default: None)\n");
    printf("  -r, --resume RESUME   path to latest checkpoint (default: None)\n");
    printf("  -d, --device DEVICE   indices of GPUs to enable (default: all)\n");
    printf("  --set KEY.PATH=VALUE  set any config key, typed from the value it replaces (repeatable)\n");
    for (int i = 0; i < n_custom; i++)
        printf("  %s%s%s VALUE  %s (sets %s)\n", custom[i].flag, custom[i].alias ? ", " : "",
               custom[i].alias ? custom[i].alias : "", custom[i].help, custom[i].target);
}

/* Creates save_dir/<kind>/<name>/<run_id>; a folder that already exists
 * (two runs in the same second) gets a suffix instead of being shared. */
static int make_run_dirs(ConfigParser *cp)
{
    const char *save_root, *name;
    if (config_string(cp->config, "trainer.save_dir", &save_root) || config_string(cp->config, "name", &name))
        return -1;
    ENGINE_CHECK_INT(*name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0,
                     "%s: name: must be a folder name (not empty, no '/', not '.' or '..'), got \"%s\"",
                     cp->config->label, name);
    ENGINE_CHECK_INT(strlen(name) <= 255, "%s: name: at most 255 characters (a folder name), got %zu",
                     cp->config->label, strlen(name));
    char root[4096];
    ENGINE_CHECK_INT(strlen(save_root) < 3000, "%s: trainer.save_dir: path too long (%zu characters)",
                     cp->config->label, strlen(save_root));
    snprintf(root, sizeof root, "%s", save_root);
    for (size_t len = strlen(root); len > 1 && root[len - 1] == '/'; len--) root[len - 1] = '\0';
    ENGINE_CHECK_INT(root[0] && strcmp(root, "/") != 0,
                     "%s: trainer.save_dir: must name a folder for the runs (not empty, not the file-system root), "
                     "got \"%s\"", cp->config->label, save_root);
    save_root = root;
    snprintf(cp->models_dir, sizeof cp->models_dir, "%s/models", save_root);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%m%d_%H%M%S", &tm);
    char models_parent[4096];
    snprintf(models_parent, sizeof models_parent, "%s/models/%s", save_root, name);
    if (fs_mkdirs(models_parent) != 0) return -1;
    for (int k = 0; k < 1000; k++) {
        if (k == 0) snprintf(cp->run_id, sizeof cp->run_id, "%s", stamp);
        else snprintf(cp->run_id, sizeof cp->run_id, "%s_%d", stamp, k);
        snprintf(cp->save_dir, sizeof cp->save_dir, "%s/%s", models_parent, cp->run_id);
        if (mkdir(cp->save_dir, 0755) == 0) break;
        ENGINE_CHECK_INT(errno == EEXIST, "%s: cannot create: %s", cp->save_dir, strerror(errno));
    }
    snprintf(cp->log_dir, sizeof cp->log_dir, "%s/log/%s/%s", save_root, name, cp->run_id);
    if (fs_mkdirs(cp->log_dir) != 0) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", cp->save_dir);
    return config_save(cp->config, path);
}

/* The config travels in every checkpoint's metadata: refuse at the start
 * what the checkpoint writer would refuse after an epoch of training. */
#define CONFIG_MAX_BYTES (16u << 20)
static int check_config_size(const Config *c)
{
    char *text = config_to_string(c);
    ENGINE_CHECK_INT(text != NULL, "%s: out of memory", c->label);
    size_t n = strlen(text);
    free(text);
    ENGINE_CHECK_INT(n <= CONFIG_MAX_BYTES, "%s: the config is %.1f MiB as JSON; at most %u MiB fits into a checkpoint",
                     c->label, (double)n / (1 << 20), CONFIG_MAX_BYTES >> 20);
    return 0;
}

/* rmdir after removing the named files; stops at anything else. */
static void remove_run_dir(const char *dir, const char *const *files)
{
    char path[4400];
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir); /* fails, and keeps it, when something else is there */
    /* the <name> folder above, when this run was its only one */
    snprintf(path, sizeof path, "%s", dir);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        rmdir(path);
    }
}

void config_parser_discard_run_dirs(ConfigParser *cp)
{
    if (!cp || !cp->save_dir[0]) return;
    static const char *const model_files[] = {"config.json", NULL};
    static const char *const log_files[] = {"info.log", "metrics.csv", "curves.png", "input_grid.png", NULL};
    remove_run_dir(cp->save_dir, model_files);
    /* TensorBoard's event file has a generated name: remove events.out.tfevents.* too */
    DIR *d = opendir(cp->log_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "events.out.tfevents.", 20) == 0) unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    remove_run_dir(cp->log_dir, log_files);
    cp->save_dir[0] = cp->log_dir[0] = '\0';
}

void config_parser_free(ConfigParser *cp)
{
    if (!cp) return;
    config_free(cp->config);
    checkpoint_free(cp->resume);
    free(cp);
}

ConfigParser *config_parser_from_args(int argc, char **argv, const char *description, const CustomArg *custom,
                                      int n_custom, bool make_dirs, bool *exit_now)
{
    *exit_now = false;
    const char *config_path = NULL, *resume_path = NULL, *device = NULL;
    const char *sets[256][2];
    int n_sets = 0;
    for (int i = 1; i < argc; i += 2) { /* every option takes one value */
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(argv[0], description, custom, n_custom);
            *exit_now = true;
            return NULL;
        }
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_value = true;
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) config_path = next;
        else if (strcmp(a, "-r") == 0 || strcmp(a, "--resume") == 0) resume_path = next;
        else if (strcmp(a, "-d") == 0 || strcmp(a, "--device") == 0) device = next;
        else if (strcmp(a, "--set") == 0) {
            ENGINE_CHECK(next && strchr(next, '='), "--set expects KEY.PATH=VALUE, got %s", next ? next : "nothing");
            ENGINE_CHECK(n_sets < 256, "too many --set options");
            static char keys[256][256];
            size_t klen = (size_t)(strchr(next, '=') - next);
            ENGINE_CHECK(klen > 0 && klen < 256, "--set %s: bad key", next);
            memcpy(keys[n_sets], next, klen);
            keys[n_sets][klen] = '\0';
            sets[n_sets][0] = keys[n_sets];
            sets[n_sets][1] = next + klen + 1;
            n_sets++;
        } else {
            takes_value = false;
            for (int k = 0; k < n_custom; k++)
                if (strcmp(a, custom[k].flag) == 0 || (custom[k].alias && strcmp(a, custom[k].alias) == 0)) {
                    ENGINE_CHECK(next, "%s expects a value", a);
                    ENGINE_CHECK(n_sets < 256, "too many options");
                    sets[n_sets][0] = custom[k].target;
                    sets[n_sets][1] = next;
                    n_sets++;
                    takes_value = true;
                }
            ENGINE_CHECK(takes_value, "unrecognized argument: %s (see %s -h)", a, argv[0]);
        }
        ENGINE_CHECK(next, "%s expects a value", a);
    }
    if (device) setenv("CUDA_VISIBLE_DEVICES", device, 1);
    ENGINE_CHECK(config_path || resume_path,
                 "Configuration file need to be specified. Add '-c config.json', for example.");

    ConfigParser *cp = calloc(1, sizeof *cp);
    ENGINE_ASSERT(cp != NULL);
    if (resume_path) {
        cp->resume = checkpoint_load(resume_path);
        if (!cp->resume) goto fail;
        cp->config = cp->resume->config; /* the checkpoint's config is the base */
        cp->resume->config = NULL;
        if (config_path) { /* fine-tuning: the new config wins */
            Config *update = config_load(config_path);
            if (!update) goto fail;
            config_update(cp->config, update);
            free(cp->config->label);
            cp->config->label = strdup(config_path);
            config_free(update);
            cp->fine_tune = true;
        }
    } else {
        cp->config = config_load(config_path);
        if (!cp->config) goto fail;
    }
    for (int i = 0; i < n_sets; i++)
        if (config_set(cp->config, sets[i][0], sets[i][1]) != 0) goto fail;
    if (config_check_schema(cp->config) != 0 || check_config_size(cp->config) != 0) goto fail;
    if (make_dirs && make_run_dirs(cp) != 0) goto fail;
    return cp;
fail:
    config_parser_free(cp);
    return NULL;
}
