/* Copies, casts and fills: the only kernels that move data between layouts and dtypes.
 *
 * One kernel pair per (source type, destination type) so a single program serves every cast:
 *   copy_S_D_c : both sides contiguous (n elements from src+soff to dst+doff)
 *   copy_S_D_n : any strides (operand 0 = destination, 1 = source)
 *   fill_T_c / fill_T_n : write one value
 * bool is stored as uchar; casts to bool give 0/1 like PyTorch.
 */
#include "common.h"

#define TO_uchar(x) ((uchar)((x) != 0))
#define TO_int(x) ((int)(x))
#define TO_long(x) ((long)(x))
#define TO_float(x) ((float)(x))
#define TO_double(x) ((double)(x))

#define COPY_KERNELS(S, D)                                                              \
__kernel void copy_##S##_##D##_c(int n, __global const S* src, int soff,                \
                                 __global D* dst, int doff) {                          \
    int i = get_global_id(0);                                                           \
    if (i < n) dst[doff + i] = TO_##D(src[soff + i]);                                   \
}                                                                                       \
__kernel void copy_##S##_##D##_n(int n, __global const S* src, __global D* dst,         \
                                 Strided m) {                                           \
    int i = get_global_id(0);                                                           \
    if (i >= n) return;                                                                 \
    int off[2];                                                                         \
    STRIDED_OFFSETS(m, i, 2, off);                                                      \
    dst[off[0]] = TO_##D(src[off[1]]);                                                  \
}

#define FILL_KERNELS(T)                                                                 \
__kernel void fill_##T##_c(int n, __global T* dst, int doff, T value) {                 \
    int i = get_global_id(0);                                                           \
    if (i < n) dst[doff + i] = value;                                                   \
}                                                                                       \
__kernel void fill_##T##_n(int n, __global T* dst, T value, Strided m) {                \
    int i = get_global_id(0);                                                           \
    if (i >= n) return;                                                                 \
    int off[1];                                                                         \
    STRIDED_OFFSETS(m, i, 1, off);                                                      \
    dst[off[0]] = value;                                                                \
}

#define COPY_FROM(S)            \
    COPY_KERNELS(S, uchar)      \
    COPY_KERNELS(S, int)        \
    COPY_KERNELS(S, long)       \
    COPY_KERNELS(S, float)

COPY_FROM(uchar)
COPY_FROM(int)
COPY_FROM(long)
COPY_FROM(float)
FILL_KERNELS(uchar)
FILL_KERNELS(int)
FILL_KERNELS(long)
FILL_KERNELS(float)

#ifdef HAS_FP64
COPY_FROM(double)
COPY_KERNELS(uchar, double)
COPY_KERNELS(int, double)
COPY_KERNELS(long, double)
COPY_KERNELS(float, double)
COPY_KERNELS(double, double)
FILL_KERNELS(double)
#endif
