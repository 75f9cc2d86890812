/* Fuzzes the command line of ./train and ./test (utils/parse_config.h,
 * config_parser_from_args without run folders): the input is a config
 * file's text, then, after a NUL byte, NUL-separated command-line
 * arguments. The harness runs "train -c CONFIG <arguments>" with the
 * config written to a file; the value of every -c/--config/-r/--resume
 * among the arguments is replaced by that file's path, so nothing else on
 * the machine is ever read. The effective config must print and parse
 * again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/fuzz/fuzz_support.h"
#include "parse_config.h"

#define CHECK(cond)                                                                                             \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "fuzz_parse_config: %s:%d: check failed: %s (error: %s)\n", __FILE__, __LINE__, #cond, \
                    engine_last_error());                                                                       \
            abort();                                                                                            \
        }                                                                                                       \
    } while (0)

/* train.c's options */
static const CustomArg custom_args[] = {
    {"--lr", "--learning_rate", "optimizer.args.lr", "learning rate"},
    {"--bs", "--batch_size", "data_loader.args.batch_size", "batch size"},
};
#define N_CUSTOM ((int)(sizeof custom_args / sizeof custom_args[0]))
#define MAX_ARGS 600

static bool is(const char *a, const char *x, const char *y) { return strcmp(a, x) == 0 || strcmp(a, y) == 0; }

static bool takes_value(const char *a)
{
    if (is(a, "-d", "--device") || strcmp(a, "--set") == 0) return true;
    for (int k = 0; k < N_CUSTOM; k++)
        if (is(a, custom_args[k].flag, custom_args[k].alias)) return true;
    return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_init();
    /* -h prints the usage on stdout: keep the fuzzer's output readable */
    if (!freopen("/dev/null", "w", stdout)) perror("fuzz_parse_config: /dev/null");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    engine_clear_error();
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t config_len = strlen(text);
    char path[64];
    snprintf(path, sizeof path, "%s", fuzz_input_file(data, config_len));

    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = "train";
    argv[argc++] = "-c";
    argv[argc++] = path;
    for (size_t pos = config_len + 1; pos < size && argc < MAX_ARGS;) {
        argv[argc++] = text + pos;
        pos += strlen(text + pos) + 1;
    }
    argv[argc] = NULL;
    /* the parser's own walk over the options: files are always ours */
    for (int i = 3; i < argc; i++) {
        if (is(argv[i], "-c", "--config") || is(argv[i], "-r", "--resume")) {
            if (i + 1 < argc) argv[++i] = path;
        } else if (takes_value(argv[i])) {
            i++;
        }
    }

    scope_begin();
    bool exit_now = false;
    ConfigParser *cp = config_parser_from_args(argc, argv, "fuzz", custom_args, N_CUSTOM, false, &exit_now);
    CHECK(cp != NULL || exit_now || engine_has_error());
    if (cp) {
        CHECK(cp->config != NULL && !exit_now);
        char *printed = config_to_string(cp->config);
        CHECK(printed != NULL);
        Config *again = config_parse(printed, "printed");
        if (!again) {
            fprintf(stderr, "fuzz_parse_config: the effective config does not parse after printing: %s\n%s\n",
                    engine_last_error(), printed);
            abort();
        }
        CHECK(cJSON_Compare(cp->config->root, again->root, true));
        config_free(again);
        free(printed);
    }
    config_parser_free(cp);
    scope_end();
    engine_clear_error();
    unsetenv("CUDA_VISIBLE_DEVICES"); /* -d sets it */
    free(text);
    return 0;
}
