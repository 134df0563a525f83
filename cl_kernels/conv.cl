/* Convolution helpers around the GEMM (cl_kernels/gemm.cl does the arithmetic).
 *
 * A convolution of x (N, C, H, W) with a (Cout, C/groups, KH, KW) weight is, per group, a GEMM of
 * the weight matrix with the "column" matrix of x: cols[(c*KH + i)*KW + j][n][oh][ow] =
 * x[n][c][oh*SH - PH + i*DH][ow*SW - PW + j*DW] (0 outside the image). Rows are ordered by the
 * global input channel, so group g owns the contiguous row block [g*Kg, (g+1)*Kg).
 *
 *   im2col_T       : x (any strides) -> cols, one work-item per (c, ki, n): its KW blocks of
 *                    cols; each row is zeros, a copy of the pixels inside, zeros (no per-pixel
 *                    bounds test; a plain copy loop when stride 1 and the row is contiguous).
 *   col2im_T       : cols -> image (N, C, H, W) contiguous, the adjoint of im2col: one work-item
 *                    per image row GATHERS the entries of every window covering its pixels (no
 *                    atomics, deterministic), plus an optional per-channel bias. It walks the
 *                    columns that land in the row (no per-pixel division or modulo). Its cols
 *                    are laid out per image, cols[n][(c*KH + i)*KW + j][oh][ow]: the GEMM that
 *                    writes them (W^T @ y per image) and this gather each stay within one
 *                    image's block instead of striding across the batch.
 *   to_cnhw_T      : (N, C, H, W) any strides -> (C, N, H, W) contiguous (weight gradient's A).
 *   channel_sum_T  : out[c] = sum over n, h, w of g[n][c][h][w] (the bias gradient): one
 *                    work-group of CS_LOCAL work-items per channel, a fixed-order tree in local
 *                    memory (deterministic).
 *
 * PoCL runs each work-group as a loop and pays ~1 us per group: kernels give each work-item a row
 * or a plane, not an element, so a LeNet-sized batch needs a few hundred groups, not 10^4.
 *
 * The geometry travels by value in one ConvGeom struct. OH/OW are given by the host, so asymmetric
 * padding ('same' with an even kernel) only needs PH/PW = the top/left padding here.
 */
#include "common.h"

typedef struct {
    int N, C, H, W;        /* image: batch, channels, height, width */
    int OH, OW;            /* output (column) spatial size */
    int KH, KW, SH, SW, PH, PW, DH, DW;
    int off, sN, sC, sH, sW;   /* element offset and strides of the image operand (im2col) */
} ConvGeom;

#define CS_LOCAL 64

/* rows here are short (LeNet: 8 to 24 pixels): vectorise by 4 without interleaving, so a row of
   8 already runs vector code (LLVM would pick 8 x 4 and leave short rows scalar) */
#define SHORT_LOOP _Pragma("clang loop vectorize_width(4) interleave_count(1)")

