/* The CPU backend's table (engine/backend.h), built into the engine. */
#ifndef ENGINE_CPU_BACKEND_H
#define ENGINE_CPU_BACKEND_H

#include "engine/backend.h"

extern const Backend cpu_backend;

#endif
