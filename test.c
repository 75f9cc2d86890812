/* ./test -r saved/models/best.ckpt: evaluates a checkpoint on the MNIST test
 * set (all 10,000 images) with nothing but the checkpoint (its config is
 * inside), printing the loss and every configured metric, as
 * pytorch-template's test.py does. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "data_loader/data_loaders.h"
#include "engine/engine.h"
#include "model/loss.h"
#include "model/metric.h"
#include "model/model.h"
#include "utils/checkpoint.h"
#include "utils/parse_config.h"
#include "utils/prepare_device.h"

#define MAX_METRICS 8

static int evaluate(ConfigParser *cp)
{
    const Config *cfg = cp->config;
    Logger lg;
    if (get_logger(&lg, "test", 2)) return -1;
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
    int rc = -1;
    DataLoader *loader = data_loader_from_config(test_cfg, false);
    Module *model = loader ? model_from_config(cfg) : NULL;
    const char *loss_name;
    LossFn criterion = NULL;
    const char *names[MAX_METRICS];
    MetricFn fns[MAX_METRICS];
    int n_metrics = 0;
    int64_t n_gpu;
    if (!model || checkpoint_restore_model(cp->resume, model)) goto done;
    if (config_string(cfg, "loss", &loss_name) || !(criterion = loss_lookup(loss_name, cfg->label))) goto done;
    const cJSON *metrics = config_find(cfg, "metrics");
    for (int i = 0; metrics && i < cJSON_GetArraySize(metrics) && i < MAX_METRICS; i++) {
        char key[32];
        snprintf(key, sizeof key, "metrics.%d", i);
        if (config_string(cfg, key, &names[i]) || !(fns[i] = metric_lookup(names[i], cfg->label))) goto done;
        n_metrics++;
    }
    if (config_int_or(cfg, "n_gpu", 0, &n_gpu)) goto done;
    Device device = prepare_device(n_gpu, &lg);
    if (module_to(model, device)) goto done;
    module_train(model, false);

    double total_loss = 0, correct[MAX_METRICS] = {0};
    int64_t n_samples = 0, n_batches = data_loader_num_batches(loader), b = 0;
    bool tty = isatty(fileno(stderr));
    bool mode = no_grad_begin();
    data_loader_begin_epoch(loader);
    rc = 0;
    for (;; b++) {
        scope_begin();
        Tensor *x, *y;
        if (!data_loader_next(loader, &x, &y)) {
            scope_end();
            break;
        }
        x = tensor_to(x, device);
        y = tensor_to(y, device);
        Tensor *output = module_forward(model, x);
        Tensor *loss = criterion(output, y);
        int64_t n = y->shape.d[0];
        if (!loss) rc = -1;
        else total_loss += tensor_item(loss) * (double)n;
        for (int i = 0; rc == 0 && i < n_metrics; i++) {
            double c = fns[i](output, y);
            if (c < 0) rc = -1;
            correct[i] += c;
        }
        n_samples += n;
        scope_end();
        if (rc) break;
        if (tty) fprintf(stderr, "\r%3.0f%% %lld/%lld", 100.0 * (double)(b + 1) / (double)n_batches,
                         (long long)(b + 1), (long long)n_batches);
    }
    if (tty) fprintf(stderr, "\n");
    grad_mode_restore(mode);
    if (rc == 0) {
        char line[1024];
        int pos = snprintf(line, sizeof line, "{'loss': %.6f", total_loss / (double)n_samples);
        for (int i = 0; i < n_metrics; i++)
            pos += snprintf(line + pos, sizeof line - (size_t)pos, ", '%s': %.6f", names[i], correct[i] / (double)n_samples);
        snprintf(line + pos, sizeof line - (size_t)pos, "}");
        log_info(&lg, "%s", line);
        log_info(&lg, "(%lld test images)", (long long)n_samples);
    }
done:
    module_free(model);
    data_loader_free(loader);
    config_free(test_cfg);
    return rc;
}

int main(int argc, char **argv)
{
    bool exit_now;
    ConfigParser *cp = config_parser_from_args(argc, argv, "PyTorch Template", NULL, 0, false, &exit_now);
    if (exit_now) return 0;
    int rc = cp ? evaluate(cp) : -1;
    if (rc != 0) fprintf(stderr, "error: %s\n", engine_has_error() ? engine_last_error() : "evaluation failed");
    config_parser_free(cp);
    return rc == 0 ? 0 : 1;
}
