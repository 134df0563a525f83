/* Convolution helpers around the GEMM (cl_kernels/gemm.cl does the arithmetic).
 *
 * A convolution of x (N, C, H, W) with a (Cout, C/groups, KH, KW) weight is, per group, a GEMM of
 * the weight matrix with the "column" matrix of x: cols[(c*KH + i)*KW + j][n][oh][ow] =
 * x[n][c][oh*SH - PH + i*DH][ow*SW - PW + j*DW] (0 outside the image). Rows are ordered by the
 * global input channel, so group g owns the contiguous row block [g*Kg, (g+1)*Kg).
 *
 *   im2col_T       : x (any strides) -> cols, one work-item per element of cols.
 *   col2im_T       : cols -> image (N, C, H, W) contiguous, the adjoint of im2col: one work-item
 *                    per image pixel GATHERS the entries of every window that covers it (no
 *                    atomics, deterministic), plus an optional per-channel bias.
 *   channel_sum_T  : out[c] = sum over n, h, w of g[n][c][h][w] (the bias gradient): one
 *                    work-group of CS_LOCAL work-items per channel, a fixed-order tree in local
 *                    memory (deterministic).
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

#define CONV_KERNELS(T)                                                                        \
__kernel void im2col_##T(int total, __global const T* x, __global T* cols, ConvGeom g) {       \
    int i = get_global_id(0);                                                                  \
    if (i >= total) return;                                                                    \
    int ow = i % g.OW;                                                                         \
    int t = i / g.OW;                                                                          \
    int oh = t % g.OH;                                                                         \
    t /= g.OH;                                                                                 \
    int n = t % g.N;                                                                           \
    int row = t / g.N;                                                                         \
    int kj = row % g.KW;                                                                       \
    int ki = (row / g.KW) % g.KH;                                                              \
    int c = row / (g.KW * g.KH);                                                               \
    int h = oh * g.SH - g.PH + ki * g.DH;                                                      \
    int w = ow * g.SW - g.PW + kj * g.DW;                                                      \
    T v = 0;                                                                                   \
    if (h >= 0 && h < g.H && w >= 0 && w < g.W)                                                \
        v = x[g.off + n * g.sN + c * g.sC + h * g.sH + w * g.sW];                              \
    cols[i] = v;                                                                               \
}                                                                                              \
                                                                                               \
__kernel void col2im_##T(int total, __global const T* cols, __global T* out,                   \
                         __global const T* bias, int bias_off, int bias_stride, int use_bias,  \
                         ConvGeom g) {                                                         \
    int i = get_global_id(0);                                                                  \
    if (i >= total) return;                                                                    \
    int w = i % g.W;                                                                           \
    int t = i / g.W;                                                                           \
    int h = t % g.H;                                                                           \
    t /= g.H;                                                                                  \
    int c = t % g.C;                                                                           \
    int n = t / g.C;                                                                           \
    int plane = g.OH * g.OW;                                                                   \
    int row_stride = g.N * plane;                                                              \
    __global const T* base = cols + (c * g.KH * g.KW) * row_stride + n * plane;               \
    T acc = use_bias ? bias[bias_off + c * bias_stride] : (T)0;                                \
    for (int ki = 0; ki < g.KH; ++ki) {                                                        \
        int th = h + g.PH - ki * g.DH;                                                         \
        if (th < 0 || th % g.SH) continue;                                                     \
        int oh = th / g.SH;                                                                    \
        if (oh >= g.OH) continue;                                                              \
        for (int kj = 0; kj < g.KW; ++kj) {                                                    \
            int tw = w + g.PW - kj * g.DW;                                                     \
            if (tw < 0 || tw % g.SW) continue;                                                 \
            int ow = tw / g.SW;                                                                \
            if (ow >= g.OW) continue;                                                          \
            acc += base[(ki * g.KW + kj) * row_stride + oh * g.OW + ow];                       \
        }                                                                                      \
    }                                                                                          \
    out[i] = acc;                                                                              \
}                                                                                              \
                                                                                               \
__kernel __attribute__((reqd_work_group_size(CS_LOCAL, 1, 1)))                                 \
void channel_sum_##T(__global const T* x, __global T* out, ConvGeom g) {                       \
    /* x is (N, C, H, W) with the strides in g; one work-group per channel */                  \
    __local T part[CS_LOCAL];                                                                  \
    int c = get_group_id(0);                                                                   \
    int lid = get_local_id(0);                                                                 \
    int plane = g.H * g.W;                                                                     \
    int total = g.N * plane;                                                                   \
    T acc = 0;                                                                                 \
    if (c < g.C) {                                                                             \
        for (int k = lid; k < total; k += CS_LOCAL) {                                          \
            int n = k / plane, p = k % plane;                                                  \
            acc += x[g.off + n * g.sN + c * g.sC + (p / g.W) * g.sH + (p % g.W) * g.sW];       \
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
