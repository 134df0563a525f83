/* Copies, casts and fills: the only kernels that move data between layouts and dtypes.
 *
 * One kernel pair per (source type, destination type) so a single program serves every cast:
 *   copy_S_D_c : both sides contiguous (n elements from src+soff to dst+doff), VW elements per
 *                work-item, stored as one vector when dst is VW-aligned (as elementwise _c)
 *   copy_S_D_n : any strides (operand 0 = destination, 1 = source); a 3-D NDRange when the
 *                collapsed shape has <= 3 dims (STRIDED_ITEM in common.h)
 *   fill_T_c / fill_T_n : write one value
 * bool is stored as uchar; casts to bool give 0/1 like PyTorch.
 */
#include "common.h"

#define VW 4

#define TO_uchar(x) ((uchar)((x) != 0))
#define TO_int(x) ((int)(x))
#define TO_long(x) ((long)(x))
#define TO_float(x) ((float)(x))
#define TO_double(x) ((double)(x))

#define COPY_KERNELS(S, D)                                                              \
__kernel void copy_##S##_##D##_c(int n, __global const S* src, int soff,                \
                                 __global D* dst, int doff) {                          \
    int base = get_global_id(0) * VW;                                                   \
    if (base >= n) return;                                                              \
    src += soff; dst += doff;                                                           \
    if (base + VW <= n && (doff & (VW - 1)) == 0) {                                     \
        *(__global D##4*)(dst + base) = (D##4)(TO_##D(src[base]), TO_##D(src[base + 1]),  \
                                               TO_##D(src[base + 2]), TO_##D(src[base + 3])); \
    } else {                                                                            \
        int end = min(base + VW, n);                                                    \
        for (int i = base; i < end; ++i) dst[i] = TO_##D(src[i]);                       \
    }                                                                                   \
}                                                                                       \
__kernel void copy_##S##_##D##_n(int n, __global const S* src, __global D* dst,         \
                                 Strided m) {                                           \
    int off[MAXOPS];                                                                         \
    STRIDED_ITEM(m, n, 2, off);                                                         \
    dst[off[0]] = TO_##D(src[off[1]]);                                                  \
}

#define FILL_KERNELS(T)                                                                 \
__kernel void fill_##T##_c(int n, __global T* dst, int doff, T value) {                 \
    int base = get_global_id(0) * VW;                                                   \
    if (base >= n) return;                                                              \
    dst += doff;                                                                        \
    if (base + VW <= n && (doff & (VW - 1)) == 0) {                                     \
        *(__global T##4*)(dst + base) = (T##4)(value);                                  \
    } else {                                                                            \
        int end = min(base + VW, n);                                                    \
        for (int i = base; i < end; ++i) dst[i] = value;                                \
    }                                                                                   \
}                                                                                       \
__kernel void fill_##T##_n(int n, __global T* dst, T value, Strided m) {                \
    int off[MAXOPS];                                                                         \
    STRIDED_ITEM(m, n, 1, off);                                                         \
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
