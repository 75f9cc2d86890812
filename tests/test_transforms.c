/* Transforms (data_loader/transforms.h): the deterministic ones, and the
 * random ones with their random parameters pinned, against torchvision's
 * tensor transforms on the same images (tests/ref/transforms_ref.py; the
 * largest differences are printed); the random ones by their distributions
 * (flip rate near p, crop offsets and rotation angles uniform) and their
 * reproducibility (the same seed, epoch and sample give the same image,
 * another epoch another one); the default MNIST pipeline bit for bit as it
 * always computed; and the config errors, which name the key. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_loader/transform_internal.h"
#include "data_loader/transforms.h"
#include "tests/support/check.h"
#include "tests/support/torch_script.h"

/* The test images: noise (rounding everywhere), smooth patterns (what
 * resizing meets in photos), grey and RGB, odd sizes. */
enum { N_IMAGES = 3 };
static const ImageSize image_sizes[N_IMAGES] = {{3, 23, 31}, {1, 20, 17}, {3, 40, 36}};
static uint8_t *images[N_IMAGES];

static int setup(void **state)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < N_IMAGES; k++) {
        ImageSize z = image_sizes[k];
        images[k] = malloc((size_t)z.c * (size_t)z.h * (size_t)z.w);
        assert_non_null(images[k]);
        for (int c = 0; c < z.c; c++)
            for (int y = 0; y < z.h; y++)
                for (int x = 0; x < z.w; x++) {
                    s = s * 6364136223846793005ull + 1442695040888963407ull;
                    double v = k == 0 ? (double)(s >> 56)
                                      : 127.5 + 100 * sin(0.37 * x + 0.21 * y + c) + (double)((s >> 60) & 7);
                    images[k][((size_t)c * (size_t)z.h + (size_t)y) * (size_t)z.w + (size_t)x] =
                        (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
    }
    return 0;
}

static int teardown(void **state)
{
    for (int k = 0; k < N_IMAGES; k++) free(images[k]);
    return 0;
}

/* The pipeline of a JSON list; NULL with the engine's error. */
static Transforms *pipeline(const char *json)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"t\": %s}", json);
    Config *cfg = config_parse(text, "config.json");
    assert_non_null(cfg);
    Transforms *t = transforms_from_config(cfg, "t");
    config_free(cfg);
    return t;
}

/* Runs a pipeline on image k for sample `index` of `epoch`: a persistent f32 tensor of the output size. */
static Tensor *run_on(const Transforms *t, const uint8_t *img, ImageSize in, uint64_t seed, int64_t epoch,
                      int64_t index)
{
    ImageSize out;
    if (transforms_output_size(t, in, &out)) fail_engine("transforms_output_size");
    Tensor *r = tensor_persist(tensor_empty(SHAPE(out.c, out.h, out.w), DT_F32, CPU));
    SampleContext ctx = {.seed = seed, .epoch = epoch, .training = true};
    SampleRng rng = sample_rng(&ctx, index);
    transforms_apply(t, img, in, &rng, tensor_f32(r));
    return r;
}

static Tensor *run(const Transforms *t, int k) { return run_on(t, images[k], image_sizes[k], 1, 0, 0); }

/* ---------------- parity with torchvision ---------------- */

typedef struct {
    const char *label;
    int image;
    const char *pipeline; /* JSON; NULL for a direct F.affine case */
    const char *affine;   /* the direct case's JSON (angle, translate, scale, shear, interpolation, fill, bytes) */
    double tol;           /* the largest difference allowed, in bytes (1/255) for uint8 results */
    double max_diff_frac; /* the fraction of values allowed to differ at all (nearest sampling at .5 ties) */
} ParityCase;

/* Bytes pipelines end with ToTensor, so results are x / 255 and are
 * compared in bytes. Measured with torchvision 0.14 / torch 1.13 (Debian
 * 12): every bytes case identical, the float ones within 3e-6. The
 * tolerances leave one byte where interpolation rounds at .5 (another
 * CPU's kernels may sum in another order) and a few nearest samples that
 * land on a .5 tie. */
