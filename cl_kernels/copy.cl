/* Copies, casts and fills: the only kernels that move data between layouts and dtypes.
 *
 * One kernel pair per (source type, destination type) so a single program serves every cast:
 *   copy_S_D_c : both sides contiguous (n elements from src+soff to dst+doff), VW elements per
 *                work-item, stored as one vector when dst is VW-aligned (as elementwise _c)
 *   copy_S_D_n : any strides (operand 0 = destination, 1 = source); a 3-D NDRange when the
 *                collapsed shape has <= 3 dims (STRIDED_ITEM in common.h)
 *   fill_T_c / fill_T_n : write one value
 *   (the casts between bfloat16 and the 32/64-bit types and bool take one element per
 *   work-item in their _c form: COPY16_1_KERNELS)
 * bool is stored as uchar; casts to bool give 0/1 like PyTorch.
 *
 * The 16-bit floats (COPY16_KERNELS) are stored on every OpenCL 1.2 device, without cl_khr_fp16:
 *   half     : read with vload_half, written with vstore_half_rte (core OpenCL 1.2; a pointer
 *              to half is the one use of the type that needs no extension)
 *   bfloat16 : a ushort holding the top 16 bits of a float32; written rounded to nearest even,
 *              every NaN as the quiet NaN 0x7FC0 (c10::BFloat16's rounding)
 * Both convert through float32, as PyTorch's c10::Half / c10::BFloat16 do (a double is rounded
 * to float first). A 16-bit copy to its own type moves the bits (copy_half_half...). Their fills
 * are fill_ushort_*: the host passes the value's bits.
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

/* ----------------------------------------------------------------- 16-bit floats */
#include "bfloat16.h"

/* LOAD_S(p, i): element i of a buffer of type S as its natural type (float for 16-bit) */
#define LOAD_uchar(p, i) ((p)[i])
#define LOAD_int(p, i) ((p)[i])
#define LOAD_long(p, i) ((p)[i])
#define LOAD_float(p, i) ((p)[i])
#define LOAD_double(p, i) ((p)[i])
#define LOAD_half(p, i) vload_half((i), (p))
#define LOAD_bfloat16(p, i) bf16_to_float((p)[i])
/* STORE_D(p, i, v): write value v to element i of a buffer of type D, converted */
#define STORE_uchar(p, i, v) ((p)[i] = TO_uchar(v))
#define STORE_int(p, i, v) ((p)[i] = TO_int(v))
#define STORE_long(p, i, v) ((p)[i] = TO_long(v))
#define STORE_float(p, i, v) ((p)[i] = TO_float(v))
#define STORE_double(p, i, v) ((p)[i] = TO_double(v))
#define STORE_half(p, i, v) vstore_half_rte(TO_float(v), (i), (p))
#define STORE_bfloat16(p, i, v) ((p)[i] = float_to_bf16(TO_float(v)))

/* VT_S: the 4-vector of S's natural type; LOAD4_S / STORE4_D: elements i..i+3 (any alignment;
 * half through vload_half4 / vstore_half4_rte (4x faster than 4 vstore_half_rte on PoCL), bfloat16
 * element by element as scalar code, which PoCL vectorises best) */
#define VT_uchar uchar4
#define VT_int int4
#define VT_long long4
#define VT_float float4
#define VT_double double4
#define VT_half float4
#define VT_bfloat16 float4
#define LOAD4_(T, p, i) ((T##4)((p)[i], (p)[(i) + 1], (p)[(i) + 2], (p)[(i) + 3]))
#define LOAD4_uchar(p, i) LOAD4_(uchar, p, i)
#define LOAD4_int(p, i) LOAD4_(int, p, i)
#define LOAD4_long(p, i) LOAD4_(long, p, i)
#define LOAD4_float(p, i) LOAD4_(float, p, i)
#define LOAD4_double(p, i) LOAD4_(double, p, i)
#define LOAD4_half(p, i) vload_half4(0, (p) + (i))
#define LOAD4_bfloat16(p, i) ((float4)(bf16_to_float((p)[i]), bf16_to_float((p)[(i) + 1]),     \
                                       bf16_to_float((p)[(i) + 2]), bf16_to_float((p)[(i) + 3])))
#define STORE4_(D, p, i, v) do { STORE_##D(p, i, (v).s0); STORE_##D(p, (i) + 1, (v).s1);         \
                                 STORE_##D(p, (i) + 2, (v).s2); STORE_##D(p, (i) + 3, (v).s3); } while (0)
