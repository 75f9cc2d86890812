/* Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<harness>/)
 * with the project's own writers: small valid safetensors files, IDX files
 * (raw and gzip), configs with --set overrides and command lines, and
 * checkpoints of the harnesses' small training run (fuzz_support.h) with
 * every optimizer and scheduler type. The committed corpus was made with
 *   build-fuzz/tests/fuzz/fuzz_make_seeds . tests/fuzz/corpus
 * and is kept small (a few KB a file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/checkpoint.h"
#include "engine/engine.h"
#include "tests/fuzz/fuzz_support.h"
#include "utils/fs.h"

static const char *out_root;

static void fail(const char *what)
{
    fprintf(stderr, "make_seeds: %s: %s\n", what, engine_has_error() ? engine_last_error() : strerror(errno));
    exit(1);
}

static const char *seed_path(const char *harness, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_root, harness);
    if (fs_mkdirs(path) != 0) fail(path);
    snprintf(path, sizeof path, "%s/%s/%s", out_root, harness, name);
    return path;
}

static void write_file(const char *harness, const char *name, const void *data, size_t size)
{
    const char *path = seed_path(harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) fail(path);
}

/* text, then NUL-separated extra strings (the harnesses' input layout) */
static void write_parts(const char *harness, const char *name, const char *text, const char *const *parts, int n)
{
    size_t size = strlen(text);
    for (int i = 0; i < n; i++) size += 1 + strlen(parts[i]);
    char *buf = malloc(size + 1), *p = buf;
    if (!buf) fail("out of memory");
    p += sprintf(p, "%s", text);
    for (int i = 0; i < n; i++) {
        *p++ = '\0';
        p += sprintf(p, "%s", parts[i]);
    }
    write_file(harness, name, buf, size);
    free(buf);
}

/* ---- safetensors ---- */

static void safetensors_seeds(void)
{
    scope_begin();
    float f[6] = {1, -2, 3.5f, 0, 1e-3f, 7};
    int64_t l[2] = {3, -1};
    uint8_t u[3] = {0, 128, 255};
    Tensor *t[4] = {
        tensor_from_data(f, (Shape){.ndim = 2, .d = {2, 3}}, DT_F32, CPU),
        tensor_from_data(l, (Shape){.ndim = 1, .d = {2}}, DT_I64, CPU),
        tensor_from_data(u, (Shape){.ndim = 1, .d = {3}}, DT_U8, CPU),
        tensor_from_data(f, (Shape){.ndim = 0}, DT_F32, CPU),
    };
    const char *names[4] = {"fc1.weight", "labels", "image", "scalar"};
    const char *keys[2] = {"format", "note"}, *values[2] = {"pt", "fuzz seed"};
    if (safetensors_save(seed_path("safetensors", "tensors.safetensors"), 4, names, t, 2, keys, values)) fail("save");
    Tensor *empty = tensor_empty((Shape){.ndim = 2, .d = {0, 4}}, DT_F32, CPU);
    const char *enames[2] = {"empty", "labels"};
    if (safetensors_save(seed_path("safetensors", "empty.safetensors"), 2, enames, (Tensor *[]){empty, t[1]}, 0, NULL,
                         NULL))
        fail("save");
    if (safetensors_save(seed_path("safetensors", "metadata_only.safetensors"), 0, NULL, NULL, 1, keys, values))
        fail("save");
    scope_end();
}

/* ---- IDX ---- */

static size_t idx_image(uint8_t *buf, int ndim, const int *dims)
{
    size_t n = 0, numel = 1;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 8, buf[n++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[n++] = (uint8_t)(dims[i] >> 24), buf[n++] = (uint8_t)(dims[i] >> 16);
        buf[n++] = (uint8_t)(dims[i] >> 8), buf[n++] = (uint8_t)dims[i];
        numel *= (size_t)dims[i];
    }
    for (size_t k = 0; k < numel; k++) buf[n++] = (uint8_t)(k * 37 % 256);
    return n;
}

static void idx_seeds(void)
{
    uint8_t buf[256];
    size_t n = idx_image(buf, 3, (int[]){2, 4, 4});
    write_file("idx", "images-idx3-ubyte", buf, n);
    gzFile gz = gzopen(seed_path("idx", "images-idx3-ubyte.gz"), "wb");
    if (!gz || gzwrite(gz, buf, (unsigned)n) != (int)n || gzclose(gz) != Z_OK) fail("gzip");
    n = idx_image(buf, 1, (int[]){6});
    write_file("idx", "labels-idx1-ubyte", buf, n);
    n = idx_image(buf, 2, (int[]){0, 3});
    write_file("idx", "empty-idx2-ubyte", buf, n);
}

