/* Cumulative sums and products along one dim: cumsum, cumprod.
 *
 * Built once per input dtype (-DDT_float, -DDT_double, -DDT_int, -DDT_long, -DDT_uchar). The host
 * hands a contiguous input viewed as (outer, L, inner): line (o, i) is in[off + o*L*inner + i +
 * r*inner], r in [0, L), and the output (ACC type, contiguous) has the same layout.
 *   NAME_lines : one work-item per line, sequential (many lines; adjacent work-items read
 *                adjacent memory when inner > 1).
 *   NAME_chunk_totals / NAME_carry / NAME_chunks : few long lines are cut into chunks; pass 1
 *                totals each chunk, pass 2 turns each line's totals into exclusive prefixes,
 *                pass 3 rescans each chunk starting from its prefix.
 * Integer and bool inputs accumulate in long (PyTorch returns int64), floats in their own type.
 */
#include "common.h"

#if defined(DT_float)
#define T float
#define ACC float
#elif defined(DT_double)
#define T double
#define ACC double
#elif defined(DT_int)
#define T int
#define ACC long
#elif defined(DT_long)
#define T long
#define ACC long
#elif defined(DT_uchar)
#define T uchar
#define ACC long
#else
#error "scan.cl needs one of -DDT_float -DDT_double -DDT_int -DDT_long -DDT_uchar"
#endif

#define ADD(a, b) ((a) + (b))
#define MUL(a, b) ((a) * (b))

#define SCAN_KERNELS(NAME, COMB, IDENT)                                                        \
__kernel void NAME##_lines(int n_lines, int L, int inner, __global const T* in, int off,       \
                           __global ACC* out) {                                               \
    int gid = get_global_id(0);                                                                \
    if (gid >= n_lines) return;                                                                \
    int o = gid / inner, i = gid - o * inner;                                                  \
    int base = o * L * inner + i;                                                              \
    ACC acc = IDENT;                                                                           \
    for (int r = 0; r < L; ++r) {                                                              \
        acc = COMB(acc, (ACC)in[off + base + r * inner]);                                      \
        out[base + r * inner] = acc;                                                           \
    }                                                                                          \
}                                                                                              \
/* pass 1: totals[line * chunks + c] = combination of chunk c of the line (inner == 1) */     \
__kernel void NAME##_chunk_totals(int n_lines, int L, int chunks, int chunk_len,               \
                                  __global const T* in, int off, __global ACC* totals) {       \
    int gid = get_global_id(0);                                                                \
    if (gid >= n_lines * chunks) return;                                                       \
    int line = gid / chunks, c = gid - line * chunks;                                          \
    int r0 = c * chunk_len, r1 = min(L, r0 + chunk_len);                                       \
    __global const T* p = in + off + line * L;                                                 \
    ACC acc = IDENT;                                                                           \
    for (int r = r0; r < r1; ++r) acc = COMB(acc, (ACC)p[r]);                                  \
    totals[gid] = acc;                                                                         \
}                                                                                              \
/* pass 2: each line's chunk totals become exclusive prefixes, in place */                    \
__kernel void NAME##_carry(int n_lines, int chunks, __global ACC* totals) {                   \
    int line = get_global_id(0);                                                               \
    if (line >= n_lines) return;                                                               \
    ACC acc = IDENT;                                                                           \
    for (int c = 0; c < chunks; ++c) {                                                         \
        ACC t = totals[line * chunks + c];                                                     \
        totals[line * chunks + c] = acc;                                                       \
        acc = COMB(acc, t);                                                                    \
    }                                                                                          \
}                                                                                              \
/* pass 3: rescan each chunk from its line's prefix */                                        \
__kernel void NAME##_chunks(int n_lines, int L, int chunks, int chunk_len,                     \
                            __global const T* in, int off, __global const ACC* totals,         \
                            __global ACC* out) {                                              \
    int gid = get_global_id(0);                                                                \
    if (gid >= n_lines * chunks) return;                                                       \
    int line = gid / chunks, c = gid - line * chunks;                                          \
    int r0 = c * chunk_len, r1 = min(L, r0 + chunk_len);                                       \
    __global const T* p = in + off + line * L;                                                 \
    __global ACC* q = out + line * L;                                                          \
    ACC acc = totals[gid];                                                                     \
    for (int r = r0; r < r1; ++r) {                                                            \
        acc = COMB(acc, (ACC)p[r]);                                                            \
        q[r] = acc;                                                                            \
    }                                                                                          \
}

SCAN_KERNELS(cumsum, ADD, (ACC)0)
SCAN_KERNELS(cumprod, MUL, (ACC)1)
