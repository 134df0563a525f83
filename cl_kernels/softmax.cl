/* Softmax family: softmax / log-softmax over rows, their backward, and fused cross-entropy and
 * NLL over rows (classes contiguous in each row). Build with -DT=float|double, -DLS and -DVW.
 *
 * Two layouts, chosen by the host per device:
 *   LS > 1  (GPUs): one work-group of LS work-items per row; each work-item strides over the
 *           row, then a tree in local memory combines the partial max and sum.
 *   LS == 1 (CPU drivers): one work-item per row, walking it in VW-wide vectors (vector.h: on
 *           PoCL a scalar exp is a library call that blocks vectorisation, ~8x slower).
 * Rows of any length. Work-groups loop over rows (row += number of groups) instead of returning
 * early: every work-item of a group must reach every barrier, and PoCL miscompiles an early
 * return placed before the barriers of a local-memory reduction. The loops below that make no
 * library calls stay scalar in both layouts (the compiler vectorises them itself), except row
 * sums in the CPU layout: a scalar float sum is a dependent chain the compiler may not reorder,
 * so those run in VW lanes (row_max_lse, row_softmax, row_softmax_bwd).
 */
#ifndef VW
#define VW 4
#endif
#include "vector.h"
#include "error_flag.h"

#ifndef LS
#define LS 64
#endif

/* Combine per-work-item partials in scratch[0..LS) into scratch[0]. */
#define TREE(scratch, lid, combine)                                     \
    for (int s_ = LS / 2; s_ > 0; s_ >>= 1) {                           \
        if ((lid) < s_) {                                               \
            T a_ = scratch[lid], b_ = scratch[(lid) + s_];              \
            scratch[lid] = combine;                                     \
        }                                                               \
        barrier(CLK_LOCAL_MEM_FENCE);                                   \
    }

/* max and log-sum-exp of row xr (length n), shared by the whole work-group */
inline void row_max_lse(__global const T* xr, int n, int lid, __local T* scratch,
                        T* out_max, T* out_lse) {
    T m = -INFINITY;
#if LS == 1
    int v_end = n - n % VW;
    if (v_end) {
        TV mv = (TV)(-INFINITY);
        for (int i = 0; i < v_end; i += VW) mv = fmax(mv, load_v(xr + i));
        m = hmax_v(mv);
    }
    for (int i = v_end; i < n; ++i) m = fmax(m, xr[i]);
#else
    for (int i = lid; i < n; i += LS) m = fmax(m, xr[i]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, lid, fmax(a_, b_))
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    /* a row of -inf has no finite max: use 0 so the row's sum is 0 and lse is -inf; a +inf max
     * stays, so inf - inf makes the row NaN as in torch */
    T shift = m == -INFINITY ? (T)0 : m;
    T s = 0;
#if LS == 1
    if (v_end) {
        TV sv = (TV)(0);
        for (int i = 0; i < v_end; i += VW) sv += exp(load_v(xr + i) - shift);
        s = hsum_v(sv);
    }
    for (int i = v_end; i < n; ++i) s += exp(xr[i] - shift);
#else
    for (int i = lid; i < n; i += LS) s += exp(xr[i] - shift);
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, lid, a_ + b_)
    s = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
#endif
    *out_max = shift;
    *out_lse = shift + log(s);
}

/* out[i] = exp(in[i] - shift) over this work-item's share of a row */
inline void row_exp(__global const T* in, __global T* out, int n, int lid, T shift) {
#if LS == 1
    int i = 0;
    for (; i + VW <= n; i += VW) store_v(out + i, exp(load_v(in + i) - shift));
    for (; i < n; ++i) out[i] = exp(in[i] - shift);
#else
    for (int i = lid; i < n; i += LS) out[i] = exp(in[i] - shift);
#endif
}

#if LS == 1
/* yr = softmax(xr) by one work-item: the max, then exp(x - max) stored and summed in the same
 * pass, then the row divided by its sum while it is still cached. One exp per element instead of
 * row_max_lse's then row_exp's two (the exps are most of the cost: attention's 64-long rows ran
 * ~4x an elementwise exp). A row of -inf gives 0 / 0 = NaN, as torch does. */