static const ParityCase parity_cases[] = {
    {"Resize [15, 20] bytes", 0, "[{\"type\": \"Resize\", \"args\": {\"size\": [15, 20]}}, {\"type\": \"ToTensor\"}]",
     NULL, 1, 0.005},
    {"Resize 13 (smaller edge) bytes", 2, "[{\"type\": \"Resize\", \"args\": {\"size\": 13}}, {\"type\": \"ToTensor\"}]",
     NULL, 1, 0.005},
    {"Resize [50, 61] (up) bytes", 0,
     "[{\"type\": \"Resize\", \"args\": {\"size\": [50, 61]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"Resize [15, 20] antialias false bytes", 0,
     "[{\"type\": \"Resize\", \"args\": {\"size\": [15, 20], \"antialias\": false}}, {\"type\": \"ToTensor\"}]", NULL, 1,
     0.005},
    {"Resize [15, 20] nearest bytes", 0,
     "[{\"type\": \"Resize\", \"args\": {\"size\": [15, 20], \"interpolation\": \"nearest\"}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"Resize [15, 20] float", 2, "[{\"type\": \"ToTensor\"}, {\"type\": \"Resize\", \"args\": {\"size\": [15, 20]}}]",
     NULL, 1e-5, 1},
    {"Resize 9, max_size 12, float", 0,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"Resize\", \"args\": {\"size\": 9, \"max_size\": 12}}]", NULL, 1e-5, 1},
    {"CenterCrop [10, 13]", 0, "[{\"type\": \"CenterCrop\", \"args\": {\"size\": [10, 13]}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"CenterCrop [21, 30]", 0, "[{\"type\": \"CenterCrop\", \"args\": {\"size\": [21, 30]}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"CenterCrop 40 (pads)", 0, "[{\"type\": \"CenterCrop\", \"args\": {\"size\": 40}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomCrop padding 4 fill 7", 0,
     "[{\"type\": \"RandomCrop\", \"args\": {\"size\": [31, 39], \"padding\": 4, \"fill\": 7}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomCrop padding [2, 3] edge", 0,
     "[{\"type\": \"RandomCrop\", \"args\": {\"size\": [29, 35], \"padding\": [2, 3], \"padding_mode\": \"edge\"}}, "
     "{\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomCrop padding [1, 2, 3, 4] reflect", 0,
     "[{\"type\": \"RandomCrop\", \"args\": {\"size\": [29, 35], \"padding\": [1, 2, 3, 4], \"padding_mode\": "
     "\"reflect\"}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomCrop padding 3 symmetric", 1,
     "[{\"type\": \"RandomCrop\", \"args\": {\"size\": [26, 23], \"padding\": 3, \"padding_mode\": \"symmetric\"}}, "
     "{\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomHorizontalFlip p 1", 0, "[{\"type\": \"RandomHorizontalFlip\", \"args\": {\"p\": 1}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomVerticalFlip p 1 float", 1,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"RandomVerticalFlip\", \"args\": {\"p\": 1}}]", NULL, 0, 0},
    {"RandomHorizontalFlip p 0", 1, "[{\"type\": \"RandomHorizontalFlip\", \"args\": {\"p\": 0}}, {\"type\": \"ToTensor\"}]",
     NULL, 0, 0},
    {"RandomRotation 17.25 nearest", 0,
     "[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": [17.25, 17.25]}}, {\"type\": \"ToTensor\"}]", NULL, 255,
     0.005},
    {"RandomRotation -33.5 bilinear", 2,
     "[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": [-33.5, -33.5], \"interpolation\": \"bilinear\"}}, "
     "{\"type\": \"ToTensor\"}]",
     NULL, 1, 0.005},
    {"RandomRotation 90 nearest", 1,
     "[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": [90, 90]}}, {\"type\": \"ToTensor\"}]", NULL, 255, 0.005},
    {"RandomRotation 41 center [5, 7] fill 100", 0,
     "[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": [41, 41], \"center\": [5, 7], \"fill\": 100}}, "
     "{\"type\": \"ToTensor\"}]",
     NULL, 255, 0.005},
    {"RandomRotation 23 bilinear fill 0.5 float", 2,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"RandomRotation\", \"args\": {\"degrees\": [23, 23], \"interpolation\": "
     "\"bilinear\", \"fill\": 0.5}}]",
     NULL, 1e-5, 1},
    {"RandomAffine 12, scale 1.125, shear 5 nearest", 0,
     "[{\"type\": \"RandomAffine\", \"args\": {\"degrees\": [12, 12], \"scale\": [1.125, 1.125], \"shear\": [5, 5]}}, "
     "{\"type\": \"ToTensor\"}]",
     NULL, 255, 0.005},
    {"RandomAffine -7, scale 0.875, shear [-4, 6] bilinear", 2,
     "[{\"type\": \"RandomAffine\", \"args\": {\"degrees\": [-7, -7], \"scale\": [0.875, 0.875], \"shear\": [-4, -4, 6, "
     "6], \"interpolation\": \"bilinear\"}}, {\"type\": \"ToTensor\"}]",
     NULL, 1, 0.005},
    {"F.affine translate [3, -2] nearest", 0, NULL,
     "{\"angle\": 12, \"translate\": [3, -2], \"scale\": 1.125, \"shear\": [5, 0], \"interpolation\": \"nearest\", "
     "\"fill\": 0, \"bytes\": true}",
     255, 0.005},
    {"F.affine translate [0, 1] bilinear", 2, NULL,
     "{\"angle\": -7, \"translate\": [0, 1], \"scale\": 0.875, \"shear\": [-4, 6], \"interpolation\": \"bilinear\", "
     "\"fill\": 9, \"bytes\": true}",
     1, 0.005},
    {"F.affine translate [-4, 2] bilinear float", 2, NULL,
     "{\"angle\": 31, \"translate\": [-4, 2], \"scale\": 1.25, \"shear\": [0, 0], \"interpolation\": \"bilinear\", "
     "\"fill\": 0.25, \"bytes\": false}",
     1e-5, 1},
    {"ColorJitter brightness 1.25", 0,
     "[{\"type\": \"ColorJitter\", \"args\": {\"brightness\": [1.25, 1.25]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"ColorJitter contrast 0.625", 0,
     "[{\"type\": \"ColorJitter\", \"args\": {\"contrast\": [0.625, 0.625]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"ColorJitter contrast 1.5 grey", 1,
     "[{\"type\": \"ColorJitter\", \"args\": {\"contrast\": [1.5, 1.5]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"ColorJitter saturation 1.75", 2,
     "[{\"type\": \"ColorJitter\", \"args\": {\"saturation\": [1.75, 1.75]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"ColorJitter hue 0.1875", 2,
     "[{\"type\": \"ColorJitter\", \"args\": {\"hue\": [0.1875, 0.1875]}}, {\"type\": \"ToTensor\"}]", NULL, 1, 0.005},
    {"ColorJitter hue -0.3125 float", 0,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"ColorJitter\", \"args\": {\"hue\": [-0.3125, -0.3125]}}]", NULL, 1e-5, 1},
    {"ColorJitter brightness 0.75 float", 2,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"ColorJitter\", \"args\": {\"brightness\": [0.75, 0.75]}}]", NULL, 1e-6, 1},
    {"ToTensor + Normalize", 0,
     "[{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.5, 0.4, 0.3], \"std\": [0.2, 0.25, "
     "0.3]}}]",
     NULL, 0, 0},
    {"Resize 20, CenterCrop 16, ToTensor, Normalize", 2,
     "[{\"type\": \"Resize\", \"args\": {\"size\": 20}}, {\"type\": \"CenterCrop\", \"args\": {\"size\": 16}}, {\"type\": "
     "\"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, "
     "0.225]}}]",
     NULL, 1.0 / 255 / 0.224, 0.005},
};
enum { N_PARITY = sizeof parity_cases / sizeof parity_cases[0] };

static const char *const interp_names[] = {"nearest", "bilinear"};

/* A direct F.affine case: our affine_sample with the matrix torchvision builds. */
static Tensor *run_affine(const ParityCase *c)
{
    Config *cfg = config_parse(c->affine, "affine");
    assert_non_null(cfg);
    double angle, scale, fill, t[2], sh[2];
    int n;
    const char *interp;
    bool bytes;
    assert_int_equal(config_number(cfg, "angle", &angle) || config_number(cfg, "scale", &scale) ||
                         config_number(cfg, "fill", &fill) || config_number_array(cfg, "translate", t, 2, &n) ||
                         config_number_array(cfg, "shear", sh, 2, &n) || config_string(cfg, "interpolation", &interp) ||
                         config_bool(cfg, "bytes", &bytes),
                     0);
    ImageSize z = image_sizes[c->image];
    size_t numel = (size_t)z.c * (size_t)z.h * (size_t)z.w;
    Image in = {malloc(sizeof(float) * numel), z.c, z.h, z.w}, out = {malloc(sizeof(float) * numel), z.c, z.h, z.w};
    assert_true(in.data && out.data);
    for (size_t i = 0; i < numel; i++) in.data[i] = bytes ? images[c->image][i] : images[c->image][i] / 255.0f;
    double center[2] = {0, 0}, m[6];
    affine_inverse_matrix(center, angle, t, scale, sh, m);
    float f = (float)fill;
    affine_sample(&in, &out, m, strcmp(interp, interp_names[1]) == 0, &f, 1, bytes);
    Tensor *r = tensor_persist(tensor_empty(SHAPE(z.c, z.h, z.w), DT_F32, CPU));
    for (size_t i = 0; i < numel; i++) tensor_f32(r)[i] = bytes ? out.data[i] / 255.0f : out.data[i];
    free(in.data);
    free(out.data);
    config_free(cfg);
    return r;
}

/* max |a - b| and the fraction of values that differ by more than 1e-6 of the scale. */
static double compare(Tensor *ours, Tensor *ref, double unit, double *frac)
{
    assert_true(shape_equal(ours->shape, ref->shape));
    double worst = 0;
    int64_t n = tensor_numel(ours), differ = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)tensor_f32(ours)[i] - (double)tensor_f32(ref)[i]) / unit;
        if (d > worst) worst = d;
        if (d > 1e-3) differ++;
    }
    *frac = (double)differ / (double)n;
    return worst;
}

static void test_parity_with_torchvision(void **state)
{
    char json[65536];
    int pos = snprintf(json, sizeof json, "{\"cases\": [");
    Tensor *ours[N_PARITY];
    for (int k = 0; k < N_PARITY; k++) {
        const ParityCase *c = &parity_cases[k];
        if (c->pipeline) {
            Transforms *t = pipeline(c->pipeline);
            if (!t) fail_engine(c->label);
            ours[k] = run(t, c->image);
            transforms_free(t);
            pos += snprintf(json + pos, sizeof json - (size_t)pos, "%s{\"image\": %d, \"pipeline\": %s}", k ? ", " : "",
                            c->image, c->pipeline);
        } else {
            ours[k] = run_affine(c);
            pos += snprintf(json + pos, sizeof json - (size_t)pos, "%s{\"image\": %d, \"affine\": %s}", k ? ", " : "",
                            c->image, c->affine);
        }
    }
    snprintf(json + pos, sizeof json - (size_t)pos, "]}");
    Tensor *img_t[N_IMAGES];
    const char *names[N_IMAGES] = {"img0", "img1", "img2"};
    for (int k = 0; k < N_IMAGES; k++) {
        ImageSize z = image_sizes[k];
        img_t[k] = tensor_persist(tensor_from_data(images[k], SHAPE(z.c, z.h, z.w), DT_U8, CPU));
    }
    Safetensors *res;
    int rc = torch_script_run("transforms_ref.py", "transforms", N_IMAGES, names, img_t, json, &res);
    for (int k = 0; k < N_IMAGES; k++) tensor_free(img_t[k]);
    if (rc == 1) {
        for (int k = 0; k < N_PARITY; k++) tensor_free(ours[k]);
        print_message("SKIP: torchvision reference not available (python3-torchvision)\n");
        skip();
    }
    assert_int_equal(rc, 0);
    for (int k = 0; k < N_PARITY; k++) {
        const ParityCase *c = &parity_cases[k];
        char name[32];
        snprintf(name, sizeof name, "c%d", k);
        Tensor *ref = safetensors_get(res, name);
        assert_non_null(ref);
        /* bytes results (a ToTensor at the end, or the direct case's /255) are compared in bytes */
        bool in_bytes = c->affine ? strstr(c->affine, "\"bytes\": true") != NULL
                                  : strstr(c->pipeline, "{\"type\": \"ToTensor\"}]") != NULL;
        double frac, worst = compare(ours[k], ref, in_bytes ? 1.0 / 255.0 : 1.0, &frac);
        snprintf(name, sizeof name, "c%d.pil", k);
        Tensor *pil = safetensors_get(res, name);
        char pil_note[64] = "";
        if (pil && shape_equal(pil->shape, ours[k]->shape)) {
            double pfrac, pw = compare(ours[k], pil, 1.0 / 255.0, &pfrac);
            snprintf(pil_note, sizeof pil_note, "; PIL's resize: max %.0f, %.1f%% differ", pw, 100 * pfrac);
        }
        print_message("  %-52s max |diff| %.3g %s, %.2f%% of values differ%s\n", c->label, worst,
                      in_bytes ? "bytes" : "", 100 * frac, pil_note);
        if (worst > c->tol + 1e-9 || frac > c->max_diff_frac)
            fail_msg("%s: max difference %g (allowed %g), %.3f%% of values differ (allowed %.3f%%)", c->label, worst,
                     c->tol, 100 * frac, 100 * c->max_diff_frac);
        tensor_free(ours[k]);
    }
    safetensors_free(res);
}

/* ---------------- the default pipeline, bit for bit ---------------- */

static void test_default_pipeline_is_bit_identical(void **state)
{
    /* what MNIST's loader computed before transforms could be configured */
    const float mean = 0.1307f, std = 0.3081f;
    Transforms *t = transforms_default(&mean, &std, 1);
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    float out[256];
    SampleContext ctx = {0};
    SampleRng rng = sample_rng(&ctx, 0);
    transforms_apply(t, all, (ImageSize){1, 16, 16}, &rng, out);
    for (int i = 0; i < 256; i++) {
        float want = ((float)all[i] / 255.0f - mean) / std;
        if (memcmp(&want, &out[i], sizeof want) != 0) fail_msg("byte %d: %.9g, not %.9g", i, out[i], want);
    }
    assert_false(transforms_random(t));
    transforms_free(t);
}

/* ---------------- random transforms: distributions ---------------- */

/* Chi-square statistic of counts against a uniform distribution. */
static double chi_square(const int *counts, int bins, int total)
{
    double expect = (double)total / bins, x = 0;
    for (int i = 0; i < bins; i++) x += (counts[i] - expect) * (counts[i] - expect) / expect;
    return x;
}

static void test_flip_rate(void **state)
{
    Transforms *t = pipeline("[{\"type\": \"RandomHorizontalFlip\", \"args\": {\"p\": 0.3}}, {\"type\": \"ToTensor\"}]");
    assert_non_null(t);
    ImageSize z = {1, 1, 2};
    uint8_t img[2] = {10, 20};
    enum { N = 4000 };
    int flipped = 0;
    for (int i = 0; i < N; i++) {
        float out[2];
        SampleContext ctx = {.seed = 5, .epoch = i % 3, .training = true};
        SampleRng rng = sample_rng(&ctx, i);
        transforms_apply(t, img, z, &rng, out);
        flipped += out[0] > out[1];
    }
    double rate = (double)flipped / N, sigma = sqrt(0.3 * 0.7 / N);
    print_message("  flip rate %.4f for p 0.3 (4 sigma: %.4f)\n", rate, 4 * sigma);
    assert_true(fabs(rate - 0.3) < 4 * sigma);
    transforms_free(t);
}

/* Where the window of out lies in the padded image (unique for the noise image). */
static void find_window(const float *padded, int ph, int pw, const float *out, int h, int w, int *top, int *left)
{
    *top = *left = -1;
    for (int y = 0; y + h <= ph; y++)
        for (int x = 0; x + w <= pw; x++) {
            bool same = true;
            for (int r = 0; r < h && same; r++) same = memcmp(padded + (size_t)(y + r) * pw + x, out + (size_t)r * w,
                                                                sizeof(float) * (size_t)w) == 0;
            if (same) {
                assert_int_equal(*top, -1); /* one place only */
                *top = y;
                *left = x;
            }
        }
}

static void test_crop_offsets_uniform(void **state)
{
    /* grey noise 12x12 padded by 2: offsets 0..4 each way, 25 windows */
    uint8_t img[144];
    uint64_t s = 17;
    for (int i = 0; i < 144; i++) img[i] = (uint8_t)((s = s * 6364136223846793005ull + 1) >> 56 | 1);
    Transforms *full = pipeline("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 16, \"padding\": 2}}, {\"type\": "
                                "\"ToTensor\"}]");
    Transforms *t = pipeline("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 12, \"padding\": 2}}, {\"type\": "
                             "\"ToTensor\"}]");
    assert_true(full && t);
    ImageSize z = {1, 12, 12};
    Tensor *padded = run_on(full, img, z, 1, 0, 0);
    enum { N = 2500 };
    int counts[25] = {0};
    for (int i = 0; i < N; i++) {
        Tensor *out = run_on(t, img, z, 3, 1, i);
        int top, left;
        find_window(tensor_f32(padded), 16, 16, tensor_f32(out), 12, 12, &top, &left);
        assert_true(top >= 0 && top <= 4 && left >= 0 && left <= 4);
        counts[top * 5 + left]++;
        tensor_free(out);
    }
    /* 24 degrees of freedom: the 99.9% point is 51.2 */
    double x = chi_square(counts, 25, N);
    print_message("  crop offsets: chi-square %.1f over 25 windows (99.9%% point 51.2)\n", x);
    assert_true(x < 51.2);
    tensor_free(padded);
    transforms_free(full);
    transforms_free(t);
}

/* RandomRotation draws its angle first from the sample's stream: the
 * image must be the one rotated by that angle, and the angles uniform. */
static void test_rotation_angles_uniform(void **state)
{
    Transforms *t = pipeline("[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": [-30, 50]}}, {\"type\": "
                             "\"ToTensor\"}]");
    assert_non_null(t);
    ImageSize z = image_sizes[0];
    size_t numel = (size_t)z.c * (size_t)z.h * (size_t)z.w;
    enum { N = 4000, BINS = 16 };
    int counts[BINS] = {0};
    Image in = {malloc(sizeof(float) * numel), z.c, z.h, z.w}, want = {malloc(sizeof(float) * numel), z.c, z.h, z.w};
    assert_true(in.data && want.data);
    for (size_t i = 0; i < numel; i++) in.data[i] = images[0][i];
    for (int i = 0; i < N; i++) {
        SampleContext ctx = {.seed = 9, .epoch = 2, .training = true};
        SampleRng rng = sample_rng(&ctx, i);
        double angle = sample_rng_range(&rng, -30, 50);
        counts[(int)((angle + 30) / 80 * BINS)]++;
        if (i < 20) { /* the image is that angle's */
            Tensor *out = run_on(t, images[0], z, 9, 2, i);
            double m[6], zero[2] = {0, 0}, one = 1.0;
            affine_inverse_matrix(zero, -angle, zero, one, zero, m);
            float fill = 0;
            affine_sample(&in, &want, m, false, &fill, 1, true);
            for (size_t k = 0; k < numel; k++) assert_true(tensor_f32(out)[k] == want.data[k] / 255.0f);
            tensor_free(out);
        }
    }
    double x = chi_square(counts, BINS, N);
    print_message("  rotation angles: chi-square %.1f over %d bins (99.9%% point 37.7)\n", x, BINS);
    assert_true(x < 37.7); /* 15 degrees of freedom */
    free(in.data);
    free(want.data);
    transforms_free(t);
}

