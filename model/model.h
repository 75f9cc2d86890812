/* Models selectable by name in config.json ("arch": {"type": "MnistModel",
 * "args": {...}}), like pytorch-template's model/model.py. Each builds an
 * engine Module whose parameter names match the PyTorch model of the same
 * architecture, so checkpoints load on either side. Add yours to the table
 * in model.c. */
#ifndef MODEL_MODEL_H
#define MODEL_MODEL_H

#include "engine/nn/nn.h"
#include "utils/config.h"

/* pytorch-template's MnistModel: conv1 1->10 k5, conv2 10->20 k5, Dropout2d,
 * fc1 320->50, dropout, fc2 50->num_classes, log_softmax; dropout is both
 * dropouts' probability (the template's 0.5; 0 turns them off). */
Module *mnist_model(int64_t num_classes, double dropout);
/* The PyTorch examples' MNIST net: conv 1->32 k3, conv 32->64 k3, max-pool,
 * dropout 0.25, fc 9216->128, dropout 0.5, fc 128->num_classes, log_softmax. */
Module *mnist_net(int64_t num_classes);
/* LeNet-5 for 28x28 inputs: conv 1->6 k5 pad 2, pool, conv 6->16 k5, pool,
 * fc 400->120->84->num_classes (ReLU, max-pool), log_softmax. */
Module *lenet5(int64_t num_classes);
/* An MLP on flattened 28x28 inputs: hidden sizes given, (BatchNorm1d when
 * batch_norm,) ReLU, log_softmax. */
Module *mnist_mlp(const int64_t *hidden, int n_hidden, int64_t num_classes, bool batch_norm);
/* ResNet-18 for 32x32 inputs (the CIFAR-10 variant; model/resnet.c): conv3x3
 * in_channels->64 + BN + ReLU without max-pool, four stages of two
 * BasicBlocks (64, 128, 256, 512), global average pool, fc 512->num_classes,
 * log_softmax. torchvision's parameter names (layer2.0.downsample.0.weight). */
Module *resnet18(int64_t num_classes, int64_t in_channels);

/* Sequence classification: Embedding(vocab_size, embedding_dim), the mean
 * of the embeddings of each sequence's real tokens (the batch's "lengths"
 * mask the padding), fc1 -> hidden, ReLU, fc2 -> num_classes, log_softmax.
 * Its forward takes the batch: "input" int64 [B, L] and "lengths" [B]
 * (model/sequence_model.c). */
Module *sequence_classifier(int64_t vocab_size, int64_t embedding_dim, int64_t hidden, int64_t num_classes);

/* For model files: registers children in order under their names; on any
 * failure frees m and returns NULL (the registration calls free what they
 * were given on failure). A child whose constructor failed (NULL) puts its
 * name in front of the message. */
Module *model_with_children(Module *m, int n, const char *const *names, Module *const *children);

/* Builds config's "arch" (type + args). NULL with an error naming the key or
 * listing the known architectures. */
Module *model_from_config(const Config *cfg);

#endif
