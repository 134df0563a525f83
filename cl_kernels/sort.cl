/* Row sorting: a bitonic network over (key, index) pairs, in local memory where a row fits and
 * with global-memory merge steps where it does not; plus the run detection behind unique().
 *
 * Layout: R rows, each padded to P = the next power of two >= len, in two flat buffers (keys T,
 * original positions int). Pads are the positions >= len and sort after every real element.
 * The order is total: pad flag, then key (NaN largest, as in PyTorch; reversed for descending),
 * then the original position. Ties therefore keep their input order: every sort is stable.
 *
 * Bitonic schedule (global position g of the lower element of a pair, pass (k, j)):
 *   ascending run when k >= P or (g & k) == 0. Rows are P-aligned and k < P stays inside a row,
 *   so one work-group may sort several short rows at once (span = a multiple of P).
 *   sort_local_T        all passes k <= min(P, SORT_CHUNK) in local memory, span elements a group
 *   sort_merge_global_T one pass (k, j) with j >= SORT_CHUNK, one compare-exchange per work-item
 *   sort_merge_local_T  the passes j < SORT_CHUNK of one k, in local memory
 */
#include "common.h"

#ifndef SORT_CHUNK
#define SORT_CHUNK 2048   /* power of two; the host sizes it to the device's local memory */
#endif
#define PAD_INDEX 0x7fffffff

#define ISNAN_uchar(x) 0
#define ISNAN_int(x) 0
#define ISNAN_long(x) 0
#define ISNAN_float(x) isnan(x)
#define ISNAN_double(x) isnan(x)

/* index of the lower element of compare-exchange t in a pass with distance j (a power of 2) */
inline int pair_low(int t, int j) { return ((t & ~(j - 1)) << 1) | (t & (j - 1)); }

#define SORT_KERNELS(T)                                                                     \
/* true when (ka, ia) comes before (kb, ib) in the final order */                           \
inline bool before_##T(T ka, int ia, T kb, int ib, int len, int desc) {                     \
    bool pa = ia >= len, pb = ib >= len;                                                    \
    if (pa || pb) return (pa && pb) ? ia < ib : pb;                                         \
    bool na = ISNAN_##T(ka), nb = ISNAN_##T(kb);                                            \
    if (na || nb) return (na && nb) ? ia < ib : (desc ? na : nb);                           \
    if (ka != kb) return desc ? ka > kb : ka < kb;                                          \
    return ia < ib;                                                                         \
}                                                                                           \
                                                                                            \
inline void local_pass_##T(__local T* K, __local int* I, int span, int base, int k, int j,   \
                           int P, int len, int desc) {                                      \
    for (int t = get_local_id(0); t < span / 2; t += get_local_size(0)) {                   \
        int lo = pair_low(t, j), hi = lo + j;                                               \
        bool asc = k >= P || ((base + lo) & k) == 0;                                        \
        T a = K[lo], b = K[hi];                                                             \
        int ia = I[lo], ib = I[hi];                                                         \
        if (before_##T(b, ib, a, ia, len, desc) == asc) {                                   \
            K[lo] = b; K[hi] = a; I[lo] = ib; I[hi] = ia;                                   \
        }                                                                                   \
    }                                                                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \
}                                                                                           \
                                                                                            \
inline void load_chunk_##T(__local T* K, __local int* I, __global const T* keys,            \
                           __global const int* idx, int base, int span, int total) {        \
    for (int t = get_local_id(0); t < span; t += get_local_size(0)) {                       \
        int g = base + t;                                                                   \
        if (g < total) { K[t] = keys[g]; I[t] = idx[g]; }                                   \
        else { K[t] = (T)0; I[t] = PAD_INDEX; }                                             \
    }                                                                                       \
    barrier(CLK_LOCAL_MEM_FENCE);                                                           \
}                                                                                           \
                                                                                            \
inline void store_chunk_##T(__local T* K, __local int* I, __global T* keys,                 \
                            __global int* idx, int base, int span, int total) {             \
    for (int t = get_local_id(0); t < span; t += get_local_size(0)) {                       \
        int g = base + t;                                                                   \
        if (g < total) { keys[g] = K[t]; idx[g] = I[t]; }                                   \
    }                                                                                       \
}                                                                                           \
                                                                                            \
