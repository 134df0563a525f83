/* Embedding family: the weight gradient of an embedding lookup and max_norm renormalisation,
 * both driven by the looked-up indices sorted stably (clnet's sort: `sorted` values and their
 * original positions `perm`). Equal indices then form runs, so every weight row is owned by the
 * first work-item of its run: no atomics, and contributions are added in their original order
 * (the same bits on every run). Build with -DT=float|double; kernels per index type I.
 *
 * Indices outside [0, vocab) (possible in device-made index tensors, which are not checked on
 * the host) are skipped, as the lookup itself reads 0 for them.
 */
#include "common.h"

/* grad_weight[v, j] = sum of g[perm[q], j] over the run of v (divided by the run's length with
 * scale_by_freq); rows never looked up and the padding row are left as the host filled them
 * (zeros). One work-item per (column j, sorted position k); only run starts do work. */
#define EMBEDDING_BWD(I)                                                                  \
__kernel void embedding_bwd_##I(int n, int d, int vocab, __global const I* sorted,       \
                                __global const long* perm, __global const T* g, int goff, \
                                int padding_idx, int scale_by_freq, __global T* gw) {      \
    int j = get_global_id(0), k = get_global_id(1);                                       \
    if (j >= d || k >= n) return;                                                         \
    I v = sorted[k];                                                                      \
    if (k > 0 && sorted[k - 1] == v) return;                                              \
    if (v < 0 || v >= vocab || v == padding_idx) return;                                  \
    T acc = 0;                                                                            \
    int q = k;                                                                            \
    for (; q < n && sorted[q] == v; ++q) acc += g[goff + perm[q] * d + j];                \
    gw[(long)v * d + j] = scale_by_freq ? acc / (T)(q - k) : acc;                         \
}

/* max_norm: each looked-up row of w whose norm_type-norm exceeds max_norm is scaled to
 * max_norm / (norm + 1e-7) in place (PyTorch's embedding_renorm_). One work-item per sorted
 * position; run starts do the row. norm_type 0 counts non-zeros; INFINITY is the max norm. */
#define EMBEDDING_RENORM(I)                                                               \
__kernel void embedding_renorm_##I(int n, int d, int vocab, __global const I* sorted,    \
                                   __global T* w, int woff, int wrow, int wcol,           \
                                   T max_norm, T norm_type) {                             \
    int k = get_global_id(0);                                                             \
    if (k >= n) return;                                                                   \
    I v = sorted[k];                                                                      \
    if (k > 0 && sorted[k - 1] == v) return;                                              \
    if (v < 0 || v >= vocab) return;                                                      \
    __global T* row = w + woff + (long)v * wrow;                                          \
    T norm = 0;                                                                           \
    if (norm_type == (T)2) {                                                              \
        for (int j = 0; j < d; ++j) norm += row[(long)j * wcol] * row[(long)j * wcol];   \
        norm = sqrt(norm);                                                                \
    } else if (norm_type == (T)1) {                                                       \
        for (int j = 0; j < d; ++j) norm += fabs(row[(long)j * wcol]);                   \
    } else if (isinf(norm_type)) {                                                        \
        for (int j = 0; j < d; ++j) norm = fmax(norm, fabs(row[(long)j * wcol]));        \
    } else if (norm_type == (T)0) {                                                       \
        for (int j = 0; j < d; ++j) norm += row[(long)j * wcol] != (T)0 ? (T)1 : (T)0;   \
    } else {                                                                              \
        for (int j = 0; j < d; ++j) norm += pow(fabs(row[(long)j * wcol]), norm_type);   \
        norm = pow(norm, (T)1 / norm_type);                                               \
    }                                                                                     \
    if (norm > max_norm) {                                                                \
        T scale = max_norm / (norm + (T)1e-7);                                            \
        for (int j = 0; j < d; ++j) row[(long)j * wcol] *= scale;                         \
    }                                                                                     \
}

EMBEDDING_BWD(int)
EMBEDDING_BWD(long)
EMBEDDING_RENORM(int)
EMBEDDING_RENORM(long)
