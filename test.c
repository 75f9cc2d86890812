/* ./test -r saved/models/best.ckpt: evaluates a checkpoint on its data
 * loader's test set (MNIST's 10,000 images, an ImageFolder's test_dir...)
 * with the validation transforms and nothing but the checkpoint (its config
 * is inside), printing the loss and every configured metric, as
 * pytorch-template's test.py does, then each class's accuracy by name when
 * the classes have names (kept in the checkpoint). With --confusion [DIR]
 * it also writes the confusion matrix as confusion.csv and confusion.png (a
 * heat map with the counts, the classes named) into DIR, by default the
 * folder the checkpoint is in (after following links, so
 * saved/models/best.ckpt means its run's folder). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_loader/data_loaders.h"
#include "dist/world.h"
#include "engine/engine.h"
#include "logger/confusion.h"
#include "logger/progress.h"
#include "model/loss.h"
#include "model/metric.h"
#include "model/model.h"
#include "base/checkpoint.h"
#include "utils/crash_report.h"
#include "utils/criterion_config.h"
#include "utils/fs.h"
#include "parse_config.h"
#include "trainer/batch_split.h"
#include "utils/threads.h"
#include "utils/prepare_device.h"

/* The class names: the checkpoint's (the training set's), which the test
 * set's must equal when it names its classes too; or the test set's; NULL
 * when neither names them. -1 with an error when the two differ. */
static int class_names(const Checkpoint *ck, const Dataset *ds, const Config *cfg, const char *const **names, int *n)
{
    const char *const *saved = (const char *const *)ck->class_names;
    if (saved && ds->class_names) {
        bool same = ck->n_classes == ds->n_classes;
        int k = 0;
        while (same && k < ck->n_classes && strcmp(saved[k], ds->class_names[k]) == 0) k++;
        same = same && k == ck->n_classes;
        if (!same) {
            if (ck->n_classes != ds->n_classes)
                engine_error("%s: the test set (%s) has %d classes, the checkpoint was trained on %d (%s)", cfg->label,
                             ds->name, ds->n_classes, ck->n_classes, ck->path);
            else
                engine_error("%s: the test set (%s) names class %d '%s', the checkpoint (%s) '%s': its classes are not "
                             "the ones the model learned",
                             cfg->label, ds->name, k, ds->class_names[k], ck->path, saved[k]);
            return -1;
        }
    }
    *n = saved ? ck->n_classes : ds->n_classes;
    *names = saved ? saved : ds->class_names;
    return 0;
}

/* Adds a batch to the confusion matrix, made at the first batch with as many
 * classes as the output has columns. */
static int add_to_confusion(ConfusionMatrix *cm, Tensor *output, Tensor *target, const char *const *names,
                            int n_names)
{
    ENGINE_CHECK_INT(tensor_dim(output) == 2, "--confusion: expected the model's output [batch, classes], got %s",
                     shape_str(output->shape));
    if (!cm->counts) {
        if (confusion_init(cm, (int)output->shape.d[1])) return -1;
        confusion_set_names(cm, names, n_names);
    }
    return confusion_update(cm, output, target);
}

/* Each named class's accuracy (recall), from the confusion matrix. */
static void log_per_class(const ConfusionMatrix *cm, int n_names, const Logger *lg)
{
    int n = n_names < cm->n ? n_names : cm->n, width = 0;
    for (int k = 0; k < n; k++) width = (int)strlen(cm->names[k]) > width ? (int)strlen(cm->names[k]) : width;
    if (width > 40) width = 40;
    log_info(lg, "Accuracy per class:");
    for (int k = 0; k < n; k++) {
        int64_t total = 0, right = cm->counts[(int64_t)k * cm->n + k];
        for (int j = 0; j < cm->n; j++) total += cm->counts[(int64_t)k * cm->n + j];
        if (total == 0) log_info(lg, "    %-*s: no test images", width, cm->names[k]);
        else
            log_info(lg, "    %-*s: %.6f (%lld/%lld)", width, cm->names[k], (double)right / (double)total,
                     (long long)right, (long long)total);
    }
}

/* confusion.csv and confusion.png into dir, or ("") the checkpoint's folder. */
static int save_confusion(const ConfusionMatrix *cm, const char *dir, const char *checkpoint, const Logger *lg)
{
    char folder[4096];
    if (dir[0]) {
        snprintf(folder, sizeof folder, "%s", dir);
    } else {
        char *real = realpath(checkpoint, NULL);
        ENGINE_CHECK_INT(real != NULL, "%s: cannot resolve the checkpoint's folder", checkpoint);
        char *slash = strrchr(real, '/');
        snprintf(folder, sizeof folder, "%.*s", slash ? (int)(slash - real) : 1, slash ? real : ".");
        free(real);
    }
    if (fs_mkdirs(folder) || confusion_save(cm, folder)) return -1;
    log_info(lg, "Confusion matrix: %s/confusion.csv and confusion.png", folder);
    return 0;
}

