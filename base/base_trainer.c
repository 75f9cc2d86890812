/* BaseTrainer (see base_trainer.h). */
#include "base/base_trainer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "logger/curves.h"
#include "utils/checkpoint.h"

static int parse_monitor(BaseTrainer *bt, const Config *cfg)
{
    const char *monitor;
    if (config_string_or(cfg, "trainer.monitor", "off", &monitor)) return -1;
    if (strcmp(monitor, "off") == 0) {
        bt->mnt_mode = MONITOR_OFF;
        bt->mnt_best = 0;
        return 0;
    }
    char mode[8];
    ENGINE_CHECK_INT(sscanf(monitor, "%7s %47s", mode, bt->mnt_metric) == 2 &&
                         (strcmp(mode, "min") == 0 || strcmp(mode, "max") == 0),
                     "%s: trainer.monitor: expected \"off\", \"min <metric>\" or \"max <metric>\", got \"%s\"",
                     cfg->label, monitor);
    bt->mnt_mode = strcmp(mode, "min") == 0 ? MONITOR_MIN : MONITOR_MAX;
    bt->mnt_best = bt->mnt_mode == MONITOR_MIN ? INFINITY : -INFINITY;
    return 0;
}

static int resume_checkpoint(BaseTrainer *bt)
{
    const Checkpoint *ck = bt->cp->resume;
    const Config *cfg = bt->cp->config;
    log_info(&bt->logger, "Loading checkpoint: %s ...", ck->path);
    const char *arch;
    if (config_string(cfg, "arch.type", &arch)) return -1;
    if (strcmp(arch, ck->arch) != 0)
        log_warning(&bt->logger, "Warning: Architecture configuration given in config file is different from that "
                                 "of checkpoint. This may yield an exception while state_dict is being loaded.");
    if (checkpoint_restore_model(ck, bt->model)) return -1;
    if (bt->cp->fine_tune) { /* new config wins: weights only, a fresh run from epoch 1 */
        log_info(&bt->logger, "Checkpoint loaded. Fine-tuning from its weights with the new config.");
        return 0;
    }
    bt->start_epoch = ck->epoch + 1;
    if (!isnan(ck->monitor_best)) bt->mnt_best = ck->monitor_best;
    bt->not_improved_count = ck->not_improved_count;
    /* optimizer state only when its type is unchanged, as the reference does */
    cJSON *opt_state = ck->optimizer_json ? cJSON_Parse(ck->optimizer_json) : NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(opt_state, "type");
    bool same_type = cJSON_IsString(type) && strcmp(type->valuestring, optimizer_name(bt->optimizer)) == 0;
    cJSON_Delete(opt_state);
    if (!same_type) {
        log_warning(&bt->logger, "Warning: Optimizer type given in config file is different from that of checkpoint. "
                                 "Optimizer parameters not being resumed.");
    } else if (checkpoint_restore_optimizer(ck, bt->optimizer)) {
        return -1;
    }
    if (bt->lr_scheduler && ck->scheduler_json && scheduler_load_state_dict(bt->lr_scheduler, ck->scheduler_json))
        return -1;
    generator_set_state(generator_default(), ck->rng_default);
    if (bt->data_loader && ck->has_loader) data_loader_set_position(bt->data_loader, &ck->loader);
    log_info(&bt->logger, "Checkpoint loaded. Resume training from epoch %lld", (long long)bt->start_epoch);
    return 0;
}

int base_trainer_init(BaseTrainer *bt, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                      const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer,
                      LRScheduler *lr_scheduler, DataLoader *data_loader, TrainEpochFn train_epoch)
{
    memset(bt, 0, sizeof *bt);
    const Config *cfg = cp->config;
    int64_t verbosity;
    if (config_int_or(cfg, "trainer.verbosity", 2, &verbosity) || get_logger(&bt->logger, "trainer", (int)verbosity))
        return -1;
    ENGINE_CHECK_INT(n_metrics <= TRAINER_MAX_METRICS, "%s: metrics: at most %d", cfg->label, TRAINER_MAX_METRICS);
    bt->train_epoch = train_epoch;
    bt->cp = cp;
    bt->model = model;
    bt->criterion = criterion;
    bt->n_metrics = n_metrics;
    for (int i = 0; i < n_metrics; i++) {
        bt->metric_names[i] = metric_names[i];
        bt->metric_fns[i] = metric_fns[i];
    }
    bt->optimizer = optimizer;
    bt->lr_scheduler = lr_scheduler;
    bt->data_loader = data_loader;
    bt->start_epoch = 1;
    if (config_int(cfg, "trainer.epochs", &bt->epochs) || config_int_or(cfg, "trainer.save_period", 1, &bt->save_period) ||
        config_int_or(cfg, "trainer.early_stop", 0, &bt->early_stop) || parse_monitor(bt, cfg))
        return -1;
    ENGINE_CHECK_INT(bt->epochs >= 1, "%s: trainer.epochs: must be at least 1, got %lld", cfg->label,
                     (long long)bt->epochs);
    ENGINE_CHECK_INT(bt->save_period >= 1, "%s: trainer.save_period: must be at least 1, got %lld", cfg->label,
                     (long long)bt->save_period);
    if (cp->resume && resume_checkpoint(bt)) return -1;
    /* the reference makes its TensorboardWriter here; metrics.csv comes with it */
    bool tensorboard;
    if (config_bool_or(cfg, "trainer.tensorboard", false, &tensorboard) ||
        tensorboard_writer_init(&bt->writer, cp->log_dir, tensorboard))
        return -1;
    if (cp->log_dir[0] && metrics_log_open(&bt->metrics_csv, cp->log_dir)) {
        writer_close(&bt->writer);
        return -1;
    }
    return 0;
}