inline void row_softmax(__global const T* xr, __global T* yr, int n) {
    int v_end = n - n % VW;
    T m = -INFINITY;
    if (v_end) {
        TV mv = (TV)(-INFINITY);
        for (int i = 0; i < v_end; i += VW) mv = fmax(mv, load_v(xr + i));
        m = hmax_v(mv);
    }
    for (int i = v_end; i < n; ++i) m = fmax(m, xr[i]);
    T shift = m == -INFINITY ? (T)0 : m;
    T s = 0;
    if (v_end) {
        TV sv = (TV)(0);
        for (int i = 0; i < v_end; i += VW) {
            TV e = exp(load_v(xr + i) - shift);
            store_v(yr + i, e);
            sv += e;
        }
        s = hsum_v(sv);
    }
    for (int i = v_end; i < n; ++i) {
        T e = exp(xr[i] - shift);
        yr[i] = e;
        s += e;
    }
    for (int i = 0; i < v_end; i += VW) store_v(yr + i, load_v(yr + i) / s);
    for (int i = v_end; i < n; ++i) yr[i] = yr[i] / s;
}
#endif

__kernel void softmax_fwd(int rows, int n, __global const T* x, int xoff, __global T* y,
                          int yoff, int log_out) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        __global T* yr = y + yoff + (long)row * n;
        T m, lse;
#if LS == 1
        if (!log_out) {
            row_softmax(xr, yr, n);
            continue;
        }
#endif
        row_max_lse(xr, n, lid, scratch, &m, &lse);
        if (log_out) {
            for (int i = lid; i < n; i += LS) yr[i] = xr[i] - lse;
        } else {
            row_exp(xr, yr, n, lid, lse);
        }
    }
}

#if LS == 1
/* the backward below by one work-item: the row's sum (of g * y, or of g for log_softmax) in VW
 * lanes (a scalar float sum is a chain the compiler may not reorder into vectors, one add
 * latency per element: most of the kernel's time on attention's 64-long rows), then the row in
 * vectors */
inline void row_softmax_bwd(__global const T* gr, __global const T* yr, __global T* outr, int n,
                            int log_out) {
    int v_end = n - n % VW;
    T s = 0;
    if (v_end) {
        TV sv = (TV)(0);
        if (log_out)
            for (int i = 0; i < v_end; i += VW) sv += load_v(gr + i);
        else
            for (int i = 0; i < v_end; i += VW) sv += load_v(gr + i) * load_v(yr + i);
        s = hsum_v(sv);
    }
    for (int i = v_end; i < n; ++i) s += log_out ? gr[i] : gr[i] * yr[i];
    if (log_out) {
        for (int i = 0; i < v_end; i += VW)
            store_v(outr + i, load_v(gr + i) - exp(load_v(yr + i)) * s);
        for (int i = v_end; i < n; ++i) outr[i] = gr[i] - exp(yr[i]) * s;
        return;
    }
    for (int i = 0; i < v_end; i += VW)
        store_v(outr + i, load_v(yr + i) * (load_v(gr + i) - s));
    for (int i = v_end; i < n; ++i) outr[i] = yr[i] * (gr[i] - s);
}
#endif

/* softmax:     gx = y * (g - sum(g * y))
 * log_softmax: gx = g - exp(y) * sum(g)                                                    */
__kernel void softmax_bwd(int rows, int n, __global const T* g, int goff, __global const T* y,
                          int yoff, __global T* gx, int gxoff, int log_out) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* gr = g + goff + (long)row * n;
        __global const T* yr = y + yoff + (long)row * n;
        __global T* outr = gx + gxoff + (long)row * n;
#if LS == 1
        row_softmax_bwd(gr, yr, outr, n, log_out);
        continue;
