/* ./tune's reading of a trial's files: the metric per epoch from the
 * metrics.csv of every run folder of a trial (a resumed trial has one per
 * start; a later run wins the epochs it repeats; a torn last row is
 * skipped), a metric that is not a column, the checkpoint a restart resumes
 * from, the best checkpoint, and the error line of a failed run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/temp_dir.h"
#include "tuner/trial.h"
#include "utils/fs.h"

static Trial trial;

static void write_file(const char *dir, const char *name, const char *text)
{
    assert_int_equal(fs_mkdirs(dir), 0);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    char base[4000];
    temp_dir_make(base, sizeof base, "tune_trial");
    memset(&trial, 0, sizeof trial);
    snprintf(trial.dir, sizeof trial.dir, "%s/trial_000", base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char base[4096];
    snprintf(base, sizeof base, "%s", trial.dir);
    assert_int_equal(trial_remove_dir(&trial), 0);
    assert_false(fs_exists(trial.dir));
    *strrchr(base, '/') = '\0';
    rmdir(base);
    trial_free(&trial);
    return 0;
}

static void test_metrics_across_runs(void **state)
{
    (void)state;
    char run[4400];
    snprintf(run, sizeof run, "%s/log/Net/1206_101500", trial.dir);
    write_file(run, "metrics.csv", "epoch,loss,val_loss,val_accuracy\n1,2.0,1.5,0.5\n2,1.0,0.9,0.7\n3,0.8,0.95,0.72\n");
    snprintf(run, sizeof run, "%s/log/Net/1206_101500_1", trial.dir);
    /* resumed from epoch 2's checkpoint: epoch 3 again (it wins), then 4 (val_loss NaN: an empty
     * field), a row without the column, and a row still being written */
    write_file(run, "metrics.csv", "epoch,loss,val_loss,val_accuracy\n3,0.7,0.8,0.75\n4,0.6,,0.8\n5,0.5\n6,0.4,0.3");
    assert_int_equal(trial_read_metrics(&trial, "Net", "val_loss"), 0);
    assert_int_equal(trial.n_epochs, 4);
    assert_true(trial.curve[0] == 1.5 && trial.curve[1] == 0.9 && trial.curve[2] == 0.8);
    assert_true(isnan(trial.curve[3])); /* an empty field */
    int64_t epoch;
    assert_true(trial_best(&trial, false, &epoch) == 0.8);
    assert_int_equal(epoch, 3);
    assert_int_equal(trial_read_metrics(&trial, "Net", "val_accuracy"), 0);
    assert_true(trial_best(&trial, true, &epoch) == 0.8);
    assert_int_equal(epoch, 4);
    assert_true(trial_last(&trial) == 0.8);
    /* reading again gives the same (no rows added twice) */
    assert_int_equal(trial_read_metrics(&trial, "Net", "val_loss"), 0);
    assert_int_equal(trial.n_epochs, 4);
    expect_failure(trial_read_metrics(&trial, "Net", "val_top_k_acc") == 1, "val_top_k_acc", "columns: epoch,loss");
    /* a trial that has not logged yet */
    Trial fresh;
    memset(&fresh, 0, sizeof fresh);
    snprintf(fresh.dir, sizeof fresh.dir, "%s/nothing", trial.dir);
    assert_int_equal(trial_read_metrics(&fresh, "Net", "val_loss"), 0);
    assert_int_equal(fresh.n_epochs, 0);
    trial_free(&fresh);
}

static void test_checkpoints(void **state)
{
    (void)state;
    char a[4400], b[4400], path[4600];
    snprintf(a, sizeof a, "%s/models/Net/1206_101500", trial.dir);
    snprintf(b, sizeof b, "%s/models/Net/1206_101500_1", trial.dir);
    assert_false(trial_latest_checkpoint(&trial, "Net", path, sizeof path));
    write_file(a, "checkpoint-epoch1.ckpt", "x");
    assert_true(trial_best_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500/checkpoint-epoch1.ckpt"));
    write_file(a, "checkpoint-epoch2.ckpt", "x");
    write_file(a, "model_best.ckpt", "x");
    write_file(a, "checkpoint-epoch10.ckpt.tmp.host.1.0", "x");
    assert_true(trial_latest_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500/checkpoint-epoch2.ckpt"));
    /* an interrupted epoch 3 (2 epochs and 7 batches) is further than epoch 2 */
    write_file(b, "checkpoint-epoch3-batch7.ckpt", "x");
    assert_true(trial_latest_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500_1/checkpoint-epoch3-batch7.ckpt"));
    write_file(b, "checkpoint-epoch3.ckpt", "x");
    assert_true(trial_latest_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500_1/checkpoint-epoch3.ckpt"));
    /* the newest model_best (a resumed run that did not improve has none: the
     * best is the earlier run's), else the latest checkpoint */
    assert_true(trial_best_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500/model_best.ckpt"));
    write_file(b, "model_best.ckpt", "x");
    assert_true(trial_best_checkpoint(&trial, "Net", path, sizeof path));
    assert_non_null(strstr(path, "1206_101500_1/model_best.ckpt"));
}

static void test_error_line(void **state)
{
    (void)state;
    write_file(trial.dir, "train.log", "some output\nerror: config.json: optimizer.args.lr: expected a number\nbye\n");
    trial_read_error(&trial);
    assert_string_equal(trial.error, "error: config.json: optimizer.args.lr: expected a number");
    write_file(trial.dir, "train.log", "Segmentation fault\n");
    trial_read_error(&trial);
    assert_string_equal(trial.error, "Segmentation fault");
    assert_int_equal(trial_state_parse("stopped"), TRIAL_STOPPED);
    assert_int_equal(trial_state_parse("bogus"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_across_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
