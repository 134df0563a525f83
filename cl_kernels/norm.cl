/* Normalisation family: layer norm / RMS norm / group norm over contiguous rows and batch norm
 * over channels, forward and fused backward. Build with -DT=float|double, -DLS and -DVW.
 *
 * Two layouts, chosen by the host per device (dev.tuning["norm.ls"]):
 *   LS > 1  (GPUs): one work-group of LS work-items per row / channel; each work-item strides
 *           over it and a tree in local memory combines the partial sums.
 *   LS == 1 (CPU drivers): one work-item per row / channel, walking it in VW-wide vectors
 *           (vector.h) with no barriers: a CPU driver runs a work-group as a loop over its
 *           work-items, split at every barrier, and vectorises nothing that calls sqrt.
 * Both layouts loop over rows / channels (row += number of groups) instead of returning early:
 * every work-item of a group must reach every barrier, and PoCL 3.0 corrupts memory when a
 * work-group returns before the barriers of a local-memory tree.
 *
 * Rows: a row of n elements is n / S segments of S elements that share one weight and bias
 * value; row r uses the parameters [(r % G) * (n / S), (r % G + 1) * (n / S)). Layer norm and RMS
 * norm have G = 1, S = 1 (a weight per element); group norm has rows (N * G) of
 * n = C / G * S elements, S the spatial size.
 * Statistics use two passes (mean, then the sum of squared deviations) for accuracy; the CPU
 * layout adds each pass in 4 * VW interleaved partial sums (32 in float32).
 *
 * Measured on PoCL 3.0, 2-core EPYC, float32, device time (forward + backward with affine):
 * layer norm (2048, 128) 2980 -> 230 us, (64, 1024) 225 -> 45-65 us; group norm
 * (32, 64, 16, 16) / 8 groups 3870 -> 225 us; batch norm (64, 32, 16, 16) train 4050 -> 360 us,
 * GPU layout -> CPU layout.
 */
#ifndef VW
#define VW 4
#endif
#include "vector.h"

#ifndef LS
#define LS 64
#endif

#define HAS_W 1
#define HAS_B 2
#define RMS 4          /* RMS norm: no mean subtraction (the row's "mean" is 0) */

#if LS > 1
/* r = the sum of every work-item's v (scratch holds LS partials; LS is a power of two). A macro,
 * not a function: PoCL needs barriers in the kernel body itself, not in a called function. */
#define TREE_SUM(scratch, lid, v, r)                                        \
    do {                                                                    \
        scratch[lid] = (v);                                                 \
        barrier(CLK_LOCAL_MEM_FENCE);                                       \
        for (int s_ = LS / 2; s_ > 0; s_ >>= 1) {                           \
            if ((lid) < s_) scratch[lid] += scratch[(lid) + s_];            \
            barrier(CLK_LOCAL_MEM_FENCE);                                   \
        }                                                                   \
        r = scratch[0];                                                     \
        barrier(CLK_LOCAL_MEM_FENCE); /* scratch is reused by the next tree */ \
    } while (0)
#else
/* ------------------------------------------------ vector helpers of the CPU layout (LS == 1) */

/* sum of p[0..n) */
inline T sum_v(__global const T* p, int n) {
    TV a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        a0 += load_v(p + i);
        a1 += load_v(p + i + VW);
        a2 += load_v(p + i + 2 * VW);
        a3 += load_v(p + i + 3 * VW);
    }
    for (; i + VW <= n; i += VW) a0 += load_v(p + i);
    T s = hsum_v((a0 + a1) + (a2 + a3));
    for (; i < n; ++i) s += p[i];
    return s;
}

/* sum of (p[i] - mu)^2 over [0, n) */
inline T sqdev_v(__global const T* p, int n, T mu) {
    TV a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        TV d0 = load_v(p + i) - mu, d1 = load_v(p + i + VW) - mu;
        TV d2 = load_v(p + i + 2 * VW) - mu, d3 = load_v(p + i + 3 * VW) - mu;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    for (; i + VW <= n; i += VW) {
        TV d = load_v(p + i) - mu;
        a0 += d * d;
    }
    T s = hsum_v((a0 + a1) + (a2 + a3));
    for (; i < n; ++i) {
        T d = p[i] - mu;
        s += d * d;
    }
    return s;
}

