/* Convolution gradients with 16 samples side by side in the vector lanes,
 * for layers with few taps per output (MnistModel's), where conv.c's
 * per-sample sgemms are too small to run fast (see conv_lanes.c). */
#ifndef ENGINE_CPU_CONV_LANES_H
#define ENGINE_CPU_CONV_LANES_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/cpu/conv_geom.h"

#define CONV_LANES 16      /* samples per block */
#define CONV_LANES_BLOCK 5 /* forward: output channels per block of the weight (conv.c's direct plan) */

/* Whether the lane kernels run layer g: in builds for CPUs with AVX-512
 * (one register per vector of 16 lanes), when a thread's buffers fit its
 * share of the cache. */
bool conv_lanes_ok(const ConvGeom *g);

/* A thread's buffers for blocks of one layer. */
typedef struct {
    float *x;  /* [C][H + 2ph][W + 2pw][16]: the block's input, padding zero */
    float *gy; /* [O][OH * OW][16]: its output gradient */
    float *gx; /* x's layout: its input gradient (NULL when not wanted) */
} ConvLanes;

ConvLanes conv_lanes_alloc(const ConvGeom *g, bool input, bool input_grad);
void conv_lanes_free(ConvLanes *b);

/* Lanes 0..nl-1 from nl samples (lanes from nl on zero): x is the first
 * one's [C][H][W], the next C * H * W floats on; gy the first one's
 * [O][OH][OW], the next O * OH * OW floats on. */
void conv_lanes_load_x(ConvLanes *b, const float *x, int nl, const ConvGeom *g);
void conv_lanes_load_gy(ConvLanes *b, const float *gy, int nl, const ConvGeom *g);

/* b->gy from the gradient of a max-pooling of the layer's output that
 * cpu_max_pool2d_is_2x2 takes (pool.h): g [O][ph][pw] and window codes (row
 * * 2 + column) of nl samples (the next one O * ph * pw values on): each
 * gradient in the cell its code names, +0 in the other cells and where no
 * window reaches, as cpu_max_pool2d_plane_backward expands them. */
void conv_lanes_load_pooled_gy(ConvLanes *b, const float *g, const uint8_t *codes, int64_t ph, int64_t pw, int nl,
                               const ConvGeom *geom);

/* What every block of a layer shares: the taps' offsets in the x lanes and,
 * for the input gradient, the weight arranged by block of taps. */
typedef struct {
    int64_t *xoff; /* [C/g * kh * kw] */
    int64_t *part; /* [C/g * kh * kw]: each tap's row in the weight gradient's layout, times O/g */
    float *wt;     /* [groups][tap blocks][O/g][5], zero past the last tap; NULL without w */
    const float *bias;
} ConvLanesPlan;

/* w [O][C/g][kh][kw] for the input gradient, or NULL; bias [C] or NULL. */
ConvLanesPlan conv_lanes_plan(const float *w, const float *bias, const ConvGeom *g);
void conv_lanes_plan_free(ConvLanesPlan *p);

/* The forward of the block whose input b->x holds, into b->gy's layout
 * ([O][OH * OW][16]: the output planes): wb [groups][blocks of
 * CONV_LANES_BLOCK outputs][taps][CONV_LANES_BLOCK] and bb [groups][blocks]
 * [CONV_LANES_BLOCK], conv.c's direct plan. Each output is the bias, then
 * every tap's product added in tap order: the sums of conv.c's direct
 * forward in the same order, so the same bits. */
void conv_lanes_forward(ConvLanes *b, const float *wb, const float *bb, const ConvLanesPlan *p,
                        const ConvGeom *g);
/* The 2 x 2, stride 2 max-pooling of those planes into out [O][ph][pw] and
 * codes (row * 2 + column; NULL: none) of nl samples (the next one
 * O * ph * pw values on), ties and NaNs as cpu_max_pool2d_plane settles them. */
void conv_lanes_max_pool_2x2(float *out, uint8_t *codes, int64_t ph, int64_t pw, int nl, const ConvLanes *b,
                             const ConvGeom *g);

/* part = the block's weight gradient (the sum over its lanes), in conv.c's
 * row-unfold layout [groups][kh][C/g * kw][O/g]. */
void conv_lanes_weight_grad(float *part, const ConvLanesPlan *p, const ConvLanes *b, const ConvGeom *g);
/* gx (the first sample's [C][H][W]; nl samples, C * H * W floats apart) =
 * conv^T of the block's output gradient (+ bias): each sample's sums in
 * the same order whichever block and lane it is in. */
void conv_lanes_input_grad(float *gx, int nl, const ConvLanesPlan *p, ConvLanes *b, const ConvGeom *g);

#endif
