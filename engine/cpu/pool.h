/* CPU 2-D pooling kernels over contiguous f32 [N, C, H, W] tensors, one
 * (sample, channel) plane per parallel task. Output sizes come from the
 * output tensors; strides in PoolParams are already resolved (not 0). */
#ifndef ENGINE_CPU_POOL_H
#define ENGINE_CPU_POOL_H

#include "engine/ops.h"

/* out = max over each window; indices (out's shape; none when NULL) record
 * each maximum: i64, h * W + w within its plane, as PyTorch records it; u8,
 * row * kw + column within its window (windows of at most 256 cells). NaN
 * wins. */
void cpu_max_pool2d(Tensor *out, Tensor *indices, const Tensor *x, PoolParams p);
/* gx = 0, then g scattered (added) to the recorded indices; p is the
 * forward's (windows that cannot overlap need no zeroing pass first). */
void cpu_max_pool2d_backward(Tensor *gx, const Tensor *g, const Tensor *indices, PoolParams p);
/* The same on one plane [h][w] with u8 window codes (codes NULL: none
 * written), for kernels that pool a plane of their own output while it is
 * in cache (the fused conv2d + max_pool2d, conv.h). */
void cpu_max_pool2d_plane(const float *xp, int64_t h, int64_t w, int64_t oh, int64_t ow, PoolParams p, float *po,
                          uint8_t *codes);
void cpu_max_pool2d_plane_backward(float *gxp, int64_t h, int64_t w, const float *gp, const uint8_t *codes, int64_t oh,
                                   int64_t ow, PoolParams p);
/* Whether p pools [h][w] planes into [oh][ow] with 2 x 2 windows at stride 2
 * and no padding: the case the plane kernels have their own path for (its
 * backward writes each window's gradient as is, not added to a zero). */
bool cpu_max_pool2d_is_2x2(PoolParams p, int64_t h, int64_t w, int64_t oh, int64_t ow);
void cpu_avg_pool2d(Tensor *out, const Tensor *x, PoolParams p);
void cpu_avg_pool2d_backward(Tensor *gx, const Tensor *g, PoolParams p);
/* Windows [floor(i * H / oh), ceil((i + 1) * H / oh)) as in PyTorch. */
void cpu_adaptive_avg_pool2d(Tensor *out, const Tensor *x);
void cpu_adaptive_avg_pool2d_backward(Tensor *gx, const Tensor *g);

#endif
