/* BaseTrainer (see base_trainer.h). */
#include "base/base_trainer.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/finetune.h"
#include "engine/serialize/atomic_file.h"
#include "dist/world.h"
#include "logger/curves.h"
#include "utils/interrupt.h"

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

/* Whether a saved optimizer or scheduler state (JSON with a "type") is of type name. */
static bool same_state_type(const char *state_json, const char *name)
{
    cJSON *state = state_json ? cJSON_Parse(state_json) : NULL;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(state, "type");
    bool same = cJSON_IsString(type) && strcmp(type->valuestring, name) == 0;
    cJSON_Delete(state);
    return same;
}

/* The loader's position from a checkpoint saved with another data-parallel
 * layout (ranks x batch_size per rank): global batch b covers the same
 * samples of the epoch's order for any layout of the same global batch
 * size (data_loader_shard), so a position inside an epoch carries over
 * only then; the end of an epoch carries over always. */
static int resume_layout(BaseTrainer *bt, const Checkpoint *ck, DataLoaderPosition *pos)
{
    int64_t saved = ck->global_batch_size, now = dist_size() * data_loader_batch_size(bt->data_loader);
    if (saved == 0 || saved == now) return 0; /* older checkpoints: a single process, as now */
    int64_t n = data_loader_num_samples(bt->data_loader);
    bool drop_last = data_loader_drops_last(bt->data_loader);
    int64_t saved_batches = drop_last ? n / saved : (n + saved - 1) / saved;
    if (pos->taken >= saved_batches) {
        pos->taken = INT64_MAX; /* that epoch was over */
        return 0;
    }
    ENGINE_CHECK_INT(!ck->has_progress && pos->taken <= 0,
                     "%s: the checkpoint stopped inside an epoch of global batches of %lld samples (ranks x "
                     "batch_size), this run's are %lld: resume with a batch_size that makes %lld, or from a "
                     "checkpoint at an epoch's end",
                     ck->path, (long long)saved, (long long)now, (long long)saved);
    return 0;
}

static int resume_checkpoint(BaseTrainer *bt)
{
    const Checkpoint *ck = bt->resume = bt->cp->resume;
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
    bt->resume_in_epoch = ck->has_progress;
    /* the epoch the checkpoint is in (its last whole one, or the one it
     * stopped inside): when that epoch began with unfreezing, the optimizer
     * had the unfrozen groups, and its state expects them */
    int64_t at = ck->has_progress ? ck->progress_epoch : ck->epoch;
    if (bt->unfreeze_epoch > 0 && at >= bt->unfreeze_epoch) {
        if (finetune_unfreeze(cfg, bt->model, bt->optimizer, bt->lr_scheduler, NULL)) return -1;
        bt->unfrozen = true;
        log_info(&bt->logger, "The checkpoint is past trainer.unfreeze_epoch = %lld: arch.freeze's parameters train "
                              "(optimizer groups: %d)",
                 (long long)bt->unfreeze_epoch, bt->optimizer->n_groups);
    }
    if (!isnan(ck->monitor_best)) bt->mnt_best = ck->monitor_best;
    bt->not_improved_count = ck->not_improved_count;
    /* optimizer state only when its type is unchanged, as the reference does */
    if (!same_state_type(ck->optimizer_json, optimizer_name(bt->optimizer))) {
        log_warning(&bt->logger, "Warning: Optimizer type given in config file is different from that of checkpoint. "
                                 "Optimizer parameters not being resumed.");
    } else if (checkpoint_restore_optimizer(ck, bt->optimizer)) {
        return -1;
    }
    /* the same for the scheduler: a resumed run may switch to another one */
    if (bt->lr_scheduler && ck->scheduler_json) {
        if (!same_state_type(ck->scheduler_json, scheduler_name(bt->lr_scheduler)))
            log_warning(&bt->logger, "Warning: LR scheduler type given in config file is different from that of "
                                     "checkpoint. LR scheduler state not being resumed.");
        else if (scheduler_load_state_dict(bt->lr_scheduler, ck->scheduler_json))
            return -1;
    }
    generator_set_state(generator_default(), ck->rng_default);
    if (bt->data_loader && ck->has_loader) {
        DataLoaderPosition pos = ck->loader;
        if (resume_layout(bt, ck, &pos)) return -1;
        data_loader_set_position(bt->data_loader, &pos);
    }
    if (ck->has_progress)
        log_info(&bt->logger, "Checkpoint loaded. Resume training from epoch %lld, batch %lld",
                 (long long)bt->start_epoch, (long long)ck->progress_batch);
    else
        log_info(&bt->logger, "Checkpoint loaded. Resume training from epoch %lld", (long long)bt->start_epoch);
    if (bt->start_epoch > bt->epochs)
        log_info(&bt->logger, "The checkpoint is at epoch %lld of trainer.epochs = %lld: nothing left to train "
                              "(raise it with --set trainer.epochs=N to train on)",
                 (long long)ck->epoch, (long long)bt->epochs);
    return 0;
}

