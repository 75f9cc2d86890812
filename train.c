/* ./train -c config.json: trains the model config.json describes, as
 * pytorch-template's train.py does. See README.md for every option. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base_model.h"
#include "base/finetune.h"
#include "base/pretrained.h"
#include "data_loader/data_loaders.h"
#include "dist/ddp.h"
#include "dist/dist_config.h"
#include "dist/sync_batch_norm.h"
#include "dist/world.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "model/loss.h"
#include "model/metric.h"
#include "model/model.h"
#include "trainer/trainer.h"
#include "utils/crash_report.h"
#include "utils/criterion_config.h"
#include "utils/interrupt.h"
#include "utils/optim_config.h"
#include "utils/param_groups.h"
#include "parse_config.h"
#include "utils/threads.h"
#include "utils/prepare_device.h"

static const CustomArg custom_args[] = {
    {"--lr", "--learning_rate", "optimizer.args.lr", "learning rate"},
    {"--bs", "--batch_size", "data_loader.args.batch_size", "batch size"},
};

/* Whether the run trained at least an epoch: one that did not keeps no run
 * folders (a failed start must not leave empty folders behind). */
static bool trained_an_epoch;

/* The model's starting weights and what trains: arch.pretrained (not when
 * resuming: the checkpoint's weights replace them), arch.exclude and
 * arch.freeze. */
static int prepare_model(const ConfigParser *cp, Module *model, const Logger *lg)
{
    const Config *cfg = cp->config;
    if (cp->resume && config_has(cfg, "arch.pretrained")) {
        ENGINE_CHECK_INT(!cp->fine_tune,
                         "%s: arch.pretrained: the starting weights would come from both it and -r %s: give one",
                         cfg->label, cp->resume->path);
        log_info(lg, "Resuming: the weights come from the checkpoint (arch.pretrained is not read again)");
    } else if (pretrained_load_from_config(cfg, model, lg)) {
        return -1;
    }
    return finetune_freeze_from_config(cfg, model, lg);
}

/* Logs the optimizer's parameter groups when there are several. */
static void log_param_groups(const Optimizer *opt, const Module *model, const Logger *lg)
{
    if (opt->n_groups < 2) return;
    char text[600];
    for (int g = 0; g < opt->n_groups; g++) {
        param_group_describe(opt, g, model, text, sizeof text);
        log_info(lg, "Parameter group %d: %s", g, text);
    }
}

/* Distributed runs: each rank's share of the training samples (padded, as
 * DistributedSampler: every rank takes as many batches) and of the
 * validation samples (each once: the summed metrics are exact). */
static int shard_loaders(const Config *cfg, DataLoader *train, DataLoader *valid, const Logger *lg)
{
    DistOptions opts;
    if (dist_options_from_config(cfg, &opts)) return -1;
    int size = dist_size();
    if (size == 1) return 0;
    dist_sync_batch_norm(opts.sync_batchnorm);
    if (data_loader_shard(train, dist_rank(), size, true) ||
        (valid && data_loader_shard(valid, dist_rank(), size, false))) {
        engine_error_context("%s: data_loader (%d ranks)", cfg->label, size);
        return -1;
    }
    int64_t b = data_loader_batch_size(train);
    log_info(lg, "Distributed data parallel: %d ranks (%s), batch_size %lld per rank, global batch size %lld, "
                 "%lld batches per epoch",
             size, dist_ops()->name, (long long)b, (long long)b * size, (long long)data_loader_num_batches(train));
    return 0;
}

/* Distributed runs on GPUs: each rank takes one, its local rank's among
 * those -d enables, and averages over NCCL; CPU ranks over MPI. A backend
 * the config names must fit the device. */
static int check_dist_backend(const Config *cfg, Device *device)
{
    DistOptions opts;
    if (dist_options_from_config(cfg, &opts)) return -1;
    bool cuda = device->type == DEVICE_CUDA;
    ENGINE_CHECK_INT(strcmp(opts.backend, cuda ? "mpi" : "nccl") != 0,
                     "%s: distributed.backend: \"%s\" averages %s gradients, but this run trains on %s%s", cfg->label,
                     opts.backend, cuda ? "CPU" : "CUDA", device_name(*device),
                     cuda ? "" : " (n_gpu 0, or no GPU here): use \"mpi\" or \"auto\"");
    if (cuda) device->index = dist_local_rank() % device_cuda_count();
    return 0;
}

/* 0, -1 with an error, or TRAIN_INTERRUPTED (the checkpoint saved, or none
 * when the signal came before training began). */