/* ---------------- reproducibility ---------------- */

static bool same_tensor(Tensor *a, Tensor *b)
{
    return shape_equal(a->shape, b->shape) &&
           memcmp(tensor_f32(a), tensor_f32(b), sizeof(float) * (size_t)tensor_numel(a)) == 0;
}

static void test_reproducible_per_seed_epoch_index(void **state)
{
    Transforms *t = pipeline(
        "[{\"type\": \"RandomCrop\", \"args\": {\"size\": 20, \"padding\": 3}}, {\"type\": \"RandomHorizontalFlip\"}, "
        "{\"type\": \"ColorJitter\", \"args\": {\"brightness\": 0.4, \"contrast\": 0.4, \"saturation\": 0.4, \"hue\": "
        "0.1}}, {\"type\": \"RandomAffine\", \"args\": {\"degrees\": 15, \"translate\": [0.1, 0.1], \"scale\": [0.9, 1.1], "
        "\"shear\": 5}}, {\"type\": \"ToTensor\"}]");
    assert_non_null(t);
    assert_true(transforms_random(t));
    Tensor *a = run_on(t, images[0], image_sizes[0], 11, 4, 7);
    Tensor *b = run_on(t, images[0], image_sizes[0], 11, 4, 7);
    Tensor *other_epoch = run_on(t, images[0], image_sizes[0], 11, 5, 7);
    Tensor *other_index = run_on(t, images[0], image_sizes[0], 11, 4, 8);
    Tensor *other_seed = run_on(t, images[0], image_sizes[0], 12, 4, 7);
    assert_true(same_tensor(a, b));
    assert_false(same_tensor(a, other_epoch));
    assert_false(same_tensor(a, other_index));
    assert_false(same_tensor(a, other_seed));
    tensor_free(a);
    tensor_free(b);
    tensor_free(other_epoch);
    tensor_free(other_index);
    tensor_free(other_seed);
    transforms_free(t);
}