int base_trainer_init(BaseTrainer *bt, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                      const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer,
                      LRScheduler *lr_scheduler, DataLoader *data_loader, TrainEpochFn train_epoch)
{
    memset(bt, 0, sizeof *bt);
    const Config *cfg = cp->config;
    int64_t verbosity;
    /* in a distributed run rank 0 logs; the others only warnings and errors */
    if (config_int_or(cfg, "trainer.verbosity", 2, &verbosity) ||
        get_logger(&bt->logger, "trainer", dist_is_main() ? (int)verbosity : 0))
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
        config_int_or(cfg, "trainer.early_stop", 0, &bt->early_stop) || parse_monitor(bt, cfg) ||
        finetune_unfreeze_epoch(cfg, &bt->unfreeze_epoch))
        return -1;
    ENGINE_CHECK_INT(bt->epochs >= 1, "%s: trainer.epochs: must be at least 1, got %lld", cfg->label,
                     (long long)bt->epochs);
    ENGINE_CHECK_INT(bt->save_period >= 1, "%s: trainer.save_period: must be at least 1, got %lld", cfg->label,
                     (long long)bt->save_period);
    ENGINE_CHECK_INT(bt->early_stop >= 0, "%s: trainer.early_stop: must be 0 (never) or a number of epochs, got %lld",
                     cfg->label, (long long)bt->early_stop);
    if (bt->unfreeze_epoch > bt->epochs)
        log_warning(&bt->logger, "Warning: trainer.unfreeze_epoch = %lld comes after the last epoch (%lld): arch.freeze's "
                                 "parameters will not train in this run",
                    (long long)bt->unfreeze_epoch, (long long)bt->epochs);
    if (cp->resume && resume_checkpoint(bt)) return -1;
    /* the reference makes its TensorboardWriter here; metrics.csv comes with it */
    bool tensorboard;
    if (config_bool_or(cfg, "trainer.tensorboard", false, &tensorboard) ||
        tensorboard_writer_init(&bt->writer, cp->log_dir, tensorboard && dist_is_main())) /* rank 0 writes */
        return -1;
    if (cp->log_dir[0] && metrics_log_open(&bt->metrics_csv, cp->log_dir)) {
        writer_close(&bt->writer);
        return -1;
    }
    return 0;
}

/* Points <save_dir>/models/best.ckpt at this run's model_best.ckpt (a
 * relative link, replaced atomically through a name unique to this
 * process, so two runs never share the temporary link). */
static void link_best(BaseTrainer *bt)
{
    const ConfigParser *cp = bt->cp;
    char link[4200], tmp[4400];
    size_t n = strlen(cp->models_dir);
    /* save_dir is <models_dir>/<name>/<run_id>: the link points at <name>/<run_id>/model_best.ckpt */
    ENGINE_ASSERT(strncmp(cp->save_dir, cp->models_dir, n) == 0 && cp->save_dir[n] == '/');
    char target[4300];
    snprintf(target, sizeof target, "%s/model_best.ckpt", cp->save_dir + n + 1);
    snprintf(link, sizeof link, "%s/best.ckpt", cp->models_dir);
    if (atomic_temp_name(link, tmp, sizeof tmp) || symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
        log_warning(&bt->logger, "Warning: could not update %s: %s", link,
                    engine_has_error() ? engine_last_error() : strerror(errno));
        engine_clear_error();
        unlink(tmp);
    }
}

/* Temporary files of runs killed while saving (kill -9, power loss): in
 * this run's folder, its siblings (an interrupted run of the same name is
 * resumed into a new folder) and the models folder (best.ckpt's link). */
static void clean_stale_temp_files(BaseTrainer *bt)
{
    const ConfigParser *cp = bt->cp;
    int removed = atomic_clean_stale(cp->models_dir);
    char name_dir[4200];
    snprintf(name_dir, sizeof name_dir, "%s", cp->save_dir);
    char *slash = strrchr(name_dir, '/');
    if (slash) *slash = '\0';
    DIR *d = opendir(name_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char run_dir[4500];
        snprintf(run_dir, sizeof run_dir, "%s/%s", name_dir, e->d_name);
        removed += atomic_clean_stale(run_dir);
    }
    if (d) closedir(d);
    if (removed) log_info(&bt->logger, "Removed %d temporary file(s) left by runs that died while saving", removed);
}

