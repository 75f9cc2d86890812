/* Trainer (see trainer.h). Each step runs inside its own scope, so the
 * step's tensors and graph are freed when it ends. What the reference sends
 * to TensorBoard goes to bt->writer the same way: per-step scalars under
 * set_step, the input grid, and parameter histograms after validation.
 * Steps leave their loss and metric counts on the device (step_values.h);
 * they are read back and logged every log_step batches and at the end of
 * an epoch, so the host does not wait for the GPU at every step. */
#include "trainer/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/ddp.h"
#include "dist/zero.h"
#include "dist/world.h"
#include "engine/autocast.h"
#include "engine/memory.h"
#include "engine/parallel.h"
#include "engine/scope.h"
#include "logger/image_grid.h"
#include "logger/progress.h"
#include "model/model.h"
#include "trainer/step_values.h"
#include "utils/interrupt.h"

/* Queues the step's loss and each metric's correct count. */
static int push_step(Trainer *t, StepValues *sv, Tensor *loss, Tensor *output, Tensor *target, StepInfo info)
{
    Tensor *values[TRAINER_MAX_METRICS + 1];
    values[0] = loss;
    for (int i = 0; i < t->base.n_metrics; i++)
        if (!(values[i + 1] = t->base.metric_fns[i](output, target))) return -1;
    return step_values_push(sv, values, info);
}

/* Whether the model's output is (a view of) one of the batch's tensors,
 * which a model that returns its input makes it: then the batch is read
 * until the step's end. */
static bool output_reads_batch(const Tensor *output, const TensorBatch *b)
{
    for (int k = 0; k < b->n; k++)
        if (output && b->tensors[k] && output->storage == b->tensors[k]->storage) return true;
    return false;
}

/* A NaN or infinite loss means training diverged: stop with a message (the
 * checkpoints of earlier epochs stay as they are) rather than go on with
 * NaN weights. */