/* *sg = sum g[i] (* w[i] when has_w), *sgx = sum g[i] (* w[i]) * (x[i] - mu), over [0, n) */
inline void gsums_v(__global const T* g, __global const T* x, __global const T* w, int has_w,
                    int n, T mu, T* sg, T* sgx) {
    TV a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        TV g0 = load_v(g + i), g1 = load_v(g + i + VW);
        if (has_w) {
            g0 *= load_v(w + i);
            g1 *= load_v(w + i + VW);
        }
        a0 += g0;
        a1 += g1;
        b0 += g0 * (load_v(x + i) - mu);
        b1 += g1 * (load_v(x + i + VW) - mu);
    }
    for (; i + VW <= n; i += VW) {
        TV g0 = load_v(g + i);
        if (has_w) g0 *= load_v(w + i);
        a0 += g0;
        b0 += g0 * (load_v(x + i) - mu);
    }
    T s1 = hsum_v(a0 + a1), s2 = hsum_v(b0 + b1);
    for (; i < n; ++i) {
        T gv = has_w ? g[i] * w[i] : g[i];
        s1 += gv;
        s2 += gv * (x[i] - mu);
    }
    *sg = s1;
    *sgx = s2;
}

/* y[i] = (x[i] - mu) * a + d over [0, n) (one segment of a group-norm row) */
inline void affine_c_v(__global const T* x, __global T* y, int n, T mu, T a, T d) {
    int i = 0;
    for (; i + VW <= n; i += VW) store_v(y + i, (load_v(x + i) - mu) * a + d);
    for (; i < n; ++i) y[i] = (x[i] - mu) * a + d;
}

/* out[i] = a * g[i] + kx * (x[i] - mu) + k0 over [0, n) */
inline void gx_c_v(__global const T* g, __global const T* x, __global T* out, int n, T mu, T a,
                   T kx, T k0) {
    int i = 0;
    for (; i + VW <= n; i += VW)
        store_v(out + i, a * load_v(g + i) + kx * (load_v(x + i) - mu) + k0);
    for (; i < n; ++i) out[i] = a * g[i] + kx * (x[i] - mu) + k0;
}
#endif

/* ------------------------------------------------------------------ rows (layer / group norm) */

/* y = (x - mean) * rstd [* w] [+ b] per row of n elements; saves mean and rstd per row (RMS:
 * mean = 0, rstd = 1 / sqrt(mean(x^2) + eps)). flags: HAS_W, HAS_B, RMS; rows, G, S as above. */
__kernel void layer_norm_fwd(int rows, int n, int G, int S, __global const T* x, int xoff,
                             __global const T* w, int woff, __global const T* b, int boff,
                             int flags, T eps, __global T* y, __global T* mean_out,
                             __global T* rstd_out) {
    int has_w = flags & HAS_W, has_b = flags & HAS_B;
    int cpg = n / S;
#if LS == 1
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        __global T* yr = y + (long)row * n;
        T mean = (flags & RMS) ? (T)0 : sum_v(xr, n) / n;
        T rstd = (T)1 / sqrt(sqdev_v(xr, n, mean) / n + eps);
        mean_out[row] = mean;
        rstd_out[row] = rstd;
        int p0 = (row % G) * cpg;
        if (S == 1) {
            __global const T* wr = w + woff + p0;
            __global const T* br = b + boff + p0;
            int i = 0;
            for (; i + VW <= n; i += VW) {
                TV v = (load_v(xr + i) - mean) * rstd;
                if (has_w) v *= load_v(wr + i);
                if (has_b) v += load_v(br + i);
                store_v(yr + i, v);
            }
            for (; i < n; ++i) {
                T v = (xr[i] - mean) * rstd;
                if (has_w) v *= wr[i];
                if (has_b) v += br[i];
                yr[i] = v;
            }
        } else {
            for (int k = 0; k < cpg; ++k) {
                T a = has_w ? rstd * w[woff + p0 + k] : rstd;
                T d = has_b ? b[boff + p0 + k] : (T)0;
                affine_c_v(xr + k * S, yr + k * S, S, mean, a, d);
            }
        }
    }
