/* Device discovery and device-wide modes (see device.h), through the
 * backend registry: asking for a GPU's count loads its backend module. */
#include "engine/device.h"

#include "engine/backend.h"

int device_cuda_count(void) { return backend_device_count(DEVICE_CUDA); }

const char *device_unavailable_reason(DeviceType type) { return backend_unavailable_reason(type); }

void device_synchronize(Device d)
{
    /* a backend that is not loaded has nothing queued */
    const Backend *b = backend_loaded(d.type);
    if (b && b->synchronize) b->synchronize();
}

void device_set_tf32(bool enabled) { backend_set_tf32(enabled); }

void device_set_deterministic(bool enabled) { backend_set_deterministic(enabled); }

bool device_tf32(void) { return backend_tf32(); }

bool device_deterministic(void) { return backend_deterministic(); }