static void test_sample_rng(void **state)
{
    SampleContext ctx = {.seed = 1, .epoch = 0};
    SampleRng r = sample_rng(&ctx, 0);
    enum { N = 20000 };
    int counts[7] = {0};
    double sum = 0;
    for (int i = 0; i < N; i++) {
        int64_t v = sample_rng_int(&r, -3, 3);
        assert_true(v >= -3 && v <= 3);
        counts[v + 3]++;
        double u = sample_rng_uniform(&r);
        assert_true(u >= 0 && u < 1);
        sum += u;
    }
    assert_true(chi_square(counts, 7, N) < 22.5); /* 6 degrees of freedom, 99.9% */
    assert_true(fabs(sum / N - 0.5) < 4 * sqrt(1.0 / 12 / N));
    assert_int_equal(sample_rng_int(&r, 5, 5), 5);
}

/* ---------------- errors ---------------- */

static void expect_pipeline_error(const char *json, const char *a, const char *b)
{
    expect_error(pipeline(json), a, b);
}

/* Errors that only an image's size shows. */
static void expect_size_error(const char *json, ImageSize in, const char *a, const char *b)
{
    Transforms *t = pipeline(json);
    if (!t) fail_engine(json);
    ImageSize out;
    expect_failure(transforms_output_size(t, in, &out) != 0, a, b);
    transforms_free(t);
}