/* ---- configs and command lines ---- */

static const char *const mlp_config =
    "{\n"
    "    \"name\": \"Mnist_MLP\",\n"
    "    \"n_gpu\": 0,\n"
    "    \"seed\": 7,\n"
    "    \"arch\": {\"type\": \"MLP\", \"args\": {\"hidden\": [8, 4], \"num_classes\": 10}},\n"
    "    \"data_loader\": {\"type\": \"MnistDataLoader\", \"args\": {\"data_dir\": \"data/\", \"batch_size\": 64,\n"
    "        \"shuffle\": true, \"validation_split\": 100, \"num_workers\": 0, \"drop_last\": true, \"limit\": 1000}},\n"
    "    \"optimizer\": {\"type\": \"SGD\", \"args\": {\"lr\": 0.1, \"momentum\": 0.9, \"nesterov\": true}},\n"
    "    \"loss\": \"cross_entropy\",\n"
    "    \"metrics\": [\"accuracy\", \"top_k_acc\"],\n"
    "    \"lr_scheduler\": {\"type\": \"OneCycleLR\", \"args\": {\"max_lr\": 0.5, \"pct_start\": 0.25}},\n"
    "    \"trainer\": {\"epochs\": 3, \"save_dir\": \"saved/\", \"save_period\": 2, \"verbosity\": 1,\n"
    "        \"monitor\": \"max val_accuracy\", \"early_stop\": 0, \"len_epoch\": 5, \"tensorboard\": false}\n"
    "}\n";

static const char *const lenet_config =
    "{\"name\": \"LeNet\", \"n_gpu\": 0, \"arch\": {\"type\": \"LeNet5\", \"args\": {\"num_classes\": 10}},"
    " \"optimizer\": {\"type\": \"RMSprop\", \"args\": {\"lr\": 0.01, \"alpha\": 0.9, \"centered\": true}},"
    " \"loss\": \"nll_loss\", \"metrics\": [\"accuracy\"],"
    " \"lr_scheduler\": {\"type\": \"ReduceLROnPlateau\", \"args\": {\"mode\": \"min\", \"factor\": 0.5,"
    " \"patience\": 2, \"threshold_mode\": \"abs\"}},"
    " \"trainer\": {\"epochs\": 10, \"save_dir\": \"saved/\", \"monitor\": \"off\"}}";

static const char *const multistep_config =
    "{\"name\": \"M\", \"arch\": {\"type\": \"MnistModel\", \"args\": {}},"
    " \"optimizer\": {\"type\": \"Adagrad\", \"args\": {\"lr\": 0.1, \"lr_decay\": 0.001}},"
    " \"lr_scheduler\": {\"type\": \"MultiStepLR\", \"args\": {\"milestones\": [2, 5, 9], \"gamma\": 0.3}},"
    " \"trainer\": {\"epochs\": 12}}";

static const char *const adadelta_config =
    "{\"name\": \"A\", \"optimizer\": {\"type\": \"Adadelta\", \"args\": {\"rho\": 0.8}},"
    " \"lr_scheduler\": {\"type\": \"CosineAnnealingLR\", \"args\": {\"T_max\": 5, \"eta_min\": 0.001}},"
    " \"trainer\": {\"epochs\": 5}}";

static const char *const adamw_config =
    "{\"optimizer\": {\"type\": \"AdamW\", \"args\": {\"lr\": 0.001, \"betas\": [0.8, 0.99], \"weight_decay\": 0.1}},"
    " \"lr_scheduler\": {\"type\": \"LinearLR\", \"args\": {\"start_factor\": 0.5, \"total_iters\": 4}}}";

static const char *const exp_config =
    "{\"optimizer\": {\"type\": \"Adam\", \"args\": {\"lr\": 0.001}},"
    " \"lr_scheduler\": {\"type\": \"ExponentialLR\", \"args\": {\"gamma\": 0.95}}}";

static char *read_text(const char *path)
{
    char *text = fs_read_text(path);
    if (!text) fail(path);
    return text;
}