/* Under mpirun: the ranks' loss totals, metric counts, sample counts and
 * confusion matrices summed (each rank evaluated other samples). */
static int sum_over_ranks(double *total_loss, double *correct, int n_metrics, int64_t *n_samples, ConfusionMatrix *cm)
{
    double head[CONFIG_MAX_METRICS + 2];
    head[0] = *total_loss;
    head[1] = (double)*n_samples;
    for (int i = 0; i < n_metrics; i++) head[2 + i] = correct[i];
    if (dist_allreduce_sum_f64(head, n_metrics + 2)) return -1;
    *total_loss = head[0];
    *n_samples = (int64_t)head[1];
    for (int i = 0; i < n_metrics; i++) correct[i] = head[2 + i];
    if (!cm->counts) return 0;
    int64_t cells = (int64_t)cm->n * cm->n;
    double *counts = malloc(sizeof(double) * (size_t)cells);
    ENGINE_ASSERT(counts != NULL);
    for (int64_t i = 0; i < cells; i++) counts[i] = (double)cm->counts[i];
    int rc = dist_allreduce_sum_f64(counts, cells);
    for (int64_t i = 0; rc == 0 && i < cells; i++) cm->counts[i] = (int64_t)counts[i];
    free(counts);
    return rc;
}

/* confusion_dir: NULL without --confusion. */
static int evaluate(ConfigParser *cp, const char *confusion_dir)
{
    const Config *cfg = cp->config;
    Logger lg;
    if (get_logger(&lg, "test", dist_is_main() ? 2 : 0)) return -1; /* under mpirun rank 0 reports */
    ENGINE_CHECK_INT(cp->resume != NULL, "./test needs a checkpoint: -r saved/models/best.ckpt, for example");
    /* the test set, in order, with a larger batch: evaluation needs no gradients */
    const char *loader_type;
    const cJSON *loader_args = config_find(cfg, "data_loader.args");
    if (config_string(cfg, "data_loader.type", &loader_type)) return -1;
    ENGINE_CHECK_INT(cJSON_IsObject(loader_args), "%s: data_loader.args: expected an object, got %s", cfg->label,
                     config_describe(loader_args));
    Config *test_cfg = config_parse("{}", cfg->label);
    config_update(test_cfg, cfg);
    if (config_set(test_cfg, "data_loader.args.batch_size", "512") ||
        config_set(test_cfg, "data_loader.args.validation_split", "0")) {
        config_free(test_cfg);
        return -1;
    }
    const Checkpoint *ck = cp->resume;
    int rc = -1;
    BatchSplit split = {.shards = 1};
    DataLoader *loader = data_loader_from_config(test_cfg, false);
    Module *model = loader ? model_from_config(cfg) : NULL;
    LossFn criterion = NULL;
    const char *names[CONFIG_MAX_METRICS];
    MetricFn fns[CONFIG_MAX_METRICS];
    int n_metrics = 0;
    int64_t n_gpu;
    if (!model || checkpoint_restore_model(ck, model)) goto done;
    if (!(criterion = loss_from_config(cfg)) || metrics_from_config(cfg, &n_metrics, names, fns)) goto done;
    if (n_gpu_from_config(cfg, &n_gpu)) goto done;
    Device device = prepare_device(n_gpu, &lg);
    if (configure_device_modes(cfg)) goto done;
    /* under mpirun each rank evaluates its share of the test set, every sample once */
    if (dist_size() > 1 && data_loader_shard(loader, dist_rank(), dist_size(), false)) goto done;
    if (module_to(model, device) || data_loader_to(loader, device)) goto done;
    module_train(model, false);
    /* the batch's shards on the threads, as in training (trainer.batch_split) */
    if (batch_split_init(&split, cfg, model, model_from_config, device, data_loader_batch_size(loader)))
        goto done;
    int n_names = 0;
    const char *const *classes = NULL;
    if (class_names(ck, data_loader_dataset(loader), cfg, &classes, &n_names)) goto done;
    /* the matrix is also what the accuracy per class comes from */
    bool confusion = confusion_dir || classes;

    double total_loss = 0, correct[CONFIG_MAX_METRICS] = {0};
    int64_t n_samples = 0, n_batches = data_loader_num_batches(loader), b = 0;
    ConfusionMatrix cm = {0};
    Progress bar;
    progress_begin(&bar, "Test", n_batches, 4);
    bool mode = no_grad_begin();
    data_loader_begin_epoch(loader);
    rc = 0;
    for (;; b++) {
        engine_clear_error(); /* errors are per batch: one a model's code ignored must not stand for a later one */
        scope_begin();
        TensorBatch batch;
        if (!data_loader_next_batch(loader, &batch)) {
            scope_end();
            break;
        }
        for (int k = 0; k < batch.n; k++) batch.tensors[k] = tensor_to(batch.tensors[k], device);
        Tensor *y = tensor_batch_require(&batch, "target", "the loss");
        Tensor *output = NULL;
        if (y && batch_split_step(&split, &batch, false, DT_F32, NULL, NULL, &output)) output = NULL;
        Tensor *loss = output ? criterion(output, y) : NULL;
        int64_t n = loss ? y->shape.d[0] : 0;
        if (!loss) rc = -1;
        else total_loss += tensor_item(loss) * (double)n;
        for (int i = 0; rc == 0 && i < n_metrics; i++) {
            double c = tensor_item(fns[i](output, y));
            if (isnan(c)) rc = -1;
            correct[i] += c;
        }
        if (rc == 0 && confusion && add_to_confusion(&cm, output, y, classes, n_names)) rc = -1;
        n_samples += n;
        scope_end();
        if (rc) break;
        progress_update(&bar, b + 1, NULL);
    }
    progress_end(&bar);
    grad_mode_restore(mode);
    if (rc == 0 && data_loader_failed(loader)) rc = -1; /* the dataset's error ended the epoch */
    if (rc == 0 && dist_size() > 1 && sum_over_ranks(&total_loss, correct, n_metrics, &n_samples, &cm)) rc = -1;
    if (rc == 0 && dist_is_main()) {
        char line[1024];
        int pos = snprintf(line, sizeof line, "{'loss': %.6f", total_loss / (double)n_samples);
        for (int i = 0; i < n_metrics; i++)
            pos += snprintf(line + pos, sizeof line - (size_t)pos, ", '%s': %.6f", names[i], correct[i] / (double)n_samples);
        snprintf(line + pos, sizeof line - (size_t)pos, "}");
        log_info(&lg, "%s", line);
        log_info(&lg, "(%lld test images)", (long long)n_samples);
        log_info(&lg, "Test set: %s", data_loader_dataset(loader)->name);
        if (classes && cm.counts) log_per_class(&cm, n_names, &lg);
        if (confusion_dir && cm.counts && save_confusion(&cm, confusion_dir, ck->path, &lg)) rc = -1;
    }
    confusion_free(&cm);
done:
    batch_split_free(&split);
    module_free(model);
    data_loader_free(loader);
    config_free(test_cfg);
    return rc;
}

