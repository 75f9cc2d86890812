/* ./predict -r saved/models/best.ckpt FILE...: the top classes of images by
 * a trained model, by name, with their probabilities. FILE is a PNG or JPEG image,
 * or an IDX file of images (the MNIST format, raw or .gz) with the images
 * chosen by --index. Each image goes through what ./test would do with it:
 * the checkpoint's config (its arch, and the data loader's validation/test
 * transforms, or the loader's default ToTensor + Normalize), converted to
 * the channels the loader reads, one image at a time, in eval mode. The
 * probabilities are the softmax of the model's output (a softmax of
 * log-probabilities is the same distribution, so models ending in
 * log_softmax and models giving logits both print the right numbers).
 * Class names come from the checkpoint; unnamed classes print as their
 * indices. A file that cannot be used (missing, not an image, damaged, the
 * wrong size for the model, an index out of range) is one line on stderr
 * naming it; the others are still predicted, and the exit status is 1. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checkpoint.h"
#include "data_loader/idx.h"
#include "data_loader/image_reader.h"
#include "data_loader/png_reader.h"
#include "data_loader/transforms.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/serialize/regular_file.h"
#include "model/model.h"
#include "parse_config.h"
#include "utils/crash_report.h"
#include "utils/prepare_device.h"
#include "utils/threads.h"

enum { DEFAULT_TOPK = 5, MAX_INDICES = 1 << 20 };

/* ./predict's own options, taken out of argv before the shared parser
 * (parse_config.h) reads -r, -c, -d and --set. */
typedef struct {
    int64_t topk;
    int64_t *indices; /* --index values, in the order given */
    int n_indices;
    bool has_index;
    const char **files;
    int n_files;
} PredictArgs;

/* The default pipelines of the registered loaders without "transforms" in
 * their args, and the channels their datasets hold: these mirror
 * data_loader/data_loaders.c (its constants are private to it) and must
 * change with it; tests/cli/predict.sh compares ./predict with ./test to
 * catch a difference. */
typedef struct {
    const char *type;
    int channels; /* 0: the image file's own */
    int n_norm;
    float mean[3], std[3];
} LoaderDefaults;

static const LoaderDefaults loader_defaults[] = {
    {"MnistDataLoader", 1, 1, {0.1307f}, {0.3081f}},
    {"FashionMnistDataLoader", 1, 1, {0.2860f}, {0.3530f}},
    {"Cifar10DataLoader", 3, 3, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
    {"ImageFolderDataLoader", 0, 0, {0}, {0}},
};

static void usage_extra(void)
{
    printf("\n./predict -r CHECKPOINT FILE.png|.jpg...    or    ./predict -r CHECKPOINT IMAGES.idx --index I [I...]\n"
           "  FILE                  PNG or JPEG images, or IDX files of images (MNIST's format, raw or .gz)\n"
           "  --index I [I...]      which images of the IDX files to predict (0 = the first)\n"
           "  --topk K              how many classes to print per image (default %d, at most the class count)\n",
           DEFAULT_TOPK);
}

static bool parse_int(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool is_option(const char *a) { return a[0] == '-' && a[1] != '\0'; }

/* Splits argv into ours (--topk, --index, the files) and the shared
 * parser's, which stay in argv (compacted; *argc updated). -1 with an error
 * for a bad value. */
static int take_predict_args(int *argc, char **argv, PredictArgs *pa)
{
    memset(pa, 0, sizeof *pa);
    pa->topk = DEFAULT_TOPK;
    pa->files = calloc((size_t)*argc, sizeof *pa->files);
    pa->indices = calloc((size_t)*argc, sizeof *pa->indices);
    ENGINE_ASSERT(pa->files && pa->indices);
    int kept = 1;
    bool help = false, resume = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--topk") == 0 || strncmp(a, "--topk=", 7) == 0) {
            const char *v = a[6] == '=' ? a + 7 : (i + 1 < *argc ? argv[++i] : NULL);
            ENGINE_CHECK_INT(parse_int(v, &pa->topk) && pa->topk >= 1,
                             "--topk expects a whole number >= 1, got %s", v ? v : "nothing");
        } else if (strcmp(a, "--index") == 0) {
            /* the indices: the whole numbers that follow (a negative one is reported, not taken for an option) */
            int before = pa->n_indices;
            int64_t v;
            while (i + 1 < *argc && parse_int(argv[i + 1], &v)) {
                ENGINE_CHECK_INT(pa->n_indices < MAX_INDICES, "--index: at most %d indices", MAX_INDICES);
                pa->indices[pa->n_indices++] = v;
                i++;
            }
            ENGINE_CHECK_INT(pa->n_indices > before, "--index expects one or more image indices (0, 1, ...), got %s",
                             i + 1 < *argc ? argv[i + 1] : "nothing");
            pa->has_index = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            argv[kept++] = argv[i];
            help = true;
        } else if (is_option(a)) {
            if (strcmp(a, "-r") == 0 || strcmp(a, "--resume") == 0) resume = true;
            /* the shared parser's option and its value */
            argv[kept++] = argv[i];
            if (i + 1 < *argc) argv[kept++] = argv[++i];
        } else {
            pa->files[pa->n_files++] = a;
        }
    }
    *argc = kept;
    /* before the shared parser, which would ask for a config instead */
    ENGINE_CHECK_INT(help || resume, "./predict needs a checkpoint: -r saved/models/best.ckpt, for example");
    return 0;
}