static int diverged(const Trainer *t, int64_t epoch, const char *which, float loss)
{
    engine_error("%s: epoch %lld: the %s loss is %s: training diverged (a smaller optimizer.args.lr may help)",
                 t->base.cp->config->label, (long long)epoch, which, isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf");
    return -1;
}

/* Reads the queued steps back and logs each as the reference does per
 * step: the writer's step (with the mode), lr in training, the loss and
 * metrics to the writer and, weighted by samples, to the tracker. Returns
 * the number of steps logged (their infos in sv->info) or -1; the last
 * step's loss goes to *last_loss unless it is NULL. */
/* Distributed training: every rank's rows of the same steps (each rank
 * queues and reads its steps at the same batches) summed over ranks, so
 * that a row holds the loss and metric counts of the step's global batch,
 * the same on every rank. */
static int reduce_step_rows(StepValues *sv, int rows)
{
    if (dist_size() == 1 || rows <= 0) return rows;
    int nv = sv->n_values, w = nv + 1;
    double *sums = malloc(sizeof(double) * (size_t)rows * (size_t)w);
    ENGINE_ASSERT(sums != NULL);
    for (int r = 0; r < rows; r++) {
        const float *v = sv->host + (size_t)r * (size_t)nv;
        double n = (double)sv->info[r].n;
        sums[r * w] = n;
        sums[r * w + 1] = (double)v[0] * n; /* the loss is a mean over the batch */
        for (int i = 1; i < nv; i++) sums[r * w + 1 + i] = v[i];
    }
    int rc = dist_allreduce_sum_f64(sums, (int64_t)rows * w);
    for (int r = 0; rc == 0 && r < rows; r++) {
        float *v = sv->host + (size_t)r * (size_t)nv;
        sv->info[r].n = (int64_t)sums[r * w];
        v[0] = (float)(sums[r * w + 1] / sums[r * w]);
        for (int i = 1; i < nv; i++) v[i] = (float)sums[r * w + 1 + i];
    }
    free(sums);
    return rc ? -1 : rows;
}

/* Distributed validation: the ranks' totals and counts summed (each rank
 * validated its own samples, as many as it had). */
static int reduce_tracker(MetricTracker *m)
{
    if (dist_size() == 1) return 0;
    double buf[2 * TRACKER_MAX_KEYS];
    for (int i = 0; i < m->n; i++) {
        buf[i] = m->total[i];
        buf[m->n + i] = (double)m->count[i];
    }
    if (dist_allreduce_sum_f64(buf, 2 * m->n)) return -1;
    for (int i = 0; i < m->n; i++) {
        m->total[i] = buf[i];
        m->count[i] = (int64_t)buf[m->n + i];
    }
    return 0;
}

static int log_steps(Trainer *t, StepValues *sv, MetricTracker *tracker, bool training, int64_t epoch,
                     double *last_loss)
{
    BaseTrainer *bt = &t->base;
    int rows = step_values_read(sv);
    /* training steps in lockstep: the global batch's values (validation reduces its totals at the end) */
    if (training) rows = reduce_step_rows(sv, rows);
    for (int r = 0; r < rows; r++) {
        const StepInfo *info = &sv->info[r];
        const float *v = sv->host + (size_t)r * (size_t)sv->n_values;
        double n = (double)info->n;
        if (!isfinite(v[0])) return diverged(t, epoch, training ? "training" : "validation", v[0]);
        if (writer_set_step_at(&bt->writer, info->step, training ? "train" : "valid", info->time) ||
            (training && writer_add_scalar(&bt->writer, "lr", info->lr)) || writer_add_scalar(&bt->writer, "loss", v[0]))
            return -1;
        tracker_update(tracker, "loss", v[0], info->n);
        for (int i = 0; i < bt->n_metrics; i++) {
            tracker_update(tracker, bt->metric_names[i], v[i + 1] / n, info->n);
            if (writer_add_scalar(&bt->writer, bt->metric_names[i], v[i + 1] / n)) return -1;
        }
        if (last_loss) *last_loss = v[0];
    }
    return rows;
}

/* The batch's input as an image grid (make_grid(nrow=8, normalize=True))
 * for the writer and, in training, for input_grid.png in the log folder.
 * Once per epoch (the reference adds one every log_step batches); inputs
 * that are not f32 images [N, 1 or 3, H, W] (sequences...) are skipped. */
static int add_input_grid(Trainer *t, const TensorBatch *b, bool save_png)
{
    BaseTrainer *bt = &t->base;
    Tensor *x = tensor_batch_get(b, "input");
    if (!x || x->dtype != DT_F32 || tensor_dim(x) != 4 || (x->shape.d[1] != 1 && x->shape.d[1] != 3)) return 0;
    Tensor *grid = make_grid(x, 8, 2, true);
    if (writer_add_image(&bt->writer, "input", grid)) return -1;
    if (!save_png || !bt->cp->log_dir[0]) return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/input_grid.png", bt->cp->log_dir);
    return save_image(grid, path);
}

/* A histogram of every parameter, as the reference logs after validation. */
static int add_parameter_histograms(BaseTrainer *bt)
{
    StateDict params;
    if (module_named_parameters(bt->model, &params)) return -1;
    int rc = 0;
    for (int i = 0; i < params.n && rc == 0; i++)
        rc = writer_add_histogram(&bt->writer, params.names[i], params.tensors[i], HISTOGRAM_AUTO);
    state_dict_free(&params);
    return rc;
}

/* Next training batch; in iteration-based training the loader's epochs run
 * across ours and it restarts when exhausted (the reference's inf_loop). */
static bool next_batch(Trainer *t, TensorBatch *b)
{
    if (data_loader_next_batch(t->data_loader, b)) return true;
    if (!t->iteration_based || data_loader_failed(t->data_loader)) return false;
    data_loader_begin_epoch(t->data_loader);
    return data_loader_next_batch(t->data_loader, b);
}

/* The step's forward on batch b, moved to the model's device: the model's
 * output and the batch's "target" (what the loss and metrics compare it
 * with), or -1 with an error. */
static int batch_to_device(Trainer *t, TensorBatch *b, Tensor **target)
{
    for (int k = 0; k < b->n; k++)
        if (!(b->tensors[k] = tensor_to(b->tensors[k], t->device))) return -1;
    *target = tensor_batch_require(b, "target", "the loss");
    return *target ? 0 : -1;
}

static int forward_step(Trainer *t, TensorBatch *b, Tensor **output, Tensor **target)
{
    *output = NULL;
    if (batch_to_device(t, b, target)) return -1;
    /* the shards on their threads, or the whole batch (batch_split.h), under autocast in amp runs */
    return batch_split_step(&t->split, b, t->amp, t->amp_dtype, NULL, NULL, output);
}

/* The criterion, under autocast in amp runs (losses are on its f32 list). */
static Tensor *amp_criterion(Trainer *t, Tensor *output, Tensor *target)
{
    AutocastState prev = autocast_state();
    if (t->amp && autocast_begin(t->amp_dtype, &prev)) return NULL;
    Tensor *loss = t->base.criterion(output, target);
    autocast_restore(prev);
    return loss;
}

/* Validation batches whose values wait on the device before they are read back. */
enum { VALID_STEPS_QUEUED = 64 };

static int valid_epoch(Trainer *t, int64_t epoch, LogDict *log)
{
    module_train(t->base.model, false);
    tracker_reset(&t->valid_metrics);
    /* every rank validates rank 0's model: its BatchNorm statistics (DDP's broadcast_buffers) */
    if (dist_size() > 1 && ddp_broadcast_buffers(t->base.model)) return -1;
    StepValues sv;
    if (step_values_init(&sv, VALID_STEPS_QUEUED, t->base.n_metrics + 1, t->device)) return -1;
    bool mode = no_grad_begin();
    data_loader_begin_epoch(t->valid_data_loader);
    int rc = 0;
    int64_t n_batches = data_loader_num_batches(t->valid_data_loader);
    TensorBatch b;
    for (int64_t batch_idx = 0; rc == 0; batch_idx++) {
        if (dist_interrupt_agreed()) {
            rc = TRAIN_INTERRUPTED;
            break;
        }
        engine_clear_error(); /* errors are per step: one a model's code ignored must not stand for a later one */
        scope_begin();
        if (!data_loader_next_batch(t->valid_data_loader, &b)) {
            scope_end();
            if (data_loader_failed(t->valid_data_loader)) rc = -1; /* a dataset's error, not the epoch's end */
            break;
        }
        Tensor *output, *y, *loss = NULL;
        if (forward_step(t, &b, &output, &y) == 0) loss = amp_criterion(t, output, y);
        StepInfo info = {.step = (epoch - 1) * n_batches + batch_idx, .batch = batch_idx,
                         .n = loss ? y->shape.d[0] : 0, .time = writer_clock()};
        if (!loss || push_step(t, &sv, loss, output, y, info)) rc = -1;
        /* batch 0 is logged at once, so that the input grid goes to its step */
        if (rc == 0 && (batch_idx == 0 || step_values_full(&sv)) &&
            log_steps(t, &sv, &t->valid_metrics, false, epoch, NULL) < 0)
            rc = -1;
        if (rc == 0 && batch_idx == 0 && add_input_grid(t, &b, false)) rc = -1;
        scope_end();
        if (rc == 0) engine_clear_error(); /* nor after the last step */
    }
    if (rc == 0 && log_steps(t, &sv, &t->valid_metrics, false, epoch, NULL) < 0) rc = -1;
    grad_mode_restore(mode);
    step_values_free(&sv);
    if (rc == 0 && reduce_tracker(&t->valid_metrics)) rc = -1;
    if (rc == 0) log_dict_add_tracker(log, &t->valid_metrics, "val_");
    return rc; /* TRAIN_INTERRUPTED: validation runs again from its start on resume */
}

static int step_scheduler_per_epoch(Trainer *t, const LogDict *log)
{
    LRScheduler *s = t->base.lr_scheduler;
    if (!s || t->scheduler_per_batch) return 0;
    if (!scheduler_needs_metric(s)) return scheduler_step(s);
    /* ReduceLROnPlateau steps on the monitored metric (the reference passes nothing) */
    const char *key = t->base.mnt_mode != MONITOR_OFF ? t->base.mnt_metric : "val_loss";
    double value;
    if (!log_dict_get(log, key, &value) && !log_dict_get(log, "loss", &value)) return 0;
    return scheduler_step_metric(s, value);
}

/* The device's memory after the epoch and its peak during it, in MiB, as
 * torch.cuda's memory_allocated / memory_reserved / max_memory_allocated.
 * The CPU's memory is not tracked (all zero): then nothing is added. */
static void add_memory_stats(const Trainer *t, LogDict *log)
{
    MemoryStats m;
    if (device_memory_stats(t->device, &m) || m.reserved == 0) {
        engine_clear_error();
        return;
    }
    const double mib = 1024.0 * 1024.0;
    log_dict_set(log, "gpu_allocated_mib", (double)m.allocated / mib);
    log_dict_set(log, "gpu_reserved_mib", (double)m.reserved / mib);
    log_dict_set(log, "gpu_peak_mib", (double)m.peak_allocated / mib);
}

/* Logs the queued training steps, and the reference's progress line for
 * the batch that is a multiple of log_step (the last one queued then). */
static int log_train_steps(Trainer *t, StepValues *sv, int64_t epoch, double total, Progress *bar, double *last_loss)
{
    int rows = log_steps(t, sv, &t->train_metrics, true, epoch, last_loss);
    if (rows < 0) return -1;
    for (int r = 0; r < rows; r++) {
        int64_t batch_idx = sv->info[r].batch;
        if (batch_idx % t->log_step != 0) continue;
        /* samples as doubles: batches x batch_size may pass what an int64 holds */
        double current = (double)batch_idx * (double)data_loader_batch_size(t->data_loader) * dist_size();
        progress_clear(bar);
        log_debug(&t->base.logger, "Train Epoch: %lld [%.0f/%.0f (%.0f%%)] Loss: %.6f", (long long)epoch,
                  current, total, 100.0 * current / total,
                  sv->host[(size_t)r * (size_t)sv->n_values]);
    }
    return 0;
}

/* Where the epoch starts: batch 0 of a new loader epoch, or, resuming a
 * checkpoint saved inside this epoch, its next batch with the epoch's
 * training totals so far (the loader's position was restored with it). */
static int begin_train_epoch(Trainer *t, int64_t *first_batch)
{
    BaseTrainer *bt = &t->base;
    tracker_reset(&t->train_metrics);
    *first_batch = 0;
    if (bt->resume_in_epoch) {
        bt->resume_in_epoch = false;
        *first_batch = bt->resume->progress_batch;
        ENGINE_CHECK_INT(*first_batch <= t->len_epoch,
                         "%s: the checkpoint stopped at batch %lld of its epoch, but an epoch now has %lld batches "
                         "(was the batch size or len_epoch changed?)",
                         bt->resume->path, (long long)*first_batch, (long long)t->len_epoch);
        return checkpoint_restore_progress(bt->resume, &t->train_metrics);
    }
    if (!t->iteration_based) data_loader_begin_epoch(t->data_loader);
    return 0;
}

/* Distributed runs: the gradient averaging over the parameters that train
 * now (made again when unfreezing changed them). */
static int prepare_ddp(Trainer *t)
{
    /* under mpirun even with one rank (mpirun -np 1 runs the communication path: a check on one GPU) */
    if (!dist_launched()) return 0;
    int n = 0, trainable = 0;
    Tensor **params = module_parameters(t->base.model, &n);
    for (int i = 0; i < n; i++) trainable += params[i]->requires_grad;
    free(params);
    if (t->ddp && trainable == t->ddp_params) return 0;
    ddp_free(t->ddp);
    t->ddp_params = trainable;
    if (!(t->ddp = ddp_new(t->base.model, t->bucket_mb, t->find_unused))) return -1;
    if (!t->zero_enabled) return 0;
    if (t->zero) return zero_extend(t->zero); /* unfrozen parameters joined the optimizer */
    /* a state loaded whole from a checkpoint is sharded now */
    return (t->zero = zero_new(t->base.optimizer)) && zero_shard_state(t->zero) == 0 ? 0 : -1;
}

/* ZeRO-1: rank 0 gathers the optimizer state before a checkpoint, and
 * keeps its shard again after it. */
static int zero_before_save(BaseTrainer *bt)
{
    Trainer *t = (Trainer *)bt;
    return t->zero ? zero_gather_state(t->zero) : 0;
}

static int zero_after_save(BaseTrainer *bt)
{
    Trainer *t = (Trainer *)bt;
    return t->zero && dist_is_main() ? zero_shard_state(t->zero) : 0;
}

/* ZeRO-1: the optimizer state elements each rank holds, on rank 0's log. */
static void log_zero_memory(Trainer *t)
{
    int size = dist_size();
    int64_t mine = zero_state_elements(t->zero), *all = calloc((size_t)size, sizeof(int64_t));
    ENGINE_ASSERT(all != NULL);
    if (dist_allgather(&mine, all, sizeof mine) == 0) {
        char text[512];
        int pos = 0;
        int64_t total = 0;
        for (int r = 0; r < size; r++) {
            total += all[r];
            pos += snprintf(text + pos, sizeof text - (size_t)pos, "%s%lld", r ? ", " : "", (long long)all[r]);
            if (pos >= (int)sizeof text - 24) break;
        }
        log_info(&t->base.logger, "ZeRO-1: optimizer state elements per rank: %s (%lld in all)", text, (long long)total);
    }
    free(all);
}

/* The loss a step differentiates: 1/K of the batch's with K batches
 * accumulated, times the GradScaler's scale in fp16 amp runs. */
static Tensor *scaled_loss(Trainer *t, Tensor *loss)
{
    if (!loss) return NULL;
    Tensor *scaled = t->accumulate > 1 ? t_mul_scalar(loss, 1.0 / (double)t->accumulate) : loss;
    return grad_scaler_scale(&t->scaler, scaled); /* fp16 amp; loss itself otherwise */
}

/* What batch_split_step asks for: the whole batch's loss from the output
 * (the shards' joined, or the whole batch's). */
typedef struct {
    Trainer *t;
    Tensor *target, **loss;
} SplitLoss;

static Tensor *split_loss(void *ctx, Tensor *output)
{
    SplitLoss *c = ctx;
    *c->loss = amp_criterion(c->t, output, c->target);
    return scaled_loss(c->t, *c->loss);
}

/* Forward, loss and backward of one batch: the shards on their threads
 * (batch_split.h), or the whole batch with each op threaded. */
static int forward_backward(Trainer *t, TensorBatch *b, Tensor **output, Tensor **y, Tensor **loss)
{
    *loss = NULL;
    SplitLoss c = {t, NULL, loss};
    if (batch_to_device(t, b, &c.target)) return -1;
    *y = c.target;
    return batch_split_step(&t->split, b, t->amp, t->amp_dtype, split_loss, &c, output) || !*loss ? -1 : 0;
}

/* Whether batch_idx ends an accumulation window (or the epoch), where the
 * optimizer steps. */
static bool steps_optimizer(const Trainer *t, int64_t batch_idx)
{
    return (batch_idx + 1) % t->accumulate == 0 || batch_idx + 1 == t->len_epoch;
}

/* One batch's forward and backward. The loss is left in *loss_out for the
 * logs. */
static int train_forward_backward(Trainer *t, TensorBatch *b, int64_t batch_idx, Tensor **output, Tensor **y,
                                  Tensor **loss_out)
{
    BaseTrainer *bt = &t->base;
    if (batch_idx % t->accumulate == 0) optimizer_zero_grad(bt->optimizer, true);
    /* no_sync() for the other micro-batches; and with the batch split the
     * shards' gradients reach .grad only after the whole backward, so the
     * gradient hooks stay idle and the averaging over ranks starts then */
    if (t->ddp) ddp_set_sync(t->ddp, steps_optimizer(t, batch_idx) && t->split.shards == 1);
    return forward_backward(t, b, output, y, loss_out);
}

/* The optimizer's step on the last batch of each accumulation window (and
 * the epoch's last), after train_forward_backward. */
static int train_update(Trainer *t, int64_t batch_idx)
{
    BaseTrainer *bt = &t->base;
    if (!steps_optimizer(t, batch_idx)) return 0;
    bool split = t->split.shards > 1;
    if (t->ddp && split) ddp_set_sync(t->ddp, true);
    if (t->ddp && ddp_finish_backward(t->ddp)) return -1;
    /* fp16: unscale and look for Inf/NaN in every gradient before ZeRO drops
     * the foreign ones, so that all ranks skip the same steps */
    if (t->scaler.enabled && grad_scaler_unscale(&t->scaler, bt->optimizer)) return -1;
    if (t->zero) zero_drop_foreign_grads(t->zero); /* the owners step */
    if (t->scaler.enabled) {
        if (grad_scaler_step(&t->scaler, bt->optimizer, NULL)) return -1;
        grad_scaler_update(&t->scaler);
    } else if (optimizer_step(bt->optimizer)) {
        return -1;
    }
    if (t->zero && zero_broadcast_params(t->zero)) return -1;
    return t->scheduler_per_batch ? scheduler_step(bt->lr_scheduler) : 0;
}

static int train_epoch(BaseTrainer *bt, int64_t epoch, LogDict *log)
{
    Trainer *t = (Trainer *)bt;
    device_reset_peak(t->device);
    module_train(bt->model, true);
    if (prepare_ddp(t)) return -1;
    int64_t first_batch;
    if (begin_train_epoch(t, &first_batch)) return -1;
    StepValues sv;
    if (step_values_init(&sv, (int)t->log_step, bt->n_metrics + 1, t->device)) return -1;
    int64_t batch_size = data_loader_batch_size(t->data_loader);
    double total = t->iteration_based ? (double)t->len_epoch * (double)batch_size
                                      : (double)data_loader_num_samples(t->data_loader);
    int rc = 0;
    bool interrupted = false;
    double last_loss = NAN;
    char label[64], note[64];
    snprintf(label, sizeof label, "Train epoch %lld", (long long)epoch);
    Progress bar; /* on a terminal only: the log_step lines serve elsewhere */
    progress_begin(&bar, label, t->len_epoch, 0);
    int64_t batch_idx = first_batch;
    for (; batch_idx < t->len_epoch && rc == 0 && !interrupted; batch_idx++) {
        engine_clear_error(); /* errors are per step: one a model's code ignored must not stand for a later one */
        scope_begin();
        TensorBatch b;
        if (!next_batch(t, &b)) {
            scope_end();
            if (data_loader_failed(t->data_loader)) rc = -1; /* a dataset's error, not the epoch's end */
            break;
        }
        double lr = optimizer_get(bt->optimizer, 0, "lr"); /* the one this step uses */
        Tensor *output = NULL, *y = NULL, *loss = NULL;
        if (train_forward_backward(t, &b, batch_idx, &output, &y, &loss)) rc = -1;
        StepInfo info = {.step = (epoch - 1) * t->len_epoch + batch_idx, .batch = batch_idx,
                         .n = loss ? y->shape.d[0] : 0, .lr = lr, .time = writer_clock()};
        /* the metrics before the update (they read the output and the
         * target, not the weights), so that the loader's workers can refill
         * the batch's buffers during the update; the first batch also goes
         * to the input grid */
        if (rc == 0 && push_step(t, &sv, loss, output, y, info)) rc = -1;
        if (rc == 0 && batch_idx != first_batch && !output_reads_batch(output, &b))
            data_loader_release_batch(t->data_loader);
        if (rc == 0 && train_update(t, batch_idx)) rc = -1;
        /* the step that is a multiple of log_step is the last in the queue, which is then full;
         * batch 0 is logged before the input grid, which goes to its step */
        if (rc == 0 && (batch_idx % t->log_step == 0 || step_values_full(&sv)) &&
            log_train_steps(t, &sv, epoch, total, &bar, &last_loss))
            rc = -1;
        if (rc == 0 && batch_idx == first_batch && dist_is_main() && add_input_grid(t, &b, true)) rc = -1;
        scope_end();
        snprintf(note, sizeof note, "loss %.4f", last_loss);
        progress_update(&bar, batch_idx + 1, note);
        if (rc == 0) engine_clear_error(); /* nor after the last step */
        /* a signal stops the run between whole optimizer steps, where a checkpoint is exact */
        if ((batch_idx + 1) % t->accumulate == 0) interrupted = dist_interrupt_agreed();
    }
    if (rc == 0 && log_train_steps(t, &sv, epoch, total, &bar, &last_loss)) rc = -1;
    progress_end(&bar);
    step_values_free(&sv);
    if (rc) return -1;
    if (t->ddp) /* what the overlap with the backward did not hide */
        log_debug(&bt->logger, "Gradient averaging: %.3f s of waiting in this epoch", ddp_take_wait_seconds(t->ddp));
    if (t->zero) log_zero_memory(t);
    bt->progress.batch = batch_idx; /* the training batches done, should the epoch be interrupted */
    bt->progress.train = t->train_metrics;
    if (interrupted) return TRAIN_INTERRUPTED;
    log_dict_add_tracker(log, &t->train_metrics, "");
    if (t->valid_data_loader && (rc = valid_epoch(t, epoch, log)) != 0) return rc;
    add_memory_stats(t, log);
    if (add_parameter_histograms(bt)) return -1;
    return step_scheduler_per_epoch(t, log);
}

/* "amp": {"enabled": bool, "dtype": "bf16" | "fp16"}. fp16 gets a GradScaler
 * (PyTorch's defaults), its state restored from the checkpoint resumed from. */
static int amp_init(Trainer *t, ConfigParser *cp)
{
    const char *dtype;
    grad_scaler_init(&t->scaler, false);
    if (config_bool_or(cp->config, "amp.enabled", false, &t->amp) ||
        config_string_or(cp->config, "amp.dtype", "bf16", &dtype))
        return -1;
    if (!t->amp) return 0;
    if (!autocast_parse_dtype(dtype, &t->amp_dtype)) {
        engine_error("%s: amp.dtype: expected \"bf16\" or \"fp16\", got \"%s\"", cp->config->label, dtype);
        return -1;
    }
    if (t->amp_dtype == DT_F16) {
        grad_scaler_init(&t->scaler, true);
        t->base.grad_scaler = &t->scaler;
        const Checkpoint *ck = t->base.resume;
        if (ck && ck->grad_scaler_json && grad_scaler_load_json(&t->scaler, ck->grad_scaler_json)) {
            engine_error_context("%s", ck->path);
            return -1;
        }
    }
    log_info(&t->base.logger, "Mixed precision: autocast to %s%s", dtype_name(t->amp_dtype),
             t->scaler.enabled ? ", GradScaler (init scale 65536, growth 2 every 2000 steps, backoff 0.5)" : "");
    return 0;
}

int trainer_init(Trainer *t, ConfigParser *cp, Module *model, LossFn criterion, int n_metrics,
                 const char *const *metric_names, const MetricFn *metric_fns, Optimizer *optimizer, Device device,
                 DataLoader *data_loader, DataLoader *valid_data_loader, LRScheduler *lr_scheduler, int64_t len_epoch)
{
    memset(t, 0, sizeof *t);
    /* batches come out of the loaders on the model's device (pinned and
     * copied ahead on a GPU, or gathered from a resident dataset); before a
     * resume sets the loader's position, which starts its epoch */
    if (data_loader_to(data_loader, device) || (valid_data_loader && data_loader_to(valid_data_loader, device)))
        return -1;
    if (base_trainer_init(&t->base, cp, model, criterion, n_metrics, metric_names, metric_fns, optimizer,
                          lr_scheduler, data_loader, train_epoch))
        return -1;
    t->device = device;
    t->data_loader = data_loader;
    t->valid_data_loader = valid_data_loader;

    t->iteration_based = len_epoch > 0;
    t->len_epoch = len_epoch > 0 ? len_epoch : data_loader_num_batches(data_loader);
    /* TensorBoard steps count batches over the whole run: keep them exact in a double */
    int64_t steps;
    if (__builtin_mul_overflow(t->base.epochs, t->len_epoch, &steps) || steps > ((int64_t)1 << 53)) {
        engine_error("%s: trainer.epochs (%lld) times %lld batches per epoch is more steps than a run can count",
                     cp->config->label, (long long)t->base.epochs, (long long)t->len_epoch);
        base_trainer_free(&t->base);
        return -1;
    }
    t->log_step = (int64_t)sqrt((double)data_loader_batch_size(data_loader));
    if (t->log_step < 1) t->log_step = 1;
    t->scheduler_per_batch = lr_scheduler && strcmp(scheduler_name(lr_scheduler), "OneCycleLR") == 0;
    int64_t zero;
    if (config_int_or(cp->config, "trainer.accumulate_grad_batches", 1, &t->accumulate) ||
        config_number_or(cp->config, "distributed.bucket_mb", 25.0, &t->bucket_mb) ||
        config_bool_or(cp->config, "distributed.find_unused_parameters", false, &t->find_unused) ||
        config_int_or(cp->config, "distributed.zero", 0, &zero)) {
        base_trainer_free(&t->base);
        return -1;
    }
    t->zero_enabled = zero == 1 && dist_launched();
    t->base.before_save = zero_before_save;
    t->base.after_save = zero_after_save;
    if (t->accumulate < 1 || t->accumulate > t->len_epoch) {
        engine_error("%s: trainer.accumulate_grad_batches: expected 1 to the %lld batches of an epoch, got %lld",
                     cp->config->label, (long long)t->len_epoch, (long long)t->accumulate);
        base_trainer_free(&t->base);
        return -1;
    }
    if (amp_init(t, cp) || batch_split_init(&t->split, cp->config, model, model_from_config, device,
                                            data_loader_batch_size(data_loader))) {
        base_trainer_free(&t->base);
        return -1;
    }
    if (t->split.shards > 1)
        log_info(&t->base.logger, "Batch split: each batch in %d shards on %d threads, one forward and backward each "
                 "(trainer.batch_split %s)", t->split.shards, engine_num_threads(),
                 t->split.automatic ? "\"auto\"" : "set in the config");
    t->tracker_keys[0] = "loss";
    for (int i = 0; i < n_metrics; i++) t->tracker_keys[i + 1] = metric_names[i];
    tracker_init(&t->train_metrics, n_metrics + 1, t->tracker_keys);
    tracker_init(&t->valid_metrics, n_metrics + 1, t->tracker_keys);
    return 0;
}

void trainer_free(Trainer *t)
{
    batch_split_free(&t->split);
    zero_free(t->zero);
    t->zero = NULL;
    ddp_free(t->ddp);
    t->ddp = NULL;
    base_trainer_free(&t->base);
}
