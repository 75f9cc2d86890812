/* The geometry of one CPU convolution (engine/cpu/conv.c builds it from the
 * shapes), shared by the kernels of conv.c and conv_lanes.c. */
#ifndef ENGINE_CPU_CONV_GEOM_H
#define ENGINE_CPU_CONV_GEOM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t n, c, h, w;     /* input side */
    int64_t o, oh, ow, l;   /* output side; l = oh * ow */
    int64_t kh, kw;
    int64_t sh, sw, ph, pw, dh, dw;
    int64_t groups, cg, og; /* groups and channels per group */
    int64_t urows;          /* rows of U (conv.c's row unfold): cg * kw */
    int64_t hq;             /* padded input rows per phase */
    int64_t ucols;          /* columns of U: sh * hq * ow */
    bool identity;          /* U is x itself */
} ConvGeom;

#endif