static void config_seeds(const char *src)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", src);
    char *repo = read_text(path);
    write_parts("config", "config.json", repo, NULL, 0);
    static const char *const sets[] = {"trainer.epochs=3", "optimizer.args.lr=0.01", "metrics.0=top_k_acc",
                                       "optimizer.args.amsgrad=false",
                                       ("lr_scheduler={\"type\": \"ExponentialLR\", \"args\": {\"gamma\": 0.5}}"),
                                       "trainer.new_key=[1, 2]", "name=Other"};
    write_parts("config", "config_sets.json", repo, sets, 7);
    write_parts("config", "mlp.json", mlp_config, NULL, 0);
    static const char *const mlp_sets[] = {"arch.args.hidden.1=16", "lr_scheduler.args.three_phase=true",
                                           "data_loader.args.validation_split=0.2"};
    write_parts("config", "mlp_sets.json", mlp_config, mlp_sets, 3);
    write_parts("config", "lenet.json", lenet_config, NULL, 0);
    write_parts("config", "multistep.json", multistep_config, NULL, 0);
    write_parts("config", "adadelta.json", adadelta_config, NULL, 0);
    write_parts("config", "adamw.json", adamw_config, NULL, 0);
    write_parts("config", "exponential.json", exp_config, NULL, 0);

    write_parts("parse_config", "plain", repo, NULL, 0);
    static const char *const args1[] = {"--lr", "0.01", "--bs", "32", "--set", "trainer.epochs=2",
                                        "--set", "metrics.1=accuracy", "-d", "0"};
    write_parts("parse_config", "options", repo, args1, 10);
    static const char *const args2[] = {"--learning_rate", "1e-4", "--batch_size", "7", "--set",
                                        "lr_scheduler.args={\"step_size\": 3}", "--set", "arch.args.num_classes=3"};
    write_parts("parse_config", "aliases", mlp_config, args2, 8);
    static const char *const args3[] = {"-h"};
    write_parts("parse_config", "help", repo, args3, 1);
    static const char *const args4[] = {"-r", "x", "-c", "y", "--set", "trainer.save_dir=/tmp/x"};
    write_parts("parse_config", "resume", lenet_config, args4, 6);
    static const char *const args5[] = {"--config", "x", "--set", "optimizer.type=Adam", "--lr"};
    write_parts("parse_config", "missing_value", multistep_config, args5, 5);
    free(repo);
}

/* ---- checkpoints ---- */

/* The harness's training run after two steps (inside its second epoch's
 * loader pass: 3 batches an epoch), saved as BaseTrainer saves it; with
 * progress, as saved on an interrupt inside an epoch. */
static void checkpoint_seed(const char *optimizer, const char *scheduler, bool progress)
{
    FuzzRun r;
    manual_seed(3);
    if (fuzz_run_init(&r, optimizer, scheduler) != 0) fail("training run");
    for (int i = 0; i < 2; i++)
        if (fuzz_run_step(&r) != 0) fail("training step");
    DataLoaderPosition pos;
    data_loader_get_position(r.loader, &pos);
    static const char *const keys[] = {"loss", "accuracy"};
    EpochProgress ep = {.epoch = 2, .batch = 2};
    tracker_init(&ep.train, 2, keys);
    tracker_update(&ep.train, "loss", 0.69, 6);
    tracker_update(&ep.train, "accuracy", 0.5, 6);
    CheckpointContent c = {
        .model = r.model,
        .optimizer = r.optimizer,
        .scheduler = r.scheduler,
        .epoch = 1,
        .monitor_best = 0.6931,
        .not_improved_count = 1,
        .rng_default = generator_default(),
        .loader = &pos,
        .progress = progress ? &ep : NULL,
        .config = r.config,
    };
    char name[128];
    snprintf(name, sizeof name, "%s_%s%s.ckpt", optimizer, scheduler ? scheduler : "none", progress ? "_mid_epoch" : "");
    if (checkpoint_save(seed_path("checkpoint", name), &c) != 0) fail(name);
    fuzz_run_free(&r);
}

static void checkpoint_seeds(void)
{
    checkpoint_seed("SGD", NULL, false);
    checkpoint_seed("SGD", "StepLR", true);
    checkpoint_seed("Adam", "OneCycleLR", false);
    checkpoint_seed("AdamW", "CosineAnnealingLR", false);
    checkpoint_seed("RMSprop", "ReduceLROnPlateau", true);
    checkpoint_seed("Adagrad", "MultiStepLR", false);
    checkpoint_seed("Adadelta", "ExponentialLR", false);
    checkpoint_seed("SGD", "LinearLR", false);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SOURCE_DIR CORPUS_DIR\n", argv[0]);
        return 2;
    }
    fuzz_init();
    out_root = argv[2];
    safetensors_seeds();
    idx_seeds();
    config_seeds(argv[1]);
    checkpoint_seeds();
    return 0;
}