#endif
        T s = 0;
        for (int i = lid; i < n; i += LS) s += log_out ? gr[i] : gr[i] * yr[i];
        scratch[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        TREE(scratch, lid, a_ + b_)
        s = scratch[0];
        if (log_out) {
            row_exp(yr, outr, n, lid, (T)0);       /* outr = exp(y) = softmax, then g - p*s */
            for (int i = lid; i < n; i += LS) outr[i] = gr[i] - outr[i] * s;
        } else {
            for (int i = lid; i < n; i += LS) outr[i] = yr[i] * (gr[i] - s);
        }
    }
}

/* Cross-entropy with class-index targets, fused with the log-softmax.
 * Per row: loss = (1 - eps) * w[t] * (lse - x[t]) + eps / n * sum_c w[c] * (lse - x[c]);
 * rows whose target is ignore_index get loss 0 and weight 0. Also writes the row's weight (for
 * the 'mean' reduction) and its lse (for the backward). Targets outside [0, n) that are not
 * ignore_index give NaN and raise ERR_TARGET_OUT_OF_BOUNDS in the device's error flag, which the
 * host turns into an IndexError at its next read (error_flag.h). */
__kernel void cross_entropy_fwd(int rows, int n, __global const T* x, int xoff,
                                __global const long* target, int toff,
                                __global const T* weight, int woff, int has_weight,
                                int ignore_index, T eps, __global T* loss, __global T* wrow,
                                __global T* lse_out, __global int* error_flag) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    weight += woff;
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        T m, lse;
        row_max_lse(xr, n, lid, scratch, &m, &lse);
        long t = target[toff + row];
        T smooth = 0;
        if (eps != 0) {
            T s = 0;
            for (int i = lid; i < n; i += LS) s += (has_weight ? weight[i] : (T)1) * (lse - xr[i]);
            scratch[lid] = s;
            barrier(CLK_LOCAL_MEM_FENCE);
            TREE(scratch, lid, a_ + b_)
            smooth = scratch[0] / n;
        }
        if (lid == 0) {
            lse_out[row] = lse;
            if (t == ignore_index) {
                loss[row] = 0;
                wrow[row] = 0;
            } else if (t < 0 || t >= n) {
                loss[row] = NAN;
                wrow[row] = NAN;
                raise_error(error_flag, ERR_TARGET_OUT_OF_BOUNDS, t);
            } else {
                T wt = has_weight ? weight[t] : (T)1;
                loss[row] = ((T)1 - eps) * wt * (lse - xr[t]) + eps * smooth;
                wrow[row] = wt;
            }
        }
    }
}

/* d loss_row / d x[row, j] = (1 - eps) * w[t] * (p_j - [j == t]) + eps / n * (p_j * W - w_j),
 * W = sum_c w_c (wsum[0] with class weights, else n), scaled by the row's upstream gradient
 * grow[row * grow_stride]. */
__kernel void cross_entropy_bwd(int rows, int n, __global const T* x, int xoff,
                                __global const long* target, int toff,
                                __global const T* weight, int woff, int has_weight,
                                int ignore_index, T eps, __global const T* wsum, int wsoff,
                                __global const T* lse, __global const T* grow, int goff,
                                int grow_stride, __global T* gx) {
    int lid = get_local_id(0);
    weight += woff;
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        __global T* outr = gx + (long)row * n;
        long t = target[toff + row];
        if (t == ignore_index) {
            for (int i = lid; i < n; i += LS) outr[i] = 0;
            continue;
        }
        T gr = grow[goff + (long)row * grow_stride];
        T l = lse[row];
        T wt = (t >= 0 && t < n) ? (has_weight ? weight[t] : (T)1) : (T)NAN;
        T W = has_weight ? wsum[wsoff] : (T)n;
        /* p = softmax, then the formula in place (the exp loop is the vectorised part) */
        row_exp(xr, outr, n, lid, l);
        for (int i = lid; i < n; i += LS) {
            T p = outr[i];
            T d = ((T)1 - eps) * wt * (p - (i == t ? (T)1 : (T)0));
            if (eps != 0) d += eps / n * (p * W - (has_weight ? weight[i] : (T)1));
            outr[i] = gr * d;
        }
    }
}
