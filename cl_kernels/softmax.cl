/* Softmax family: softmax / log-softmax over rows, their backward, and fused cross-entropy and
 * NLL over rows (classes contiguous in each row). Build with -DT=float|double.
 *
 * One work-group of LS work-items per row: each work-item strides over the row, then a tree in
 * local memory combines the partial max and sum. Rows of any length; LS is fixed by the host.
 * Work-groups loop over rows (row += number of groups) instead of returning early: every
 * work-item of a group must reach every barrier, and PoCL miscompiles an early return placed
 * before the barriers of a local-memory reduction.
 */
#include "common.h"

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
    for (int i = lid; i < n; i += LS) m = fmax(m, xr[i]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, lid, fmax(a_, b_))
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    /* a row of -inf has no finite max: use 0 so the row's sum is 0 and lse is -inf */
    T shift = isinf(m) ? (T)0 : m;
    T s = 0;
    for (int i = lid; i < n; i += LS) s += exp(xr[i] - shift);
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, lid, a_ + b_)
    s = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    *out_max = shift;
    *out_lse = shift + log(s);
}

__kernel void softmax_fwd(int rows, int n, __global const T* x, int xoff, __global T* y,
                          int log_out) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + xoff + (long)row * n;
        __global T* yr = y + (long)row * n;
        T m, lse;
        row_max_lse(xr, n, lid, scratch, &m, &lse);
        if (log_out) {
            for (int i = lid; i < n; i += LS) yr[i] = xr[i] - lse;
        } else {
            for (int i = lid; i < n; i += LS) yr[i] = exp(xr[i] - lse);
        }
    }
}

/* softmax:     gx = y * (g - sum(g * y))
 * log_softmax: gx = g - exp(y) * sum(g)                                                    */
__kernel void softmax_bwd(int rows, int n, __global const T* g, __global const T* y,
                          __global T* gx, int log_out) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* gr = g + (long)row * n;
        __global const T* yr = y + (long)row * n;
        __global T* outr = gx + (long)row * n;
        T s = 0;
        for (int i = lid; i < n; i += LS) s += log_out ? gr[i] : gr[i] * yr[i];
        scratch[lid] = s;
        barrier(CLK_LOCAL_MEM_FENCE);
        TREE(scratch, lid, a_ + b_)
        s = scratch[0];
        if (log_out) {
            for (int i = lid; i < n; i += LS) outr[i] = gr[i] - exp(yr[i]) * s;
        } else {
            for (int i = lid; i < n; i += LS) outr[i] = yr[i] * (gr[i] - s);
        }
    }
}

/* Cross-entropy with class-index targets, fused with the log-softmax.
 * Per row: loss = (1 - eps) * w[t] * (lse - x[t]) + eps / n * sum_c w[c] * (lse - x[c]);
 * rows whose target is ignore_index get loss 0 and weight 0. Also writes the row's weight (for
 * the 'mean' reduction) and its lse (for the backward). Targets outside [0, n) that are not
 * ignore_index give NaN (a kernel cannot raise; the host validates host-made targets). */
__kernel void cross_entropy_fwd(int rows, int n, __global const T* x, __global const long* target,
                                __global const T* weight, int has_weight, int ignore_index,
                                T eps, __global T* loss, __global T* wrow, __global T* lse_out) {
    __local T scratch[LS];
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + (long)row * n;
        T m, lse;
        row_max_lse(xr, n, lid, scratch, &m, &lse);
        long t = target[row];
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
__kernel void cross_entropy_bwd(int rows, int n, __global const T* x, __global const long* target,
                                __global const T* weight, int has_weight, int ignore_index, T eps,
                                __global const T* wsum, __global const T* lse, __global const T* grow,
                                int grow_stride, __global T* gx) {
    int lid = get_local_id(0);
    for (int row = get_group_id(0); row < rows; row += get_num_groups(0)) {
        __global const T* xr = x + (long)row * n;
        __global T* outr = gx + (long)row * n;
        long t = target[row];
        if (t == ignore_index) {
            for (int i = lid; i < n; i += LS) outr[i] = 0;
            continue;
        }
        T gr = grow[(long)row * grow_stride];
        T l = lse[row];
        T wt = (t >= 0 && t < n) ? (has_weight ? weight[t] : (T)1) : (T)NAN;
        T W = has_weight ? wsum[0] : (T)n;
        for (int i = lid; i < n; i += LS) {
            T p = exp(xr[i] - l);
            T d = ((T)1 - eps) * wt * (p - (i == t ? (T)1 : (T)0));
            if (eps != 0) d += eps / n * (p * W - (has_weight ? weight[i] : (T)1));
            outr[i] = gr * d;
        }
    }
}
