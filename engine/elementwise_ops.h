/* The op codes shared by the elementwise kernels of every backend. */
#ifndef ENGINE_ELEMENTWISE_OPS_H
#define ENGINE_ELEMENTWISE_OPS_H

typedef enum {
    BIN_ADD,
    BIN_SUB,
    BIN_MUL,
    BIN_DIV,
    BIN_EQ, /* comparisons write u8 */
    BIN_NE,
    BIN_GT,
    BIN_LT,
    BIN_GE,
    BIN_LE,
} BinaryOp;

/* alpha/beta are the op's scalars (named in each comment). */
typedef enum {
    UN_ADD_SCALAR, /* x + alpha */
    UN_MUL_SCALAR, /* x * alpha */
    UN_NEG,
    UN_POW,        /* x ^ alpha */
    UN_EXP,
    UN_LOG,
    UN_SQRT,
    UN_ABS,
    UN_CLAMP,      /* min(max(x, alpha), beta) */
    UN_RELU,
    UN_LEAKY_RELU, /* slope alpha */
    UN_SIGMOID,
    UN_TANH,
    UN_GELU,       /* alpha != 0: tanh approximation */
    UN_SIGN,
} UnaryOp;

#endif
