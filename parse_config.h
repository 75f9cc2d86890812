/* ConfigParser, as in pytorch-template's parse_config.py: the command line
 * (-c, -r, -d, custom options such as --lr and --bs, --set key.path=value),
 * the effective config (a resumed checkpoint's config, updated by -c for
 * fine-tuning, then by the options), and the run folders
 * saved/models/<name>/<run_id>/ and saved/log/<name>/<run_id>/ with a copy
 * of the effective config. */
#ifndef PARSE_CONFIG_H
#define PARSE_CONFIG_H

#include <stdbool.h>

#include "base/checkpoint.h"
#include "utils/config.h"

/* A command-line option that sets a config key (train.c's CustomArgs). */
typedef struct {
    const char *flag;     /* "--lr" */
    const char *alias;    /* "--learning_rate", or NULL */
    const char *target;   /* "optimizer.args.lr" */
    const char *help;
} CustomArg;

typedef struct {
    Config *config;
    Checkpoint *resume; /* loaded and checked when -r was given */
    bool fine_tune;     /* -c together with -r */
    char run_id[64];
    char models_dir[4096]; /* <save_dir>/models: where best.ckpt links to the newest best model */
    char save_dir[4096]; /* empty when no run folders were made */
    char log_dir[4096];
} ConfigParser;

/* Parses argv. Returns NULL with an error for bad input; sets *exit_now
 * (and prints usage) for -h. make_run_dirs: create the run folders (train). */
ConfigParser *config_parser_from_args(int argc, char **argv, const char *description, const CustomArg *custom,
                                      int n_custom, bool make_run_dirs, bool *exit_now);
void config_parser_free(ConfigParser *cp);
/* Removes the run folders again (a run that failed or was stopped before
 * it trained an epoch leaves nothing behind); only files the run itself
 * writes there are removed, and a folder holding anything else is kept. */
void config_parser_discard_run_dirs(ConfigParser *cp);

#endif