#define STORE4_uchar(p, i, v) STORE4_(uchar, p, i, v)
#define STORE4_int(p, i, v) STORE4_(int, p, i, v)
#define STORE4_long(p, i, v) STORE4_(long, p, i, v)
#define STORE4_float(p, i, v) STORE4_(float, p, i, v)
#define STORE4_double(p, i, v) STORE4_(double, p, i, v)
#define STORE4_half(p, i, v) vstore_half4_rte(convert_float4(v), 0, (p) + (i))
#define STORE4_bfloat16(p, i, v) STORE4_(bfloat16, p, i, v)

/* a cast with a 16-bit float on one side: VW (4) elements per work-item, a full group as
 * straight-line code (which PoCL vectorises across work-items; a loop defeats it) */
#define COPY16_KERNELS(S, D)                                                            \
__kernel void copy_##S##_##D##_c(int n, __global const S* src, int soff,                \
                                 __global D* dst, int doff) {                          \
    int base = get_global_id(0) * VW;                                                   \
    if (base >= n) return;                                                              \
    src += soff; dst += doff;                                                           \
    if (base + VW <= n) {                                                               \
        VT_##S v = LOAD4_##S(src, base);                                                \
        STORE4_##D(dst, base, v);                                                       \
    } else {                                                                            \
        for (int i = base; i < n; ++i) STORE_##D(dst, i, LOAD_##S(src, i));             \
    }                                                                                   \
}                                                                                       \
__kernel void copy_##S##_##D##_n(int n, __global const S* src, __global D* dst,         \
                                 Strided m) {                                           \
    int off[MAXOPS];                                                                    \
    STRIDED_ITEM(m, n, 2, off);                                                         \
    STORE_##D(dst, off[0], LOAD_##S(src, off[1]));                                      \
}

/* a 16-bit float copied to its own type: the bits, as ushort (NaN payloads kept) */
#define COPY16_SAME(T)                                                                  \
__kernel void copy_##T##_##T##_c(int n, __global const ushort* src, int soff,           \
                                 __global ushort* dst, int doff) {                     \
    int base = get_global_id(0) * VW;                                                   \
    if (base >= n) return;                                                              \
    src += soff; dst += doff;                                                           \
    if (base + VW <= n && (doff & (VW - 1)) == 0) {                                     \
        *(__global ushort4*)(dst + base) = LOAD4_(ushort, src, base);                   \
    } else {                                                                            \
        int end = min(base + VW, n);                                                    \
        for (int i = base; i < end; ++i) dst[i] = src[i];                               \
    }                                                                                   \
}                                                                                       \
__kernel void copy_##T##_##T##_n(int n, __global const ushort* src, __global ushort* dst, \
                                 Strided m) {                                           \
    int off[MAXOPS];                                                                    \
    STRIDED_ITEM(m, n, 2, off);                                                         \
    dst[off[0]] = src[off[1]];                                                          \
}

/* a cast between bfloat16 and a 32/64-bit type or bool: ONE element per work-item, the form
 * PoCL vectorises best for this body of integer bit operations (4x faster than 4 per work-item,
 * measured); the host launches it with launch_1d (kernels/copy.py) */
#define COPY16_1_KERNELS(S, D)                                                          \
__kernel void copy_##S##_##D##_c(int n, __global const S* src, int soff,                \
                                 __global D* dst, int doff) {                          \
    int i = get_global_id(0);                                                           \
    if (i >= n) return;                                                                 \
    STORE_##D(dst + doff, i, LOAD_##S(src + soff, i));                                  \
}                                                                                       \
__kernel void copy_##S##_##D##_n(int n, __global const S* src, __global D* dst,         \
                                 Strided m) {                                           \
    int off[MAXOPS];                                                                    \
    STRIDED_ITEM(m, n, 2, off);                                                         \
    STORE_##D(dst, off[0], LOAD_##S(src, off[1]));                                      \
}

#define COPY16_WITH(H, K)         \
    K(H, uchar)                   \
    K(H, int)                     \
    K(H, long)                    \
    K(H, float)                   \
    K(uchar, H)                   \
    K(int, H)                     \
    K(long, H)                    \
    K(float, H)                   \
    COPY16_SAME(H)

COPY16_WITH(half, COPY16_KERNELS)
COPY16_WITH(bfloat16, COPY16_1_KERNELS)
COPY16_KERNELS(half, bfloat16)
COPY16_KERNELS(bfloat16, half)
FILL_KERNELS(ushort)

/* ----------------------------------------------------------------- the 32/64-bit types */
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
COPY16_KERNELS(half, double)
COPY16_1_KERNELS(bfloat16, double)
COPY16_KERNELS(double, half)
COPY16_1_KERNELS(double, bfloat16)
#endif