#else
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        __global T* yr = y + (long)row * n;
        T mean = 0;
        if (!(flags & RMS)) {
            T s = 0;
            for (int i = lid; i < n; i += LS) s += xr[i];
            TREE_SUM(scratch, lid, s, mean);
            mean /= n;
        }
        T q = 0;
        for (int i = lid; i < n; i += LS) {
            T d = xr[i] - mean;
            q += d * d;
        }
        T var;
        TREE_SUM(scratch, lid, q, var);
        T rstd = (T)1 / sqrt(var / n + eps);
        if (lid == 0) {
            mean_out[row] = mean;
            rstd_out[row] = rstd;
        }
        int p0 = (row % G) * cpg;
        for (int i = lid; i < n; i += LS) {
            int p = p0 + (S == 1 ? i : i / S);
            T v = (xr[i] - mean) * rstd;
            if (has_w) v *= w[woff + p];
            if (has_b) v += b[boff + p];
            yr[i] = v;
        }
    }
#endif
}

/* grad_x of a row: with gw = g * w and xhat = (x - mean) * rstd,
 * gx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat))   (RMS: without the mean(gw) term).
 * flags: HAS_W, RMS. In the CPU layout the same pass also adds the weight / bias gradients when
 * want_params is set: work-item p accumulates the rows it walks into w_part[p * P + j] (sum of
 * g * xhat) and b_part[p * P + j] (sum of g), P = G * n / S; the host adds the partial rows.
 * The GPU layout leaves w_part, b_part, want_params alone (layer_norm_bwd_params does that). */
__kernel void layer_norm_bwd_input(int rows, int n, int G, int S, __global const T* g, int goff,
                                   __global const T* x, int xoff, __global const T* w, int woff,
                                   int flags, __global const T* mean, __global const T* rstd,
                                   __global T* gx, __global T* w_part, __global T* b_part,
                                   int want_params) {
    int has_w = flags & HAS_W, rms = flags & RMS;
    int cpg = n / S;
#if LS == 1
    long P = (long)G * cpg;
    __global T* pw = w_part + get_group_id(0) * P;
    __global T* pb = b_part + get_group_id(0) * P;
    if (want_params) {
        for (long j = 0; j < P; ++j) {
            pw[j] = 0;
            pb[j] = 0;
        }
    }
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* gr = g + goff + (long)row * n;
        __global const T* xr = x + xoff + (long)row * n;
        __global T* out = gx + (long)row * n;
        T mu = mean[row], rs = rstd[row];
        int p0 = (row % G) * cpg;
        T s1 = 0, s2 = 0;
        if (S == 1) {
            gsums_v(gr, xr, w + woff + p0, has_w, n, mu, &s1, &s2);
        } else {
            for (int k = 0; k < cpg; ++k) {
                T sg, sgx;
                gsums_v(gr + k * S, xr + k * S, w, 0, S, mu, &sg, &sgx);
                if (want_params) {
                    pw[p0 + k] += sgx * rs;
                    pb[p0 + k] += sg;
                }
                T wv = has_w ? w[woff + p0 + k] : (T)1;
                s1 += wv * sg;
                s2 += wv * sgx;
            }
        }
        T m1 = rms ? (T)0 : s1 / n;
        T kx = -rs * rs * (s2 * rs / n);     /* gx = rs * gw + kx * (x - mu) - rs * m1 */
        T k0 = -rs * m1;
        if (S == 1) {
            __global const T* wr = w + woff + p0;
            __global T* pwr = pw + p0;
            __global T* pbr = pb + p0;
            int i = 0;
            for (; i + VW <= n; i += VW) {
                TV gv = load_v(gr + i), xc = load_v(xr + i) - mu;
                TV gwv = has_w ? gv * load_v(wr + i) : gv;
                store_v(out + i, rs * gwv + kx * xc + k0);
                if (want_params) {
                    store_v(pwr + i, load_v(pwr + i) + gv * xc * rs);
                    store_v(pbr + i, load_v(pbr + i) + gv);
                }
            }
            for (; i < n; ++i) {
                T gv = gr[i], xc = xr[i] - mu;
                out[i] = rs * (has_w ? gv * wr[i] : gv) + kx * xc + k0;
                if (want_params) {
                    pwr[i] += gv * xc * rs;
                    pbr[i] += gv;
                }
            }
        } else {
            for (int k = 0; k < cpg; ++k) {
                T a = has_w ? rs * w[woff + p0 + k] : rs;
                gx_c_v(gr + k * S, xr + k * S, out + k * S, S, mu, a, kx, k0);
            }
        }
    }