static void predict_args_free(PredictArgs *pa)
{
    free(pa->files);
    free(pa->indices);
}

/* What every image goes through: the pipeline, the channels to read, the
 * model on its device, and the class names. */
typedef struct {
    const Config *cfg;
    const Checkpoint *ck;
    Transforms *tf;
    int channels;
    uint64_t seed;
    Module *model;
    Device device;
    int64_t topk;
    int failures;
} Predictor;

/* The validation/test pipeline the checkpoint's loader used, and the
 * channels its dataset reads images as. */
static int eval_pipeline(const Config *cfg, Transforms **tf, int *channels)
{
    const char *type;
    if (config_string(cfg, "data_loader.type", &type)) return -1;
    const LoaderDefaults *d = NULL;
    for (size_t k = 0; k < sizeof loader_defaults / sizeof loader_defaults[0]; k++)
        if (strcmp(type, loader_defaults[k].type) == 0) d = &loader_defaults[k];
    *channels = d ? d->channels : 0;
    int64_t configured = 0;
    if (config_has(cfg, "data_loader.args.channels")) {
        if (config_int(cfg, "data_loader.args.channels", &configured)) return -1;
        ENGINE_CHECK_INT(configured >= 0 && configured <= 4,
                         "%s: data_loader.args.channels: must be 0 to 4, got %" PRId64, cfg->label, configured);
        *channels = (int)configured;
    }
    if (config_has(cfg, "data_loader.args.transforms")) {
        ENGINE_CHECK_INT(config_has(cfg, "data_loader.args.transforms.valid"),
                         "%s: data_loader.args.transforms: no \"valid\" pipeline for the images", cfg->label);
        *tf = transforms_from_config(cfg, "data_loader.args.transforms.valid");
        return *tf ? 0 : -1;
    }
    if (!d)
        fprintf(stderr, "warning: %s: data_loader.type %s has no transforms in its config and no defaults known to "
                        "./predict: the images go through ToTensor only\n", cfg->label, type);
    *tf = transforms_default(d ? d->mean : NULL, d ? d->std : NULL, d ? d->n_norm : 0);
    return *tf ? 0 : -1;
}

/* Prints the error that ended an image's prediction, naming the file (the
 * readers' messages start with the path already). */
