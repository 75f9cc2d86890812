/* The engine's public API in one include: tensors, scopes, autograd, ops,
 * random numbers, nn, optim and serialization. */
#ifndef ENGINE_ENGINE_H
#define ENGINE_ENGINE_H

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/nn/nn.h"
#include "engine/ops.h"
#include "engine/optim/optim.h"
#include "engine/random.h"
#include "engine/scope.h"
#include "engine/serialize/safetensors.h"
#include "engine/state_dict.h"
#include "engine/tensor.h"
#include "engine/tensor_print.h"

#endif
