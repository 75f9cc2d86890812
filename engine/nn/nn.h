/* torch.nn in one include: modules, layers and initialisers. */
#ifndef ENGINE_NN_NN_H
#define ENGINE_NN_NN_H

#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"

#endif
