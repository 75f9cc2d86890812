/* Device discovery (see device.h). */
#include "engine/device.h"

#ifdef ENGINE_HAVE_CUDA
#include "engine/cuda/device.h"
#endif

int device_cuda_count(void)
{
#ifdef ENGINE_HAVE_CUDA
    return cuda_device_count();
#else
    return 0;
#endif
}

void device_synchronize(Device d)
{
#ifdef ENGINE_HAVE_CUDA
    if (d.type == DEVICE_CUDA) cuda_synchronize();
#else
    (void)d;
#endif
}

void device_set_tf32(bool enabled)
{
#ifdef ENGINE_HAVE_CUDA
    cuda_set_tf32(enabled);
#else
    (void)enabled;
#endif
}

void device_set_deterministic(bool enabled)
{
#ifdef ENGINE_HAVE_CUDA
    cuda_set_deterministic(enabled);
#else
    (void)enabled;
#endif
}