/* Takes ./test's own option, --confusion [DIR] (or --confusion=DIR), out of
 * argv before the shared parser reads the rest; *dir stays NULL without it. */
static void take_confusion_option(int *argc, char **argv, const char **dir)
{
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        if (strncmp(argv[i], "--confusion=", 12) == 0) {
            *dir = argv[i] + 12;
        } else if (strcmp(argv[i], "--confusion") == 0) {
            *dir = "";
            if (i + 1 < *argc && argv[i + 1][0] != '-') *dir = argv[++i];
        } else {
            argv[kept++] = argv[i];
        }
    }
    *argc = kept;
}

int main(int argc, char **argv)
{
    prefer_passive_omp_waiting(argv);
    if (crash_report_install("test")) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    bool exit_now;
    const char *confusion_dir = NULL;
    take_confusion_option(&argc, argv, &confusion_dir);
    if (dist_init()) { /* under mpirun */
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    ConfigParser *cp = config_parser_from_args(argc, argv, "PyTorch Template", NULL, 0, false, &exit_now);
    if (exit_now) {
        printf("  --confusion [DIR]     also write confusion.csv and confusion.png (a heat map) into DIR\n"
               "                        (default: the checkpoint's folder)\n");
        return 0;
    }
    int rc = cp ? evaluate(cp, confusion_dir) : -1;
    if (rc != 0) {
        const char *msg = engine_has_error() ? engine_last_error() : "evaluation failed";
        if (dist_size() > 1) fprintf(stderr, "error: rank %d of %d: %s\n", dist_rank(), dist_size(), msg);
        else fprintf(stderr, "error: %s\n", msg);
        if (dist_size() > 1) dist_abort(1); /* the other ranks may wait in a collective */
    }
    config_parser_free(cp);
    dist_finalize();
    return rc == 0 ? 0 : 1;
}
