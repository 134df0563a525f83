/* Shared definitions for every kernel family.
 *
 * Strided (non-contiguous / broadcast) operands are described by one `Strided` struct passed by
 * value: the iteration shape, and per operand a start offset and element strides (0 = broadcast).
 * Operand 0 is the output. The host collapses dimensions that are contiguous in every operand, so
 * most launches see one or two dimensions. Indices are 32-bit: the host refuses larger tensors.
 */
#ifndef CLNET_COMMON_H
#define CLNET_COMMON_H

#ifdef HAS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#define MAXD 8
#define MAXOPS 4

typedef struct {
    int ndim;
    int size[MAXD];
    int offset[MAXOPS];
    int stride[MAXOPS][MAXD];
} Strided;

/* Element offsets of linear index i (row-major over m.size) in the first `nops` operands. */
#define STRIDED_OFFSETS(m, i, nops, off)                        \
    do {                                                        \
        int rem_ = (i);                                         \
        for (int k_ = 0; k_ < (nops); ++k_) off[k_] = (m).offset[k_]; \
        for (int d_ = (m).ndim - 1; d_ >= 0; --d_) {           \
            int sz_ = (m).size[d_];                             \
            int c_ = rem_ % sz_;                                \
            rem_ /= sz_;                                        \
            for (int k_ = 0; k_ < (nops); ++k_) off[k_] += c_ * (m).stride[k_][d_]; \
        }                                                       \
    } while (0)

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#endif
