/* Normalisation family: layer norm over contiguous rows (also the core of group norm) and batch
 * norm over channels, forward and fused backward. Build with -DT=float|double.
 *
 * Row kernels: one work-group of LS work-items per row; each work-item strides over the row and
 * a tree in local memory combines the partial sums. Channel kernels (batch norm): one work-group
 * per channel c of an input laid out (N, C, S); the work-group walks the channel's N*S elements.
 * Statistics use two passes (mean, then the sum of squared deviations) for accuracy.
 * Every size works: LS is fixed by the host and loops run to any length. A work-group past the
 * last row / channel runs its loops zero times instead of returning early: PoCL 3.0 corrupts
 * memory when a work-group returns before the barriers of a local-memory tree.
 */
#include "common.h"

#ifndef LS
#define LS 64
#endif

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

/* ------------------------------------------------------------------ rows (layer / group norm) */

/* y = (x - mean) * rstd [* w] [+ b] per row of n elements; saves mean and rstd per row.
 * flags: bit 0 = has weight, bit 1 = has bias (w, b have n elements). */
__kernel void layer_norm_fwd(int rows, int n, __global const T* x, int xoff,
                             __global const T* w, int woff, __global const T* b, int boff,
                             int flags, T eps, __global T* y, __global T* mean_out,
                             __global T* rstd_out) {
    __local T scratch[LS];
    int row = get_group_id(0), lid = get_local_id(0);
    if (row >= rows) n = 0;
    __global const T* xr = x + xoff + (long)row * n;
    __global T* yr = y + (long)row * n;
    T s = 0;
    for (int i = lid; i < n; i += LS) s += xr[i];
    T mean;
    TREE_SUM(scratch, lid, s, mean);
    mean /= n;
    T q = 0;
    for (int i = lid; i < n; i += LS) {
        T d = xr[i] - mean;
        q += d * d;
    }
    T var;
    TREE_SUM(scratch, lid, q, var);
    T rstd = (T)1 / sqrt(var / n + eps);
    if (lid == 0 && row < rows) {
        mean_out[row] = mean;
        rstd_out[row] = rstd;
    }
    int has_w = flags & 1, has_b = flags & 2;
    for (int i = lid; i < n; i += LS) {
        T v = (xr[i] - mean) * rstd;
        if (has_w) v *= w[woff + i];
        if (has_b) v += b[boff + i];
        yr[i] = v;
    }
}

/* grad_x of a row: with gw = g * w and xhat = (x - mean) * rstd,
 * gx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)). */
__kernel void layer_norm_bwd_input(int rows, int n, __global const T* g, int goff,
                                   __global const T* x, int xoff, __global const T* w, int woff,
                                   int has_w, __global const T* mean, __global const T* rstd,
                                   __global T* gx) {
    __local T scratch[LS];
    int row = get_group_id(0), lid = get_local_id(0);
    if (row >= rows) {
        row = 0;
        n = 0;
    }
    __global const T* gr = g + goff + (long)row * n;
    __global const T* xr = x + xoff + (long)row * n;
    __global T* out = gx + (long)row * n;
    T mu = mean[row], rs = rstd[row];
    T s1 = 0, s2 = 0;
    for (int i = lid; i < n; i += LS) {
        T gw = has_w ? gr[i] * w[woff + i] : gr[i];
        s1 += gw;
        s2 += gw * (xr[i] - mu);
    }
    T m1, m2;
    TREE_SUM(scratch, lid, s1, m1);
    TREE_SUM(scratch, lid, s2, m2);
    m1 /= n;
    m2 *= rs / n;     /* mean(gw * xhat) */
    for (int i = lid; i < n; i += LS) {
        T gw = has_w ? gr[i] * w[woff + i] : gr[i];
        out[i] = rs * (gw - m1 - (xr[i] - mu) * rs * m2);
    }
}

/* Partial weight/bias gradients: work-item (j, p) sums column j over rows
 * [p * chunk, min(rows, (p + 1) * chunk)); gw_part[p * n + j] = sum g * xhat, gb_part = sum g.
 * The host adds the P partial rows (P is a function of the shape only: deterministic). */
__kernel void layer_norm_bwd_params(int rows, int n, int chunk, __global const T* g, int goff,
                                    __global const T* x, int xoff, __global const T* mean,
                                    __global const T* rstd, __global T* gw_part,
                                    __global T* gb_part) {
    int j = get_global_id(0), p = get_global_id(1);
    if (j >= n) return;
    int r0 = p * chunk;
    int r1 = min(rows, r0 + chunk);
    T sw = 0, sb = 0;
    for (int r = r0; r < r1; ++r) {
        T gv = g[goff + (long)r * n + j];
        sw += gv * (x[xoff + (long)r * n + j] - mean[r]) * rstd[r];
        sb += gv;
    }
    gw_part[(long)p * n + j] = sw;
    gb_part[(long)p * n + j] = sb;
}