static void test_config_errors(void **state)
{
    expect_pipeline_error("[{\"type\": \"RandomFlip\"}]", "config.json: t.0.type: unknown name 'RandomFlip'",
                          "RandomHorizontalFlip");
    expect_pipeline_error("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 28, \"pading\": 4}}, {\"type\": \"ToTensor\"}]",
                          "t.0.args.pading: unknown key for RandomCrop", "did you mean 'padding'");
    expect_pipeline_error("[{\"type\": \"Normalize\", \"args\": {\"mean\": [0.5], \"std\": [0.5]}}, {\"type\": \"ToTensor\"}]",
                          "t.0 (Normalize)", "after ToTensor");
    expect_pipeline_error("[{\"type\": \"Resize\", \"args\": {\"size\": 8}}]", "t: no ToTensor", NULL);
    expect_pipeline_error("[{\"type\": \"ToTensor\"}, {\"type\": \"ToTensor\"}]", "t.1 (ToTensor)", "second ToTensor");
    expect_pipeline_error("[{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.5], \"std\": [0]}}]",
                          "t.1 (Normalize)", "divide by zero");
    expect_pipeline_error("[{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.5, 0.5], \"std\": "
                          "[0.5]}}]",
                          "t.1 (Normalize)", "mean has 2 values, std 1");
    expect_pipeline_error("[{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": \"0.5\", \"std\": "
                          "[0.5]}}]",
                          "t.1.args.mean: expected a number per channel", NULL);
    expect_pipeline_error("[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": 10, \"expand\": true}}, {\"type\": "
                          "\"ToTensor\"}]",
                          "t.0 (RandomRotation)", "expand");
    expect_pipeline_error("[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": -10}}, {\"type\": \"ToTensor\"}]",
                          "t.0 (RandomRotation)", "must be >= 0");
    expect_pipeline_error("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 8, \"padding_mode\": \"wrap\"}}, {\"type\": "
                          "\"ToTensor\"}]",
                          "t.0.args.padding_mode: unknown value \"wrap\"", "reflect");
    expect_pipeline_error("[{\"type\": \"Resize\", \"args\": {\"size\": [8, 0]}}, {\"type\": \"ToTensor\"}]",
                          "t.0.args.size", "from 1");
    expect_pipeline_error("[{\"type\": \"RandomHorizontalFlip\", \"args\": {\"p\": 1.5}}, {\"type\": \"ToTensor\"}]",
                          "t.0 (RandomHorizontalFlip)", "probability");
    expect_pipeline_error("[{\"type\": \"ColorJitter\", \"args\": {\"hue\": 0.7}}, {\"type\": \"ToTensor\"}]",
                          "t.0 (ColorJitter)", "hue");
    expect_pipeline_error("[{\"type\": \"RandomAffine\", \"args\": {\"degrees\": 0, \"translate\": [0.1, 2]}}, {\"type\": "
                          "\"ToTensor\"}]",
                          "t.0 (RandomAffine)", "translate");
    expect_pipeline_error("{\"type\": \"ToTensor\"}", "t: expected a list of transforms", NULL);
    ImageSize rgb = {3, 20, 20}, rgba = {4, 20, 20};
    expect_size_error("[{\"type\": \"ToTensor\"}, {\"type\": \"Normalize\", \"args\": {\"mean\": [0.5, 0.5], \"std\": "
                      "[0.5, 0.5]}}]",
                      rgb, "t.1 (Normalize): mean and std have 2 values, the image has 3 channels", NULL);
    expect_size_error("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 28}}, {\"type\": \"ToTensor\"}]", rgb,
                      "t.0 (RandomCrop): the crop (28x28) is larger than the image (20x20)", NULL);
    expect_size_error("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 28, \"padding\": 2}}, {\"type\": \"ToTensor\"}]",
                      rgb, "(24x24 after padding)", NULL);
    expect_size_error("[{\"type\": \"RandomCrop\", \"args\": {\"size\": 20, \"padding\": 20, \"padding_mode\": "
                      "\"reflect\"}}, {\"type\": \"ToTensor\"}]",
                      rgb, "t.0 (RandomCrop): reflect padding", NULL);
    expect_size_error("[{\"type\": \"ColorJitter\", \"args\": {\"brightness\": 0.5}}, {\"type\": \"ToTensor\"}]", rgba,
                      "t.0 (ColorJitter)", "1 or 3 channels");
    expect_size_error("[{\"type\": \"RandomRotation\", \"args\": {\"degrees\": 5, \"fill\": [1, 2]}}, {\"type\": "
                      "\"ToTensor\"}]",
                      rgb, "t.0 (RandomRotation): fill has 2 values", NULL);
}