/* Writes the checkpoint at path and logs it. */
static int write_checkpoint(BaseTrainer *bt, const char *path, int64_t epoch, const EpochProgress *progress)
{
    static bool cleaned;
    if (!cleaned) {
        clean_stale_temp_files(bt);
        cleaned = true;
    }
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
        .progress = progress,
        .config = bt->cp->config,
        .grad_scaler = bt->grad_scaler,
    };
    const Dataset *ds = bt->data_loader ? data_loader_dataset(bt->data_loader) : NULL;
    if (bt->data_loader) {
        c.ranks = dist_size();
        c.rank_batch_size = data_loader_batch_size(bt->data_loader);
    }
    if (ds && ds->class_names) { /* ./test shows results by class name */
        c.class_names = ds->class_names;
        c.n_classes = ds->n_classes;
    }
    return checkpoint_save(path, &c);
}

/* Rank 0's files of an epoch's save: its checkpoint, and model_best. */
static int write_checkpoints(BaseTrainer *bt, int64_t epoch, bool save_best, bool always)
{
    char path[4200];
    if (always || epoch % bt->save_period == 0) {
        snprintf(path, sizeof path, "%s/checkpoint-epoch%lld.ckpt", bt->cp->save_dir, (long long)epoch);
        if (write_checkpoint(bt, path, epoch, NULL)) return -1;
        log_info(&bt->logger, "Saving checkpoint: %s ...", path);
        if (always) snprintf(bt->interrupted_path, sizeof bt->interrupted_path, "%s", path);
    }
    if (save_best) {
        snprintf(path, sizeof path, "%s/model_best.ckpt", bt->cp->save_dir);
        if (write_checkpoint(bt, path, epoch, NULL)) return -1;
        log_info(&bt->logger, "Saving current best: model_best.ckpt ...");
        link_best(bt);
    }
    return 0;
}

/* always: save this epoch's checkpoint even off save_period (the run stops).
 * In a distributed run rank 0 writes (every rank holds the same weights). */
static int save_checkpoint(BaseTrainer *bt, int64_t epoch, bool save_best, bool always)
{
    bool saving = always || epoch % bt->save_period == 0 || save_best; /* the same on every rank */
    if (!saving) return 0;
    if (bt->before_save && bt->before_save(bt)) return -1;
    int rc = dist_is_main() ? write_checkpoints(bt, epoch, save_best, always) : 0;
    if (bt->after_save && bt->after_save(bt)) rc = -1;
    return rc;
}

/* The checkpoint of an epoch stopped by a signal: the epochs before it done,
 * and bt->progress inside it. */
static int save_interrupted(BaseTrainer *bt, int64_t epoch)
{
    bt->progress.epoch = epoch;
    if (bt->before_save && bt->before_save(bt)) return -1;
    int rc = 0;
    if (dist_is_main()) { /* rank 0 saves, and names the checkpoint */
        snprintf(bt->interrupted_path, sizeof bt->interrupted_path, "%s/checkpoint-epoch%lld-batch%lld.ckpt",
                 bt->cp->save_dir, (long long)epoch, (long long)bt->progress.batch);
        if (write_checkpoint(bt, bt->interrupted_path, epoch - 1, &bt->progress)) {
            bt->interrupted_path[0] = '\0';
            rc = -1;
        } else {
            log_info(&bt->logger, "Saving checkpoint: %s ...", bt->interrupted_path);
        }
    }
    if (bt->after_save && bt->after_save(bt)) rc = -1;
    return rc;
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
        if (bt->unfreeze_epoch > 0 && !bt->unfrozen && epoch >= bt->unfreeze_epoch) {
            log_info(&bt->logger, "Epoch %lld: trainer.unfreeze_epoch", (long long)epoch);
            if (finetune_unfreeze(bt->cp->config, bt->model, bt->optimizer, bt->lr_scheduler, &bt->logger)) return -1;
            bt->unfrozen = true;
        }
        LogDict log = {0};
        log_dict_set(&log, "epoch", (double)epoch);
        int rc = bt->train_epoch(bt, epoch, &log);
        if (rc == TRAIN_INTERRUPTED) return save_interrupted(bt, epoch) ? -1 : TRAIN_INTERRUPTED;
        if (rc) return -1;
        bt->epochs_done++;
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
         * resume knows the run ended early; a signal that came during the
         * epoch's last steps or its save stops the run here, at a saved epoch */
        bool interrupted = dist_interrupt_agreed() && epoch < bt->epochs && !stop;
        if (save_checkpoint(bt, epoch, best, interrupted)) return -1;
        if (interrupted) return TRAIN_INTERRUPTED;
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