/* keys/idx (R x P) from contiguous rows src (R x len) */                                   \
__kernel void sort_init_##T(int total, __global const T* src, int soff, int len, int P,     \
                            __global T* keys, __global int* idx) {                          \
    int g = get_global_id(0);                                                               \
    if (g >= total) return;                                                                 \
    int row = g / P, p = g % P;                                                             \
    keys[g] = p < len ? src[soff + row * len + p] : (T)0;                                   \
    idx[g] = p;                                                                             \
}                                                                                           \
                                                                                            \
__kernel void sort_local_##T(int total, __global T* keys, __global int* idx, int len,       \
                             int P, int desc, int span) {                                   \
    __local T K[SORT_CHUNK];                                                                \
    __local int I[SORT_CHUNK];                                                              \
    int base = get_group_id(0) * span;                                                      \
    load_chunk_##T(K, I, keys, idx, base, span, total);                                     \
    int kmax = min(P, span);                                                                \
    for (int k = 2; k <= kmax; k <<= 1)                                                     \
        for (int j = k >> 1; j > 0; j >>= 1)                                                \
            local_pass_##T(K, I, span, base, k, j, P, len, desc);                           \
    store_chunk_##T(K, I, keys, idx, base, span, total);                                    \
}                                                                                           \
                                                                                            \
__kernel void sort_merge_local_##T(int total, __global T* keys, __global int* idx, int len, \
                                   int P, int desc, int k) {                                \
    __local T K[SORT_CHUNK];                                                                \
    __local int I[SORT_CHUNK];                                                              \
    int base = get_group_id(0) * SORT_CHUNK;                                                \
    load_chunk_##T(K, I, keys, idx, base, SORT_CHUNK, total);                               \
    for (int j = SORT_CHUNK >> 1; j > 0; j >>= 1)                                           \
        local_pass_##T(K, I, SORT_CHUNK, base, k, j, P, len, desc);                         \
    store_chunk_##T(K, I, keys, idx, base, SORT_CHUNK, total);                              \
}                                                                                           \
                                                                                            \
__kernel void sort_merge_global_##T(int npairs, __global T* keys, __global int* idx,        \
                                    int len, int P, int desc, int k, int j) {               \
    int t = get_global_id(0);                                                               \
    if (t >= npairs) return;                                                                \
    int lo = pair_low(t, j), hi = lo + j;                                                   \
    bool asc = k >= P || (lo & k) == 0;                                                     \
    T a = keys[lo], b = keys[hi];                                                           \
    int ia = idx[lo], ib = idx[hi];                                                         \
    if (before_##T(b, ib, a, ia, len, desc) == asc) {                                       \
        keys[lo] = b; keys[hi] = a; idx[lo] = ib; idx[hi] = ia;                             \
    }                                                                                       \
}                                                                                           \
                                                                                            \
/* the first out_len of each padded row -> values (R x out_len) and int64 indices */        \
__kernel void sort_finish_##T(int n, __global const T* keys, __global const int* idx,       \
                              int out_len, int P, __global T* vals, __global long* inds) {  \
    int g = get_global_id(0);                                                               \
    if (g >= n) return;                                                                     \
    int src = (g / out_len) * P + g % out_len;                                              \
    vals[g] = keys[src];                                                                    \
    inds[g] = idx[src];                                                                     \
}                                                                                           \
                                                                                            \
/* unique(): flags[i] = 1 where sorted[i] starts a run of equal values (NaNs never equal) */ \
__kernel void run_starts_##T(int n, __global const T* sorted, __global uchar* flags) {     \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    flags[i] = i == 0 || sorted[i] != sorted[i - 1];                                        \
}

SORT_KERNELS(uchar)
SORT_KERNELS(int)
SORT_KERNELS(long)
SORT_KERNELS(float)
#ifdef HAS_FP64
SORT_KERNELS(double)
#endif

/* unique(): run r covers sorted positions [starts[r], starts[r+1]) (n for the last run); writes
 * counts[r] and, through the sort permutation perm, inverse[perm[i]] = r. */
__kernel void run_stats(int nruns, int n, __global const int* starts, __global const long* perm,
                        __global long* inverse, __global long* counts) {
    int r = get_global_id(0);
    if (r >= nruns) return;
    int start = starts[r], stop = r + 1 < nruns ? starts[r + 1] : n;
    counts[r] = stop - start;
    for (int i = start; i < stop; ++i) inverse[perm[i]] = r;
}