/* The shapes pad_if_needed, Resize's smaller edge and max_size give (as torchvision's). */
static void test_output_sizes(void **state)
{
    static const struct {
        const char *json;
        ImageSize in, want;
    } cases[] = {
        {"[{\"type\": \"RandomCrop\", \"args\": {\"size\": [30, 40], \"pad_if_needed\": true}}, {\"type\": \"ToTensor\"}]",
         {3, 23, 31}, {3, 30, 40}},
        {"[{\"type\": \"Resize\", \"args\": {\"size\": 10}}, {\"type\": \"ToTensor\"}]", {1, 30, 45}, {1, 10, 15}},
        {"[{\"type\": \"Resize\", \"args\": {\"size\": [10]}}, {\"type\": \"ToTensor\"}]", {1, 45, 31}, {1, 14, 10}},
        {"[{\"type\": \"Resize\", \"args\": {\"size\": 10, \"max_size\": 12}}, {\"type\": \"ToTensor\"}]", {1, 30, 45},
         {1, 8, 12}},
        {"[{\"type\": \"CenterCrop\", \"args\": {\"size\": [5, 50]}}, {\"type\": \"ToTensor\"}]", {3, 20, 20}, {3, 5, 50}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Transforms *t = pipeline(cases[i].json);
        if (!t) fail_engine(cases[i].json);
        ImageSize out;
        assert_int_equal(transforms_output_size(t, cases[i].in, &out), 0);
        if (memcmp(&out, &cases[i].want, sizeof out) != 0)
            fail_msg("%s on %dx%dx%d: %dx%dx%d, expected %dx%dx%d", cases[i].json, cases[i].in.c, cases[i].in.h,
                     cases[i].in.w, out.c, out.h, out.w, cases[i].want.c, cases[i].want.h, cases[i].want.w);
        transforms_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pipeline_is_bit_identical),
        cmocka_unit_test(test_output_sizes),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_sample_rng),
        cmocka_unit_test(test_flip_rate),
        cmocka_unit_test(test_crop_offsets_uniform),
        cmocka_unit_test(test_rotation_angles_uniform),
        cmocka_unit_test(test_reproducible_per_seed_epoch_index),
        cmocka_unit_test(test_parity_with_torchvision),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