#else
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* gr = g + goff + (long)row * n;
        __global const T* xr = x + xoff + (long)row * n;
        __global T* out = gx + (long)row * n;
        T mu = mean[row], rs = rstd[row];
        int p0 = woff + (row % G) * cpg;
        T s1 = 0, s2 = 0;
        for (int i = lid; i < n; i += LS) {
            T gw = has_w ? gr[i] * w[p0 + (S == 1 ? i : i / S)] : gr[i];
            s1 += gw;
            s2 += gw * (xr[i] - mu);
        }
        T m1, m2;
        TREE_SUM(scratch, lid, s1, m1);
        TREE_SUM(scratch, lid, s2, m2);
        m1 = rms ? (T)0 : m1 / n;
        m2 *= rs / n;     /* mean(gw * xhat) */
        for (int i = lid; i < n; i += LS) {
            T gw = has_w ? gr[i] * w[p0 + (S == 1 ? i : i / S)] : gr[i];
            out[i] = rs * (gw - m1 - (xr[i] - mu) * rs * m2);
        }
    }
#endif
}

#if LS > 1
/* GPU layout: partial weight/bias gradients. Work-item (j, p) sums parameter j's elements over
 * the batch entries [p * chunk, min(rows / G, (p + 1) * chunk)) (batch entry i is row i * G +
 * j / (n / S)); gw_part[p * P + j] = sum g * xhat, gb_part = sum g. The host adds the partial
 * rows (their number is a function of the shape only: deterministic). */
__kernel void layer_norm_bwd_params(int rows, int n, int G, int S, int chunk,
                                    __global const T* g, int goff, __global const T* x, int xoff,
                                    __global const T* mean, __global const T* rstd,
                                    __global T* gw_part, __global T* gb_part) {
    int j = get_global_id(0), p = get_global_id(1);
    int cpg = n / S, P = G * cpg;
    if (j >= P) return;
    int r0 = p * chunk;
    int r1 = min(rows / G, r0 + chunk);
    long col = (long)(j % cpg) * S;
    T sw = 0, sb = 0;
    for (int i = r0; i < r1; ++i) {
        int r = i * G + j / cpg;
        long at = (long)r * n + col;
        T mu = mean[r], rs = rstd[r];
        for (int s = 0; s < S; ++s) {
            T gv = g[goff + at + s];
            sw += gv * (x[xoff + at + s] - mu) * rs;
            sb += gv;
        }
    }
    gw_part[(long)p * P + j] = sw;
    gb_part[(long)p * P + j] = sb;
}

/* Walk the N*S elements of channel c (layout (N, C, S)) with stride LS, without divisions:
 * element j = n * S + s lives at base + n * C * S + s. */
#define FOR_CHANNEL(N, C, S, lid, body)                                     \
    {                                                                       \
        int n_ = (lid) / (S), s_ = (lid) % (S);                             \
        const int dn_ = LS / (S), ds_ = LS % (S);                           \
        const long cs_ = (long)(C) * (S);                                   \
        while (n_ < (N)) {                                                  \
            long at_ = n_ * cs_ + s_;                                       \
            body                                                            \
            n_ += dn_;                                                      \
            s_ += ds_;                                                      \
            if (s_ >= (S)) { s_ -= (S); ++n_; }                             \
        }                                                                   \
    }
