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