#define CONV_KERNELS(T)                                                                        \
__kernel void im2col_##T(int total, __global const T* restrict x, __global T* restrict cols,   \
                         ConvGeom g) {                                                         \
    /* one work-item per (c, ki, n): the KW row blocks (c, ki, kj) x n of cols, OH x OW each */\
    int i = get_global_id(0);                                                                  \
    if (i >= total) return;                                                                    \
    int n = i % g.N, cki = i / g.N;               /* cki = c * KH + ki */                      \
    int ki = cki % g.KH, c = cki / g.KH;                                                       \
    int OW = g.OW, P = g.OH * OW;                                                              \
    __global const T* plane = x + g.off + n * g.sN + c * g.sC;                                 \
    for (int kj = 0; kj < g.KW; ++kj) {                                                        \
        __global T* dst = cols + ((cki * g.KW + kj) * g.N + n) * P;                            \
        /* column ow reads w = w0 + ow * SW: inside the image for ow in [lo, hi) */            \
        int w0 = kj * g.DW - g.PW;                                                             \
        int lo = w0 >= 0 ? 0 : (g.SW - 1 - w0) / g.SW;                                         \
        int hi = w0 >= g.W ? 0 : min((g.W - 1 - w0) / g.SW + 1, OW);                           \
        lo = min(lo, hi);                                                                      \
        int dense = g.SW == 1 && g.sW == 1;       /* a plain copy of contiguous pixels */      \
        for (int oh = 0; oh < g.OH; ++oh, dst += OW) {                                         \
            int h = oh * g.SH - g.PH + ki * g.DH;                                              \
            if (h < 0 || h >= g.H) {                                                           \
                for (int ow = 0; ow < OW; ++ow) dst[ow] = 0;                                   \
                continue;                                                                      \
            }                                                                                  \
            __global const T* row = plane + h * g.sH;                                          \
            for (int ow = 0; ow < lo; ++ow) dst[ow] = 0;                                       \
            if (dense)                                                                         \
                SHORT_LOOP for (int ow = lo; ow < hi; ++ow) dst[ow] = row[w0 + ow];            \
            else                                                                               \
                for (int ow = lo; ow < hi; ++ow) dst[ow] = row[(w0 + ow * g.SW) * g.sW];       \
            for (int ow = hi; ow < OW; ++ow) dst[ow] = 0;                                      \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void col2im_##T(int total, __global const T* restrict cols, __global T* restrict out, \
                         __global const T* bias, int bias_off, int bias_stride, int use_bias,  \
                         ConvGeom g) {                                                         \
    /* one work-item per image row (n, c, h): it gathers the row's W pixels, window by         \
       window in (ki, kj) order, accumulating in its own output row */                         \
    int i = get_global_id(0);                                                                  \
    if (i >= total) return;                                                                    \
    int h = i % g.H, t = i / g.H;                                                              \
    int c = t % g.C, n = t / g.C;                                                              \
    int OW = g.OW, plane = g.OH * OW;                                                          \
    int row_stride = plane;                       /* cols here: (N, C*KH*KW, OH*OW) */         \
    __global const T* base = cols + (n * g.C + c) * g.KH * g.KW * plane;                       \
    __global T* dst = out + i * g.W;                                                           \
    T b0 = use_bias ? bias[bias_off + c * bias_stride] : (T)0;                                 \
    for (int w = 0; w < g.W; ++w) dst[w] = b0;                                                 \
    for (int ki = 0; ki < g.KH; ++ki) {                                                        \
        int th = h + g.PH - ki * g.DH;                                                         \
        if (th < 0) break;                        /* th only decreases with ki */              \
        int oh = th / g.SH;                                                                    \
        if (oh * g.SH != th || oh >= g.OH) continue;                                           \
        for (int kj = 0; kj < g.KW; ++kj) {                                                    \
            __global const T* src = base + (ki * g.KW + kj) * row_stride + oh * OW;            \
            /* column ow lands on pixel w = ow * SW - shift: inside the row for ow in [lo, hi) */\
            int shift = g.PW - kj * g.DW;                                                      \
            int lo = shift > 0 ? (shift + g.SW - 1) / g.SW : 0;                                \
            int hi = g.W - 1 + shift < 0 ? 0 : min((g.W - 1 + shift) / g.SW + 1, OW);          \
            if (g.SW == 1)                                                                     \
                SHORT_LOOP for (int ow = lo; ow < hi; ++ow) dst[ow - shift] += src[ow];        \
            else                                                                               \
                for (int ow = lo; ow < hi; ++ow) dst[ow * g.SW - shift] += src[ow];            \
        }                                                                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void to_cnhw_##T(int total, __global const T* restrict y, __global T* restrict out,   \
                          ConvGeom g) {                                                        \
    /* out (C, N, H, W) contiguous <- y (N, C, H, W) any strides: one work-item per plane */   \
    int i = get_global_id(0);                                                                  \
    if (i >= total) return;                                                                    \
    int c = i % g.C, n = i / g.C;                                                              \
    __global const T* src = y + g.off + n * g.sN + c * g.sC;                                   \
    __global T* dst = out + (c * g.N + n) * (g.H * g.W);                                       \
    if (g.sW == 1 && g.sH == g.W) {               /* a contiguous plane: a plain copy */       \
        for (int j = 0; j < g.H * g.W; ++j) dst[j] = src[j];                                   \
        return;                                                                                \
    }                                                                                          \
    for (int h = 0; h < g.H; ++h, dst += g.W)                                                  \
        for (int w = 0; w < g.W; ++w) dst[w] = src[h * g.sH + w * g.sW];                       \
}                                                                                              \
                                                                                               \
__kernel __attribute__((reqd_work_group_size(CS_LOCAL, 1, 1)))                                 \
void channel_sum_##T(__global const T* x, __global T* out, ConvGeom g) {                       \
    /* x is (N, C, H, W) with the strides in g; one work-group per channel */                  \
    __local T part[CS_LOCAL];                                                                  \
    int c = get_group_id(0);                                                                   \
    int lid = get_local_id(0);                                                                 \
    T acc = 0;                                                                                 \
    if (c < g.C) {                                                                             \
        /* work-item lid sums the planes n = lid, lid + CS_LOCAL, ...; a contiguous plane in   \
           four interleaved partial sums (a fixed order, so still deterministic) */            \
        int hw = g.H * g.W, dense = g.sW == 1 && g.sH == g.W;                                  \
        for (int n = lid; n < g.N; n += CS_LOCAL) {                                            \
            __global const T* p = x + g.off + n * g.sN + c * g.sC;                             \
            if (dense) {                                                                       \
                T##4 acc4 = 0;                                                                 \
                int j = 0;                                                                     \
                for (; j + 4 <= hw; j += 4) acc4 += (T##4)(p[j], p[j + 1], p[j + 2], p[j + 3]);\
                for (; j < hw; ++j) acc += p[j];                                               \
                acc += (acc4.x + acc4.y) + (acc4.z + acc4.w);                                  \
            } else {                                                                           \
                for (int h = 0; h < g.H; ++h)                                                  \
                    for (int w = 0; w < g.W; ++w) acc += p[h * g.sH + w * g.sW];               \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    part[lid] = acc;                                                                           \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    for (int s = CS_LOCAL / 2; s > 0; s >>= 1) {                                               \
        if (lid < s) part[lid] += part[lid + s];                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
    }                                                                                          \
    if (lid == 0 && c < g.C) out[c] = part[0];                                                 \
}

CONV_KERNELS(float)
#ifdef HAS_FP64
CONV_KERNELS(double)
#endif