static int run(ConfigParser *cp)
{
    const Config *cfg = cp->config;
    int64_t verbosity, seed, n_gpu, len_epoch;
    if (config_int_or(cfg, "trainer.verbosity", 2, &verbosity) || config_int_or(cfg, "seed", 123, &seed) ||
        n_gpu_from_config(cfg, &n_gpu) || config_int_or(cfg, "trainer.len_epoch", 0, &len_epoch))
        return -1;
    ENGINE_CHECK_INT(len_epoch >= 0, "%s: trainer.len_epoch: expected 0 (epoch-based) or a number of batches, got %lld",
                     cfg->label, (long long)len_epoch);
    ENGINE_CHECK_INT(verbosity >= 0 && verbosity <= 2, "%s: trainer.verbosity: expected 0, 1 or 2, got %lld",
                     cfg->label, (long long)verbosity);
    char log_config[] = "logger/logger_config.json";
    /* in a distributed run rank 0 logs; the others print warnings and errors */
    if (setup_logging(cp->log_dir[0] ? cp->log_dir : NULL, log_config)) return -1;
    Logger lg;
    if (get_logger(&lg, "train", dist_is_main() ? (int)verbosity : 0)) return -1;
    manual_seed((uint64_t)seed);

    int rc = -1;
    DataLoader *data_loader = NULL, *valid_data_loader = NULL;
    Module *model = NULL;
    Optimizer *optimizer = NULL;
    LRScheduler *scheduler = NULL;
    const char *metric_names[TRAINER_MAX_METRICS];
    MetricFn metric_fns[TRAINER_MAX_METRICS];
    int n_metrics;
    LossFn criterion;

    if (!(data_loader = data_loader_from_config(cfg, true))) goto done;
    valid_data_loader = data_loader_split_validation(data_loader);
    if (shard_loaders(cfg, data_loader, valid_data_loader, &lg)) goto done;
    if (!(model = model_from_config(cfg)) || prepare_model(cp, model, &lg)) goto done;
    base_model_log_summary(model, &lg);
    Device device = prepare_device(n_gpu, &lg);
    if (dist_size() > 1 && check_dist_backend(cfg, &device)) goto done;
    if (configure_device_modes(cfg)) goto done;
    if (module_to(model, device)) goto done;
    if (!(criterion = loss_from_config(cfg))) goto done;
    if (metrics_from_config(cfg, &n_metrics, metric_names, metric_fns)) goto done;
    /* only trainable parameters go to the optimizer (frozen ones are filtered, as the reference
     * does), in the groups optimizer.param_groups asks for */
    if (!(optimizer = optimizer_from_config_for_model(cfg, model))) goto done;
    log_param_groups(optimizer, model, &lg);
    int64_t epochs;
    bool no_scheduler;
    if (config_int(cfg, "trainer.epochs", &epochs)) goto done;
    int64_t steps = len_epoch > 0 ? len_epoch : data_loader_num_batches(data_loader), accumulate;
    if (config_int_or(cfg, "trainer.accumulate_grad_batches", 1, &accumulate)) goto done;
    if (accumulate > 1) steps = (steps + accumulate - 1) / accumulate; /* optimizer steps, which OneCycleLR counts */
    scheduler = scheduler_from_config(cfg, optimizer, epochs, steps, &no_scheduler);
    if (!scheduler && !no_scheduler) goto done;

    Trainer trainer;
    if (trainer_init(&trainer, cp, model, criterion, n_metrics, metric_names, metric_fns, optimizer, device,
                     data_loader, valid_data_loader, scheduler, len_epoch))
        goto done;
    /* the same model and config on every rank, and rank 0's weights (pretrained, resumed) everywhere */
    if (dist_launched() && ddp_check_and_broadcast(model, cfg)) {
        trainer_free(&trainer);
        goto done;
    }
    if (interrupt_requested()) {
        rc = TRAIN_INTERRUPTED;
        fprintf(stderr, "interrupted by %s before training began: nothing saved\n",
                interrupt_name(interrupt_requested()));
    } else {
        rc = base_trainer_train(&trainer.base);
    }
    trained_an_epoch = trainer.base.epochs_done > 0;
    if (rc == TRAIN_INTERRUPTED && trainer.base.interrupted_path[0]) {
        trained_an_epoch = true; /* its checkpoint resumes the run: keep the folders */
        log_warning(&lg, "Interrupted by %s: saved %s", interrupt_name(interrupt_requested()),
                    trainer.base.interrupted_path);
        fprintf(stderr, "interrupted by %s: the run's position is saved; resume with:\n  ./train -r %s\n",
                interrupt_name(interrupt_requested()), trainer.base.interrupted_path);
    }
    trainer_free(&trainer);
done:
    scheduler_free(scheduler);
    optimizer_free(optimizer);
    module_free(model);
    data_loader_free(valid_data_loader);
    data_loader_free(data_loader);
    shutdown_logging();
    return rc;
}

int main(int argc, char **argv)
{
    prefer_passive_omp_waiting(argv);
    if (crash_report_install("train")) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    if (interrupt_install()) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    /* under mpirun: join the job first, so that only rank 0 makes run folders */
    if (dist_init()) {
        fprintf(stderr, "error: %s\n", engine_last_error());
        return 1;
    }
    bool exit_now;
    ConfigParser *cp = config_parser_from_args(argc, argv, "PyTorch Template", custom_args,
                                               (int)(sizeof custom_args / sizeof custom_args[0]), dist_is_main(),
                                               &exit_now);
    if (exit_now) {
        dist_finalize();
        return 0;
    }
    int rc = cp ? run(cp) : -1;
    if (!trained_an_epoch) config_parser_discard_run_dirs(cp);
    if (rc == -1) {
        const char *msg = engine_has_error() ? engine_last_error() : "training failed";
        if (dist_size() > 1) fprintf(stderr, "error: rank %d of %d: %s\n", dist_rank(), dist_size(), msg);
        else fprintf(stderr, "error: %s\n", msg);
        /* the other ranks may wait in a collective: end them all now */
        if (dist_size() > 1) dist_abort(1);
    }
    config_parser_free(cp);
    dist_finalize();
    if (rc == TRAIN_INTERRUPTED) return interrupt_exit_status(interrupt_requested());
    return rc == 0 ? 0 : 1;
}
