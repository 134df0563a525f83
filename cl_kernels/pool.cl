/* Pooling and nearest-neighbour resampling over the last two dimensions of (N, C, H, W).
 *
 * Forward kernels: one work-item per output row, reading the input through its offset and
 * strides (any layout). Backward kernels: one work-item per INPUT row; each pixel gathers from every
 * output window covering it (no atomics, deterministic; outputs are visited in increasing order,
 * the order in which PyTorch's CPU kernels scatter). Gradients and indices are contiguous; a gradient
 * (or the double backward's source) may start at an offset, passed in g.off.
 *
 *   maxpool_fwd_T   : value and flat index h*W + w of the first maximum (NaN wins, like torch)
 *   maxpool_bwd_T   : gx[p] = sum of gy[o] over the outputs o whose index is p
 *   pool_gather_T   : out[o] = src[index[o]] (the adjoint of maxpool_bwd_T, for double backward)
 *   avgpool_fwd_T / avgpool_bwd_T : average pooling, PyTorch's divisor rules
 *   nearest_fwd_T / nearest_bwd_T : mode='nearest' resampling, PyTorch's legacy index rule
 *
 * A row per work-item, not a pixel: PoCL pays about 1 us per work-group, which dominated.
 *
 * Windows: regular ones start at o*S - P and hold K taps D apart; adaptive ones (ADAPTIVE != 0)
 * span [floor(o*in/out), ceil((o+1)*in/out)) like PyTorch's adaptive pools.
 */
#include "common.h"

typedef struct {
    int C, H, W, OH, OW;
    int KH, KW, SH, SW, PH, PW, DH, DW;
    int adaptive, count_pad, divisor;      /* divisor: divisor_override, 0 = none */
    int off, sN, sC, sH, sW;               /* the strided input of forward kernels */
} PoolGeom;

/* (start, number of taps) of window o along one axis */
inline int2 pool_window(int o, int in, int out, int k, int s, int p, int adaptive) {
    if (adaptive) {
        int start = (o * in) / out;
        int end = ((o + 1) * in + out - 1) / out;
        return (int2)(start, end - start);
    }
    return (int2)(o * s - p, k);
}

/* inclusive range of outputs whose window may cover input position h along one axis */
inline int2 pool_covering(int h, int in, int out, int k, int s, int p, int d, int adaptive) {
    int lo, hi;
    if (adaptive) {
        lo = (h * out) / in;
        hi = ((h + 1) * out + in - 1) / in - 1;
    } else {
        int t = h + p - (k - 1) * d;
        lo = t <= 0 ? 0 : (t + s - 1) / s;
        hi = (h + p) / s;
    }
    return (int2)(max(lo, 0), min(hi, out - 1));
}

/* average-pool window [start, end) clamped to the image, and its divisor */
inline int4 avg_window(int o, int in, int out, int k, int s, int p, int adaptive, int* pool) {
    int2 win = pool_window(o, in, out, k, s, p, adaptive);
    int start = win.x, end = win.x + win.y;
    if (!adaptive) end = min(end, in + p);
    *pool = end - start;
    return (int4)(max(start, 0), min(end, in), 0, 0);
}

/* source row of output o for mode='nearest' (PyTorch's nearest_idx) */
inline int nearest_src(int o, int in, int out, float scale) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    return min((int)floor((float)o * scale), in - 1);
}

#ifdef POOL_KH
/* ---------------------------------------------------------------------------------------------
 * Tiled max pooling, built with -DPOOL_KH=kh -DPOOL_KW=kw: the windows tile a contiguous image
 * (stride == kernel, no padding, dilation 1, OH*KH <= H, OW*KW <= W; trailing rows/columns that
 * no window covers get a zero gradient). The window is a compile-time constant, so the loop over
 * a row's outputs has no division, no modulo and no call: LLVM vectorises it (PoCL keeps the
 * general kernels below scalar). One work-item per output row (n, c, oh), like the general path.
 *
 *   maxpool_tile_fwd_T : value and flat index h*W + w; same rule as maxpool_fwd_T (taps in row
 *                        order, v > best or NaN replaces, so the first maximum wins ties)
 *   maxpool_tile_bwd_T : the KH input rows of output row oh (plus the uncovered bottom rows for
 *                        the last oh): gx[p] = gy[o] where idx[o] == p, else 0 (windows do not
 *                        overlap, so each pixel has at most one output)
 * Only these kernels are in a program built with POOL_KH.
 * ------------------------------------------------------------------------------------------- */
