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
/* -DHAS_FP16: a program compiled for T=half on a device reporting cl_khr_fp16 (the elementwise
 * family's native float16 path, kernels/elementwise.py); without it half is a storage type only */
#ifdef HAS_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
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

/* The first statement of a *_n elementwise/copy kernel: this work-item's element offsets in
 * `off` (declared `int off[MAXOPS]`; entries past the kernel's operands are computed and unused),
 * returning from the kernel for padding work-items. The host launches it in one of two modes
 * (see strided_launch in clnet/kernels/copy.py):
 *  - m.ndim <= 3: a 3-D NDRange; struct dimension d is NDRange dimension d (so size[0] is the
 *    fastest-varying index, padded up to whole work-groups; size[1], size[2] are exact). No
 *    division and no loop per element, so PoCL vectorises the work-item loop (a loop over the
 *    operands here, even of constant trip count, defeats it: the four lines are spelled out).
 *  - m.ndim > 3: a 1-D NDRange of n work-items over row-major dims (STRIDED_OFFSETS).
 * The branch is uniform over the launch. */
#define STRIDED_POS3_(m, k) ((m).offset[k] + i0_ * (m).stride[k][0] + i1_ * (m).stride[k][1] + \
                             i2_ * (m).stride[k][2])
#define STRIDED_ITEM(m, n, nops, off)                                             \
    if ((m).ndim <= 3) {                                                          \
        int i0_ = get_global_id(0), i1_ = get_global_id(1), i2_ = get_global_id(2); \
        if (i0_ >= (m).size[0]) return;                                           \
        off[0] = STRIDED_POS3_(m, 0); off[1] = STRIDED_POS3_(m, 1);               \
        off[2] = STRIDED_POS3_(m, 2); off[3] = STRIDED_POS3_(m, 3);               \
    } else {                                                                      \
        int i_ = get_global_id(0);                                                \
        if (i_ >= (n)) return;                                                    \
        STRIDED_OFFSETS(m, i_, nops, off);                                        \
    }

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#endif