/* Points saved/models/best.ckpt at this run's model_best.ckpt (a relative
 * link, replaced atomically). */
static void link_best(BaseTrainer *bt)
{
    char link[4200], tmp[4300], target[4300];
    /* save_dir is <save_root>/models/<name>/<run_id>: the link, in models/, points at <name>/<run_id> */
    const char *models = strstr(bt->cp->save_dir, "/models/");
    if (!models) return;
    snprintf(link, sizeof link, "%.*s/models/best.ckpt", (int)(models - bt->cp->save_dir), bt->cp->save_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", link);
    snprintf(target, sizeof target, "%s/model_best.ckpt", models + strlen("/models/"));
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, link) != 0)
        log_warning(&bt->logger, "Warning: could not update %s: %s", link, strerror(errno));
}

static int save_checkpoint(BaseTrainer *bt, int64_t epoch, bool save_best)
{
    DataLoaderPosition loader;
    if (bt->data_loader) data_loader_get_position(bt->data_loader, &loader);
    CheckpointContent c = {
        .model = bt->model,
        .optimizer = bt->optimizer,
        .scheduler = bt->lr_scheduler,
        .epoch = epoch,
        .monitor_best = bt->mnt_best,
        .not_improved_count = bt->not_improved_count,
        .rng_default = generator_default(),
        .loader = bt->data_loader ? &loader : NULL,
        .config = bt->cp->config,
    };
    char path[4200];
    if (epoch % bt->save_period == 0) {
        snprintf(path, sizeof path, "%s/checkpoint-epoch%lld.ckpt", bt->cp->save_dir, (long long)epoch);
        if (checkpoint_save(path, &c)) return -1;
        log_info(&bt->logger, "Saving checkpoint: %s ...", path);
    }
    if (save_best) {
        snprintf(path, sizeof path, "%s/model_best.ckpt", bt->cp->save_dir);
        if (checkpoint_save(path, &c)) return -1;
        log_info(&bt->logger, "Saving current best: model_best.ckpt ...");
        link_best(bt);
    }
    return 0;
}

/* The epoch's row of metrics.csv, curves.png redrawn, and the events
 * flushed. A failure here is a warning: it must not end the training. */
static void write_epoch_files(BaseTrainer *bt, const LogDict *log)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/curves.png", bt->cp->log_dir);
    if ((bt->metrics_csv.f && (metrics_log_append(&bt->metrics_csv, log) || draw_curves(&bt->metrics_csv, path))) ||
        writer_flush(&bt->writer)) {
        log_warning(&bt->logger, "Warning: %s", engine_last_error());
        engine_clear_error();
    }
}

int base_trainer_train(BaseTrainer *bt)
{
    for (int64_t epoch = bt->start_epoch; epoch <= bt->epochs; epoch++) {
        LogDict log = {0};
        log_dict_set(&log, "epoch", (double)epoch);
        if (bt->train_epoch(bt, epoch, &log)) return -1;
        for (int i = 0; i < log.n; i++) {
            if (strcmp(log.keys[i], "epoch") == 0) log_info(&bt->logger, "    %-15s: %lld", log.keys[i], (long long)epoch);
            else log_info(&bt->logger, "    %-15s: %.6g", log.keys[i], log.values[i]);
        }
        write_epoch_files(bt, &log);
        bool best = false, stop = false;
        if (bt->mnt_mode != MONITOR_OFF) {
            double value;
            if (!log_dict_get(&log, bt->mnt_metric, &value)) {
                log_warning(&bt->logger, "Warning: Metric '%s' is not found. Model performance monitoring is disabled.",
                            bt->mnt_metric);
                bt->mnt_mode = MONITOR_OFF;
            } else {
                bool improved = bt->mnt_mode == MONITOR_MIN ? value <= bt->mnt_best : value >= bt->mnt_best;
                if (improved) {
                    bt->mnt_best = value;
                    bt->not_improved_count = 0;
                    best = true;
                } else {
                    bt->not_improved_count++;
                }
                if (bt->early_stop > 0 && bt->not_improved_count > bt->early_stop) stop = true;
            }
        }
        /* the checkpoint of the last epoch is written before stopping, so a
         * resume knows the run ended early */
        if (save_checkpoint(bt, epoch, best)) return -1;
        if (stop) {
            log_info(&bt->logger, "Validation performance didn't improve for %lld epochs. Training stops.",
                     (long long)bt->early_stop);
            break;
        }
    }
    return 0;
}

void base_trainer_free(BaseTrainer *bt)
{
    writer_close(&bt->writer);
    metrics_log_close(&bt->metrics_csv);
}