#endif

/* ------------------------------------------------------------------ channels (batch norm) */

/* Batch statistics of each channel c: mean and rstd = 1 / sqrt(biased var + eps). Also writes
 * the normalisation as a per-channel affine map y = scale * x + shift (scale = w * rstd,
 * shift = b - mean * scale), and when update_running is set updates the running stats in place:
 * r = (1 - m) * r + m * stat with the unbiased variance, m = momentum, or 1 / count[0] when
 * use_count is set (the cumulative average: count is num_batches_tracked, already incremented).
 * flags: HAS_W, HAS_B. The CPU layout walks channel c's N runs of S elements in vectors. */
__kernel void batch_norm_stats(int N, int C, int S, __global const T* x, int xoff, T eps,
                               __global const T* w, int woff, __global const T* b, int boff,
                               int flags, __global T* mean_out, __global T* rstd_out,
                               __global T* scale, __global T* shift, int update_running,
                               __global T* rmean, int rm_off, int rm_stride,
                               __global T* rvar, int rv_off, int rv_stride, T momentum,
                               __global const long* count, int count_off, int use_count) {
    int m = N * S;
    const long cs = (long)C * S;
#if LS > 1
    __local T scratch[LS];
    int lid = get_local_id(0);
#endif
    for (int c = get_group_id(0); c < C; c += get_num_groups(0)) {
        __global const T* xc = x + xoff + (long)c * S;
        T mean, var;
#if LS == 1
        T s = 0;
        for (int i = 0; i < N; ++i) s += sum_v(xc + i * cs, S);
        mean = s / m;
        T q = 0;
        for (int i = 0; i < N; ++i) q += sqdev_v(xc + i * cs, S, mean);
        var = q / m;
        {
#else
        T s = 0;
        FOR_CHANNEL(N, C, S, lid, s += xc[at_];)
        TREE_SUM(scratch, lid, s, mean);
        mean /= m;
        T q = 0;
        FOR_CHANNEL(N, C, S, lid, { T d = xc[at_] - mean; q += d * d; })
        TREE_SUM(scratch, lid, q, var);
        var /= m;
        if (lid == 0) {
#endif
            T rstd = (T)1 / sqrt(var + eps);
            T sc = (flags & HAS_W) ? w[woff + c] * rstd : rstd;
            mean_out[c] = mean;
            rstd_out[c] = rstd;
            scale[c] = sc;
            shift[c] = ((flags & HAS_B) ? b[boff + c] : (T)0) - mean * sc;
            if (update_running) {
                T mom = use_count ? (T)1 / (T)count[count_off] : momentum;
                long im = (long)rm_off + (long)c * rm_stride;
                long iv = (long)rv_off + (long)c * rv_stride;
                rmean[im] = ((T)1 - mom) * rmean[im] + mom * mean;
                rvar[iv] = ((T)1 - mom) * rvar[iv] + mom * var * m / (m - 1);
            }
        }
    }
}

/* Evaluation mode: the same affine map from the running statistics (work-item per channel). */
__kernel void batch_norm_eval_coefs(int C, __global const T* rmean, int rm_off, int rm_stride,
                                    __global const T* rvar, int rv_off, int rv_stride, T eps,
                                    __global const T* w, int woff, __global const T* b, int boff,
                                    int flags, __global T* mean_out, __global T* rstd_out,
                                    __global T* scale, __global T* shift) {
    int c = get_global_id(0);
    if (c >= C) return;
    T mean = rmean[rm_off + (long)c * rm_stride];
    T rstd = (T)1 / sqrt(rvar[rv_off + (long)c * rv_stride] + eps);
    T sc = (flags & HAS_W) ? w[woff + c] * rstd : rstd;
    mean_out[c] = mean;
    rstd_out[c] = rstd;
    scale[c] = sc;
    shift[c] = ((flags & HAS_B) ? b[boff + c] : (T)0) - mean * sc;
}

/* out = a[c] * x + (has_g ? k[c] * g : 0) + d[c] over (N, C, S), c = (i / S) % C: the forward
 * normalisation (a = scale, d = shift) and the backward's grad_input (an affine map of g and x
 * per channel, coefficients from batch_norm_bwd_reduce). GPU layout: a work-item per element;
 * CPU layout: a work-item per run of S elements (one (n, c)), looping over runs, in vectors. */
__kernel void channel_affine(int total, int S, int C, __global const T* x, int xoff,
                             __global const T* g, int goff, int has_g, __global const T* a,
                             __global const T* k, __global const T* d, __global T* out) {
#if LS == 1
    int runs = total / S;
    for (int r = get_group_id(0); r < runs; r += get_num_groups(0)) {
        int c = r % C;
        long at = (long)r * S;
        __global const T* xr = x + xoff + at;
        __global const T* gr = g + goff + at;
        __global T* o = out + at;
        T av = a[c], dv = d[c], kv = has_g ? k[c] : (T)0;
        int i = 0;
        if (has_g) {
            for (; i + VW <= S; i += VW)
                store_v(o + i, av * load_v(xr + i) + kv * load_v(gr + i) + dv);
        } else {
            for (; i + VW <= S; i += VW) store_v(o + i, av * load_v(xr + i) + dv);
        }
        for (; i < S; ++i) o[i] = av * xr[i] + kv * (has_g ? gr[i] : (T)0) + dv;
    }
#else
    int i = get_global_id(0);
    if (i >= total) return;
    int c = (i / S) % C;
    T v = a[c] * x[xoff + i] + d[c];
    if (has_g) v += k[c] * g[goff + i];
    out[i] = v;
#endif
}

/* Backward sums of each channel c: sum g and sum g * xhat give grad_bias and grad_weight; then
 * grad_x = kg * g + kx * x + k0 per channel. Training (batch statistics):
 *   grad_x = w * rstd * (g - sum_g / m - xhat * sum_gxhat / m);
 * evaluation (constant running statistics): grad_x = w * rstd * g. */
__kernel void batch_norm_bwd_reduce(int N, int C, int S, __global const T* g, int goff,
                                    __global const T* x, int xoff, __global const T* mean,
                                    __global const T* rstd, __global const T* w, int woff,
                                    int has_w, int training, __global T* grad_w,
                                    __global T* grad_b, __global T* kg, __global T* kx,
                                    __global T* k0) {
    T m = (T)N * S;
    const long cs = (long)C * S;
#if LS > 1
    __local T scratch[LS];
    int lid = get_local_id(0);
#endif
    for (int c = get_group_id(0); c < C; c += get_num_groups(0)) {
        __global const T* xc = x + xoff + (long)c * S;
        __global const T* gc = g + goff + (long)c * S;
        T mu = mean[c];
        T sg = 0, sgx = 0;
#if LS == 1
        for (int i = 0; i < N; ++i) {
            T a, b2;
            gsums_v(gc + i * cs, xc + i * cs, w, 0, S, mu, &a, &b2);
            sg += a;
            sgx += b2;
        }
        {
#else
        FOR_CHANNEL(N, C, S, lid, { T gv = gc[at_]; sg += gv; sgx += gv * (xc[at_] - mu); })
        TREE_SUM(scratch, lid, sg, sg);
        TREE_SUM(scratch, lid, sgx, sgx);
        if (lid == 0) {
#endif
            T rs = rstd[c];
            T sgxhat = sgx * rs;
            T wv = has_w ? w[woff + c] : (T)1;
            grad_w[c] = sgxhat;
            grad_b[c] = sg;
            T a = wv * rs;
            kg[c] = a;
            if (training) {
                T b2 = -a * rs * sgxhat / m;
                kx[c] = b2;
                k0[c] = -a * sg / m - b2 * mu;
            } else {
                kx[c] = 0;
                k0[c] = 0;
            }
        }
    }
}