#define TILE_KERNELS(T)                                                                        \
__kernel void maxpool_tile_fwd_##T(int total, __global const T* restrict x,                   \
                                   __global T* restrict out, __global long* restrict idx,     \
                                   PoolGeom g) {                                               \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    int p = i / g.OH, oh = i - p * g.OH;                                                       \
    int W = g.W, OW = g.OW, base = oh * POOL_KH * W;                                           \
    __global const T* src = x + g.off + p * (g.H * W) + base;                                  \
    __global T* o = out + i * OW;                                                              \
    __global long* oi = idx + i * OW;                                                          \
    for (int ow = 0; ow < OW; ++ow) {                                                          \
        T best = -INFINITY, nan = 0;                                                           \
        int best_at = ow * POOL_KW, nan_at = -1;                                               \
        _Pragma("unroll") for (int kh = 0; kh < POOL_KH; ++kh)                                 \
            _Pragma("unroll") for (int kw = 0; kw < POOL_KW; ++kw) {                           \
                int at = kh * W + ow * POOL_KW + kw;                                           \
                T v = src[at];                                                                 \
                int take = v > best;                                                           \
                best = take ? v : best;                                                        \
                best_at = take ? at : best_at;                                                 \
                int is_nan = v != v;                                                           \
                nan = is_nan ? v : nan;                                                        \
                nan_at = is_nan ? at : nan_at;                                                 \
            }                                                                                  \
        /* a NaN replaces anything and no number replaces a NaN: the last NaN wins */          \
        o[ow] = nan_at >= 0 ? nan : best;                                                      \
        oi[ow] = base + (nan_at >= 0 ? nan_at : best_at);                                      \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void maxpool_tile_bwd_##T(int total, __global const T* restrict gy,                  \
                                   __global const long* restrict idx, __global T* restrict gx, \
                                   PoolGeom g) {                                               \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    gy += g.off;   /* the gradient may be a view at an offset */                               \
    int p = i / g.OH, oh = i - p * g.OH;                                                       \
    int W = g.W, OW = g.OW, cover = OW * POOL_KW;                                              \
    __global const T* gr = gy + i * OW;                                                        \
    __global const long* ir = idx + i * OW;                                                    \
    int h0 = oh * POOL_KH;                                                                     \
    for (int kh = 0; kh < POOL_KH; ++kh) {                                                     \
        int h = h0 + kh;                                                                       \
        __global T* dst = gx + (p * g.H + h) * W;                                              \
        long row = (long)h * W;                                                                \
        for (int ow = 0; ow < OW; ++ow) {                                                      \
            long at = ir[ow] - row - ow * POOL_KW;   /* the argmax's column in the window */   \
            T v = gr[ow];                                                                      \
            _Pragma("unroll") for (int kw = 0; kw < POOL_KW; ++kw)                             \
                dst[ow * POOL_KW + kw] = at == kw ? v : (T)0;                                  \
        }                                                                                      \
        for (int w = cover; w < W; ++w) dst[w] = 0;                                            \
    }                                                                                          \
    if (oh == g.OH - 1)                            /* rows below the last window */            \
        for (int h = h0 + POOL_KH; h < g.H; ++h) {                                             \
            __global T* dst = gx + (p * g.H + h) * W;                                          \
            for (int w = 0; w < W; ++w) dst[w] = 0;                                            \
        }                                                                                      \
}

TILE_KERNELS(float)
#ifdef HAS_FP64
TILE_KERNELS(double)
#endif

#else  /* the general kernels */

#define POOL_KERNELS(T)                                                                        \
__kernel void maxpool_fwd_##T(int total, __global const T* x, __global T* out,                 \
                              __global long* idx, PoolGeom g) {                                \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    int oh = i % g.OH, nc = i / g.OH;                                                          \
    int n = nc / g.C, c = nc % g.C;                                                            \
    int dh = g.adaptive ? 1 : g.DH, dw = g.adaptive ? 1 : g.DW;                                \
    int2 wh = pool_window(oh, g.H, g.OH, g.KH, g.SH, g.PH, g.adaptive);                        \
    int h0 = wh.x, h1 = min(wh.x + (wh.y - 1) * dh + 1, g.H);                                  \
    while (h0 < 0) h0 += dh;                                                                   \
    __global const T* plane = x + g.off + n * g.sN + c * g.sC;                                 \
    for (int ow = 0; ow < g.OW; ++ow) {                                                        \
        int2 ww = pool_window(ow, g.W, g.OW, g.KW, g.SW, g.PW, g.adaptive);                    \
        int w0 = ww.x, w1 = min(ww.x + (ww.y - 1) * dw + 1, g.W);                              \
        while (w0 < 0) w0 += dw;                                                               \
        T best = -INFINITY;                                                                    \
        int best_i = h0 * g.W + w0;                                                            \
        for (int h = h0; h < h1; h += dh)                                                      \
            for (int w = w0; w < w1; w += dw) {                                                \
                T v = plane[h * g.sH + w * g.sW];                                              \
                if (v > best || isnan(v)) { best = v; best_i = h * g.W + w; }                  \
            }                                                                                  \
        out[i * g.OW + ow] = best;                                                             \
        idx[i * g.OW + ow] = best_i;                                                           \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void maxpool_bwd_##T(int total, __global const T* gy, __global const long* idx,       \
                              __global T* gx, PoolGeom g) {                                    \
    int i = get_global_id(0);                     /* input row (n, c, h) */                    \
    if (i >= total) return;                                                                    \
    gy += g.off;   /* the gradient may be a view at an offset */                               \
    int h = i % g.H, nc = i / g.H;                                                             \
    int2 rh = pool_covering(h, g.H, g.OH, g.KH, g.SH, g.PH, g.DH, g.adaptive);                 \
    int base = nc * g.OH * g.OW;                                                               \
    for (int w = 0; w < g.W; ++w) {                                                            \
        int2 rw = pool_covering(w, g.W, g.OW, g.KW, g.SW, g.PW, g.DW, g.adaptive);             \
        long pix = h * g.W + w;                                                                \
        T acc = 0;                                                                             \
        for (int oh = rh.x; oh <= rh.y; ++oh)                                                  \
            for (int ow = rw.x; ow <= rw.y; ++ow) {                                            \
                int o = base + oh * g.OW + ow;                                                 \
                if (idx[o] == pix) acc += gy[o];                                               \
            }                                                                                  \
        gx[i * g.W + w] = acc;                                                                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void pool_gather_##T(int total, __global const T* src, __global const long* idx,      \
                              __global T* out, PoolGeom g) {                                   \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    src += g.off;   /* the source may be a view at an offset */                                \
    __global const T* plane = src + (i / g.OH) * g.H * g.W;                                    \
    for (int ow = 0; ow < g.OW; ++ow) {                                                        \
        long p = idx[i * g.OW + ow];                                                           \
        out[i * g.OW + ow] = (p >= 0 && p < g.H * g.W) ? plane[(int)p] : (T)0;                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void avgpool_fwd_##T(int total, __global const T* x, __global T* out, PoolGeom g) {   \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    int oh = i % g.OH, nc = i / g.OH;                                                          \
    int n = nc / g.C, c = nc % g.C;                                                            \
    int ph, pw;                                                                                \
    int4 wh = avg_window(oh, g.H, g.OH, g.KH, g.SH, g.PH, g.adaptive, &ph);                    \
    __global const T* plane = x + g.off + n * g.sN + c * g.sC;                                 \
    for (int ow = 0; ow < g.OW; ++ow) {                                                        \
        int4 ww = avg_window(ow, g.W, g.OW, g.KW, g.SW, g.PW, g.adaptive, &pw);                \
        int o = i * g.OW + ow;                                                                 \
        if (wh.x >= wh.y || ww.x >= ww.y) { out[o] = 0; continue; }                            \
        T sum = 0;                                                                             \
        for (int h = wh.x; h < wh.y; ++h)                                                      \
            for (int w = ww.x; w < ww.y; ++w) sum += plane[h * g.sH + w * g.sW];               \
        if (g.adaptive) { out[o] = sum / (T)(wh.y - wh.x) / (T)(ww.y - ww.x); continue; }      \
        int div = g.divisor ? g.divisor                                                        \
                : g.count_pad ? ph * pw : (wh.y - wh.x) * (ww.y - ww.x);                       \
        out[o] = sum / (T)div;                                                                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void avgpool_bwd_##T(int total, __global const T* gy, __global T* gx, PoolGeom g) {   \
    int i = get_global_id(0);                     /* input row (n, c, h) */                    \
    if (i >= total) return;                                                                    \
    gy += g.off;   /* the gradient may be a view at an offset */                               \
    int h = i % g.H, nc = i / g.H;                                                             \
    int2 rh = pool_covering(h, g.H, g.OH, g.KH, g.SH, g.PH, 1, g.adaptive);                    \
    int base = nc * g.OH * g.OW;                                                               \
    for (int w = 0; w < g.W; ++w) {                                                            \
        int2 rw = pool_covering(w, g.W, g.OW, g.KW, g.SW, g.PW, 1, g.adaptive);                \
        T acc = 0;                                                                             \
        for (int oh = rh.x; oh <= rh.y; ++oh) {                                                \
            int ph;                                                                            \
            int4 wh = avg_window(oh, g.H, g.OH, g.KH, g.SH, g.PH, g.adaptive, &ph);            \
            if (h < wh.x || h >= wh.y) continue;                                               \
            for (int ow = rw.x; ow <= rw.y; ++ow) {                                            \
                int pw;                                                                        \
                int4 ww = avg_window(ow, g.W, g.OW, g.KW, g.SW, g.PW, g.adaptive, &pw);        \
                if (w < ww.x || w >= ww.y) continue;                                           \
                T v = gy[base + oh * g.OW + ow];                                               \
                if (g.adaptive) {                                                              \
                    acc += v / (T)(wh.y - wh.x) / (T)(ww.y - ww.x);                            \
                } else {                                                                       \
                    int div = g.divisor ? g.divisor                                            \
                            : g.count_pad ? ph * pw : (wh.y - wh.x) * (ww.y - ww.x);           \
                    acc += v / (T)div;                                                         \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        gx[i * g.W + w] = acc;                                                                 \
    }                                                                                          \
}                                                                                              \
                                                                                               \
__kernel void nearest_fwd_##T(int total, __global const T* x, __global T* out, PoolGeom g,     \
                              float scale_h, float scale_w) {                                  \
    int i = get_global_id(0);                     /* output row (n, c, oh) */                  \
    if (i >= total) return;                                                                    \
    int oh = i % g.OH, nc = i / g.OH;                                                          \
    int n = nc / g.C, c = nc % g.C;                                                            \
    __global const T* row = x + g.off + n * g.sN + c * g.sC                                    \
                          + nearest_src(oh, g.H, g.OH, scale_h) * g.sH;                        \
    for (int ow = 0; ow < g.OW; ++ow)                                                          \
        out[i * g.OW + ow] = row[nearest_src(ow, g.W, g.OW, scale_w) * g.sW];                  \
}                                                                                              \
                                                                                               \
__kernel void nearest_bwd_##T(int total, __global const T* gy, __global T* gx, PoolGeom g,     \
                              float scale_h, float scale_w) {                                  \
    int i = get_global_id(0);                     /* input row (n, c, h) */                    \
    if (i >= total) return;                                                                    \
    gy += g.off;   /* the gradient may be a view at an offset */                               \
    int h = i % g.H, nc = i / g.H;                                                             \
    int base = nc * g.OH * g.OW;                                                               \
    /* nearest_src is non-decreasing: start a little before h/scale, stop past h */            \
    int oh0 = max((int)floor((float)h / scale_h) - 2, 0);                                      \
    for (int w = 0; w < g.W; ++w) {                                                            \
        int ow0 = max((int)floor((float)w / scale_w) - 2, 0);                                  \
        T acc = 0;                                                                             \
        for (int oh = oh0; oh < g.OH; ++oh) {                                                  \
            int sh = nearest_src(oh, g.H, g.OH, scale_h);                                      \
            if (sh > h) break;                                                                 \
            if (sh < h) continue;                                                              \
            for (int ow = ow0; ow < g.OW; ++ow) {                                              \
                int sw = nearest_src(ow, g.W, g.OW, scale_w);                                  \
                if (sw > w) break;                                                             \
                if (sw == w) acc += gy[base + oh * g.OW + ow];                                 \
            }                                                                                  \
        }                                                                                      \
        gx[i * g.W + w] = acc;                                                                 \
    }                                                                                          \
}

POOL_KERNELS(float)
#ifdef HAS_FP64
POOL_KERNELS(double)
#endif
#endif  /* POOL_KH */