static void report(Predictor *p, const char *label, const char *what)
{
    const char *msg = engine_has_error() ? engine_last_error() : "failed";
    size_t n = strlen(label);
    if (strncmp(msg, label, n) == 0 && msg[n] == ':') fprintf(stderr, "error: %s\n", msg);
    else if (what) fprintf(stderr, "error: %s: %s: %s\n", label, what, msg);
    else fprintf(stderr, "error: %s: %s\n", label, msg);
    engine_clear_error();
    p->failures++;
}

/* image bytes (in.c channels) as `want` channels, as the datasets convert
 * (png_reader.h): grey to RGB by copying, a missing alpha 255. Only the
 * IDX path needs it (PNGs are converted on reading). NULL when in.c is not
 * 1 and differs. */
static uint8_t *to_channels(const uint8_t *img, ImageSize in, int want)
{
    int64_t plane = (int64_t)in.h * in.w;
    if (want == 0 || want == in.c || in.c != 1) return NULL;
    uint8_t *out = malloc((size_t)(plane * want));
    ENGINE_ASSERT(out != NULL);
    for (int c = 0; c < want; c++) {
        bool alpha = (want == 2 && c == 1) || (want == 4 && c == 3);
        if (alpha) memset(out + c * plane, 255, (size_t)plane);
        else memcpy(out + c * plane, img, (size_t)plane);
    }
    return out;
}

/* Classes by falling probability; ties: the lower class index first. qsort
 * has no context argument, hence the file-level pointer (one thread). */