/* ------------------------------------------------------------------ channels (batch norm) */

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

/* Batch statistics of channel c: mean and rstd = 1 / sqrt(biased var + eps). Also writes the
 * normalisation as a per-channel affine map y = scale * x + shift (scale = w * rstd,
 * shift = b - mean * scale), and when update_running is set updates the running stats in place:
 * r = (1 - m) * r + m * stat with the unbiased variance, m = momentum, or 1 / count[0] when
 * use_count is set (the cumulative average: count is num_batches_tracked, already incremented).
 * flags: bit 0 = has weight, bit 1 = has bias. */
__kernel void batch_norm_stats(int N, int C, int S, __global const T* x, int xoff, T eps,
                               __global const T* w, int woff, __global const T* b, int boff,
                               int flags, __global T* mean_out, __global T* rstd_out,
                               __global T* scale, __global T* shift, int update_running,
                               __global T* rmean, int rm_off, int rm_stride,
                               __global T* rvar, int rv_off, int rv_stride, T momentum,
                               __global const long* count, int count_off, int use_count) {
    __local T scratch[LS];
    int c = get_group_id(0), lid = get_local_id(0);
    int m = N * S;
    if (c >= C) N = 0;
    __global const T* xc = x + xoff + (long)c * S;
    T s = 0;
    FOR_CHANNEL(N, C, S, lid, s += xc[at_];)
    T mean;
    TREE_SUM(scratch, lid, s, mean);
    mean /= m;
    T q = 0;
    FOR_CHANNEL(N, C, S, lid, { T d = xc[at_] - mean; q += d * d; })
    T var;
    TREE_SUM(scratch, lid, q, var);
    var /= m;
    if (lid == 0 && c < C) {
        T rstd = (T)1 / sqrt(var + eps);
        T sc = (flags & 1) ? w[woff + c] * rstd : rstd;
        mean_out[c] = mean;
        rstd_out[c] = rstd;
        scale[c] = sc;
        shift[c] = ((flags & 2) ? b[boff + c] : (T)0) - mean * sc;
        if (update_running) {
            T mom = use_count ? (T)1 / (T)count[count_off] : momentum;
            long im = (long)rm_off + (long)c * rm_stride, iv = (long)rv_off + (long)c * rv_stride;
            rmean[im] = ((T)1 - mom) * rmean[im] + mom * mean;
            rvar[iv] = ((T)1 - mom) * rvar[iv] + mom * var * m / (m - 1);
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
    T sc = (flags & 1) ? w[woff + c] * rstd : rstd;
    mean_out[c] = mean;
    rstd_out[c] = rstd;
    scale[c] = sc;
    shift[c] = ((flags & 2) ? b[boff + c] : (T)0) - mean * sc;
}

/* out = a[c] * x + (has_g ? k[c] * g : 0) + d[c] over (N, C, S), c = (i / S) % C: the forward
 * normalisation (a = scale, d = shift) and the backward's grad_input (an affine map of g and x
 * per channel, coefficients from batch_norm_bwd_reduce). */
__kernel void channel_affine(int total, int S, int C, __global const T* x, int xoff,
                             __global const T* g, int goff, int has_g, __global const T* a,
                             __global const T* k, __global const T* d, __global T* out) {
    int i = get_global_id(0);
    if (i >= total) return;
    int c = (i / S) % C;
    T v = a[c] * x[xoff + i] + d[c];
    if (has_g) v += k[c] * g[goff + i];
    out[i] = v;
}

/* Backward sums of channel c: sum g and sum g * xhat give grad_bias and grad_weight; then
 * grad_x = kg * g + kx * x + k0 per channel. Training (batch statistics):
 *   grad_x = w * rstd * (g - sum_g / m - xhat * sum_gxhat / m);
 * evaluation (constant running statistics): grad_x = w * rstd * g. */
__kernel void batch_norm_bwd_reduce(int N, int C, int S, __global const T* g, int goff,
                                    __global const T* x, int xoff, __global const T* mean,
                                    __global const T* rstd, __global const T* w, int woff,
                                    int has_w, int training, __global T* grad_w,
                                    __global T* grad_b, __global T* kg, __global T* kx,
                                    __global T* k0) {
    __local T scratch[LS];
    int c = get_group_id(0), lid = get_local_id(0);
    T m = (T)N * S;
    if (c >= C) {
        c = 0;
        N = 0;
    }
    __global const T* xc = x + xoff + (long)c * S;
    __global const T* gc = g + goff + (long)c * S;
    T mu = mean[c];
    T sg = 0, sgx = 0;
    FOR_CHANNEL(N, C, S, lid, { T gv = gc[at_]; sg += gv; sgx += gv * (xc[at_] - mu); })
    TREE_SUM(scratch, lid, sg, sg);
    TREE_SUM(scratch, lid, sgx, sgx);
    if (lid == 0 && N) {
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
