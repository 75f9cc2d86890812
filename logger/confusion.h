/* A confusion matrix for classifiers: counts of (true class, predicted
 * class) over an evaluation, saved as confusion.csv and as a heat map with
 * the counts written in its cells, confusion.png. With class names, the
 * CSV's header and rows name the classes and the PNG lists the numbers'
 * names under the map. */
#ifndef LOGGER_CONFUSION_H
#define LOGGER_CONFUSION_H

#include <stdint.h>

#include "engine/tensor.h"

typedef struct {
    int n;           /* classes */
    int64_t *counts; /* n x n, row = true class, column = predicted class */
    char **names;    /* n names (class k's at k), or NULL: numbers */
} ConfusionMatrix;

int confusion_init(ConfusionMatrix *cm, int n_classes);
/* Names the first n_names classes (copied); the others keep their numbers. */
void confusion_set_names(ConfusionMatrix *cm, const char *const *names, int n_names);
/* Adds a batch: output [B, n] scores (the prediction is each row's argmax,
 * the first one on ties), target [B] int64 class indices. 0 or -1 with an
 * error naming the shapes. */
int confusion_update(ConfusionMatrix *cm, Tensor *output, Tensor *target);
/* Writes dir/confusion.csv and dir/confusion.png. 0 or -1 with an error. */
int confusion_save(const ConfusionMatrix *cm, const char *dir);
void confusion_free(ConfusionMatrix *cm);

#endif