static const double *sort_probs;
static int cmp_qsort(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (sort_probs[i] != sort_probs[j]) return sort_probs[i] > sort_probs[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* Runs one image (bytes of size in) through the pipeline and the model and
 * prints its top classes under label. 0, or -1 with an error recorded. */
static int predict_image(Predictor *p, const char *label, const uint8_t *img, ImageSize in, int64_t sample)
{
    ImageSize out;
    if (transforms_output_size(p->tf, in, &out)) {
        engine_error_context("the validation/test transforms cannot take this %dx%dx%d image", in.c, in.h, in.w);
        return -1;
    }
    int64_t n = (int64_t)out.c * out.h * out.w;
    float *x = malloc((size_t)n * sizeof *x);
    ENGINE_ASSERT(x != NULL);
    SampleContext ctx = {.seed = p->seed, .epoch = 0, .training = false};
    SampleRng rng = sample_rng(&ctx, sample);
    transforms_apply(p->tf, img, in, &rng, x);
    scope_begin();
    Tensor *input = tensor_to(tensor_from_data(x, SHAPE(1, out.c, out.h, out.w), DT_F32, CPU), p->device);
    free(x);
    Tensor *output = input ? module_forward(p->model, input) : NULL;
    if (!output) {
        engine_error_context("the model cannot take it (%dx%dx%d after the transforms)", out.c, out.h, out.w);
        scope_end();
        return -1;
    }
    if (tensor_dim(output) != 2 || output->shape.d[0] != 1 || output->shape.d[1] < 1) {
        engine_error("expected the model's output to be [1, classes] for one image, got %s", shape_str(output->shape));
        scope_end();
        return -1;
    }
    int64_t n_classes = output->shape.d[1];
    float *o = malloc((size_t)n_classes * sizeof *o);
    double *prob = malloc((size_t)n_classes * sizeof *prob);
    int64_t *order = malloc((size_t)n_classes * sizeof *order);
    ENGINE_ASSERT(o && prob && order);
    int rc = tensor_copy_to_buffer(output, o);
    scope_end();
    /* softmax in double: exp(o - max) / sum, the same for logits and log-probabilities */
    double max = -INFINITY, sum = 0;
    for (int64_t k = 0; rc == 0 && k < n_classes; k++) {
        if (!isfinite(o[k]) && !(o[k] == -INFINITY)) {
            engine_error("the model's output is not finite (%g for class %" PRId64 ")", (double)o[k], k);
            rc = -1;
        }
        if (o[k] > max) max = o[k];
    }
    if (rc == 0 && max == -INFINITY) {
        engine_error("the model's output is -inf for every class: no probabilities");
        rc = -1;
    }
    const Checkpoint *ck = p->ck;
    if (rc == 0 && ck->class_names && ck->n_classes != n_classes) {
        engine_error("the model outputs %" PRId64 " classes, the checkpoint names %d (%s)", n_classes, ck->n_classes,
                     ck->path);
        rc = -1;
    }
    if (rc == 0) {
        for (int64_t k = 0; k < n_classes; k++) sum += (prob[k] = exp((double)o[k] - max));
        for (int64_t k = 0; k < n_classes; k++) {
            prob[k] /= sum;
            order[k] = k;
        }
        sort_probs = prob;
        qsort(order, (size_t)n_classes, sizeof *order, cmp_qsort);
        int64_t shown = p->topk < n_classes ? p->topk : n_classes;
        int width = 1;
        char num[32];
        for (int64_t r = 0; r < shown; r++) {
            int len = ck->class_names ? (int)strlen(ck->class_names[order[r]])
                                      : snprintf(num, sizeof num, "%" PRId64, order[r]);
            if (len > width) width = len;
        }
        printf("%s\n", label);
        for (int64_t r = 0; r < shown; r++) {
            if (ck->class_names) printf("  %-*s  %.6f\n", width, ck->class_names[order[r]], prob[order[r]]);
            else printf("  %*" PRId64 "  %.6f\n", width, order[r], prob[order[r]]);
        }
    }
    free(o);
    free(prob);
    free(order);
    return rc;
}

/* What a file holds, from its first bytes. */
typedef enum { FILE_BAD, FILE_IMAGE, FILE_IDX } FileKind;

static FileKind file_kind(const char *path)
{
    int64_t size;
    int fd = open_regular_file(path, &size);
    if (fd < 0) return FILE_BAD;
    unsigned char head[8] = {0};
    ssize_t got = read(fd, head, sizeof head);
    close(fd);
    if (got < 0) {
        engine_error("%s: cannot read: %s", path, strerror(errno));
        return FILE_BAD;
    }
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && memcmp(head, png_sig, 8) == 0) return FILE_IMAGE;
    if (got >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return FILE_IMAGE; /* JPEG */
    if (got >= 3 && head[0] == 0 && head[1] == 0 && head[2] == 0x08) return FILE_IDX;
    if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b) return FILE_IDX; /* gzip: an IDX .gz, or the reader says */
    engine_error("%s: neither a PNG or JPEG image nor an IDX file of images (%s)", path,
                 got == 0 ? "empty" : "unknown format");
    return FILE_BAD;
}

static void predict_png(Predictor *p, const char *path, int64_t sample)
{
    ImageSize size;
    int file_channels;
    uint8_t *img = image_read_chw(path, p->channels, &size, &file_channels);
    if (!img || predict_image(p, path, img, size, sample)) report(p, path, NULL);
    free(img);
}

static void predict_idx(Predictor *p, const char *path, const PredictArgs *pa)
{
    if (!pa->has_index) {
        engine_error("an IDX file holds many images: choose them with --index I [I...] (0 = the first)");
        report(p, path, NULL);
        return;
    }
    Tensor *images = idx_load_u8(path, 0);
    if (!images) {
        report(p, path, NULL);
        return;
    }
    if (tensor_dim(images) != 3) {
        engine_error("expected images [count, height, width] (an idx3 file such as t10k-images-idx3-ubyte), got "
                     "shape %s", shape_str(images->shape));
        report(p, path, NULL);
        tensor_free(images);
        return;
    }
    if (images->shape.d[1] > PNG_MAX_SIDE || images->shape.d[2] > PNG_MAX_SIDE) {
        engine_error("images of %" PRId64 "x%" PRId64 " are larger than the %d pixels a side ./predict takes",
                     images->shape.d[1], images->shape.d[2], PNG_MAX_SIDE);
        report(p, path, NULL);
        tensor_free(images);
        return;
    }
    int64_t count = images->shape.d[0];
    ImageSize size = {1, (int)images->shape.d[1], (int)images->shape.d[2]};
    int64_t plane = (int64_t)size.h * size.w;
    for (int k = 0; k < pa->n_indices; k++) {
        int64_t i = pa->indices[k];
        char label[4200];
        snprintf(label, sizeof label, "%s[%" PRId64 "]", path, i);
        if (i < 0 || i >= count) {
            engine_error("index %" PRId64 " is out of range: the file holds %" PRId64 " images (0 to %" PRId64 ")", i,
                         count, count - 1);
            report(p, label, NULL);
            continue;
        }
        const uint8_t *img = tensor_u8(images) + i * plane;
        uint8_t *converted = to_channels(img, size, p->channels);
        ImageSize in = size;
        if (converted) in.c = p->channels;
        if (predict_image(p, label, converted ? converted : img, in, i)) report(p, label, NULL);
        free(converted);
    }
    tensor_free(images);
}

static int predict(ConfigParser *cp, const PredictArgs *pa)
{
    ENGINE_CHECK_INT(cp->resume != NULL, "./predict needs a checkpoint: -r saved/models/best.ckpt, for example");
    ENGINE_CHECK_INT(pa->n_files > 0, "./predict needs images: PNG files, or an IDX file with --index I [I...] (see -h)");
    const Config *cfg = cp->config;
    Predictor p = {.cfg = cfg, .ck = cp->resume, .topk = pa->topk, .device = CPU};
    int64_t seed, n_gpu;
    if (config_int_or(cfg, "seed", 123, &seed) || n_gpu_from_config(cfg, &n_gpu) || configure_device_modes(cfg))
        return -1;
    p.seed = (uint64_t)seed;
    if (eval_pipeline(cfg, &p.tf, &p.channels)) return -1;
    int rc = -1;
    p.model = model_from_config(cfg);
    if (!p.model || checkpoint_restore_model(p.ck, p.model)) goto done;
    /* the GPU when the run used one and there is one; predicting never needs it */
    if (n_gpu > 0 && device_cuda_count() > 0) p.device = CUDA(0);
    if (module_to(p.model, p.device)) goto done;
    module_train(p.model, false);
    bool mode = no_grad_begin();
    for (int f = 0; f < pa->n_files; f++) {
        engine_clear_error();
        const char *path = pa->files[f];
        switch (file_kind(path)) {
        case FILE_IMAGE: predict_png(&p, path, f); break;
        case FILE_IDX: predict_idx(&p, path, pa); break;
        default: report(&p, path, NULL); break;
        }
        fflush(stdout);
    }
    grad_mode_restore(mode);
    rc = p.failures ? 1 : 0;
done:
    module_free(p.model);
    transforms_free(p.tf);
    return rc;
}

int main(int argc, char **argv)
{
    prefer_passive_omp_waiting(argv);
    if (crash_report_install("predict")) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    PredictArgs pa;
    bool exit_now = false;
    int rc = take_predict_args(&argc, argv, &pa);
    ConfigParser *cp = NULL;
    if (rc == 0) {
        cp = config_parser_from_args(argc, argv, "PyTorch Template: the top classes of images by a trained model",
                                     NULL, 0, false, &exit_now);
        if (exit_now) {
            usage_extra();
            predict_args_free(&pa);
            return 0;
        }
        rc = cp ? predict(cp, &pa) : -1;
    }
    /* 1: some images could not be predicted (each reported); -1: nothing could be */
    if (rc < 0) fprintf(stderr, "error: %s\n", engine_has_error() ? engine_last_error() : "prediction failed");
    config_parser_free(cp);
    predict_args_free(&pa);
    return rc == 0 ? 0 : 1;
}
