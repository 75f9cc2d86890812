/* Shared by the ./tune unit tests: a config that passes the schema and a
 * search file parsed from text. */
#ifndef TESTS_TUNE_FIXTURE_H
#define TESTS_TUNE_FIXTURE_H

#include "utils/config.h"

static const char *const fixture_config =
    "{\"name\": \"Mnist_LeNet\", \"n_gpu\": 0,"
    " \"arch\": {\"type\": \"MLP\", \"args\": {\"hidden\": [512, 256]}},"
    " \"data_loader\": {\"type\": \"MnistDataLoader\", \"args\": {\"data_dir\": \"data/\", \"batch_size\": 128,"
    "   \"shuffle\": true, \"validation_split\": 0.1, \"num_workers\": 2}},"
    " \"optimizer\": {\"type\": \"Adam\", \"args\": {\"lr\": 0.001, \"weight_decay\": 0, \"amsgrad\": true}},"
    " \"loss\": \"nll_loss\", \"metrics\": [\"accuracy\"],"
    " \"trainer\": {\"epochs\": 9, \"save_dir\": \"saved/\", \"save_period\": 1, \"verbosity\": 1,"
    "   \"monitor\": \"min val_loss\", \"early_stop\": 10, \"tensorboard\": false}}";

#endif
