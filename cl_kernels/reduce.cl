/* Reductions: sum, prod, max/min, norms, var/std, logsumexp, all/any, count_nonzero, argmax/argmin.
 *
 * Built once per input dtype: the host passes exactly one of -DDT_float, -DDT_double, -DDT_int,
 * -DDT_long, -DDT_uchar (bool). Each op's kernels come from reduce_template.h (see there for the
 * (outer, R, inner) addressing every kernel shares and the cols / colsv / rows layouts); the
 * index-returning argmax/argmin kernels are written out below.
 *
 * Float ops accumulate in the input type (like PyTorch); the accuracy comes from the summation
 * order: many independent lanes and accumulators, then pairwise folds and a tree/second pass.
 * Integer and bool sums/products accumulate in long (PyTorch returns int64 for them).
 * max/min propagate NaN; argmax/argmin treat NaN as the extreme value and return the first
 * occurrence on ties, as PyTorch does.
 */
#include "common.h"

/* Builtins (fabs, exp, pow, convert_*) are never called on 512-bit vectors: on x86 without
 * AVX-512 such calls change the ABI, and PoCL then loads programs from its kernel cache with no
 * kernels at all. They are applied to 256-bit halves instead, or replaced by bit operations. */

/* PA: type of the host's scalar arguments to post transforms (1/N for mean: keep precision) */
#ifdef HAS_FP64
#define PA double
#else
#define PA float
#endif

/* 16 lanes to long16 in 256-bit quarters */
#define WIDEN16(v) ((long16)(convert_long4((v).s0123), convert_long4((v).s4567),    \
                             convert_long4((v).s89ab), convert_long4((v).scdef)))

#if defined(DT_float)
#define T float
#define VW 16
#define IS_FLOAT 1
#define T_LOWEST (-INFINITY)
#define T_HIGHEST INFINITY
#define ABSV(v) as_float16(as_uint16(v) & 0x7fffffffu)
#define EXPV(v) ((float16)(exp((v).lo), exp((v).hi)))
#define POWV(v, e) ((float16)(pow((v).lo, (float8)(e)), pow((v).hi, (float8)(e))))
#elif defined(DT_double)
#define T double
#define VW 8
#define IS_FLOAT 1
#define T_LOWEST (-INFINITY)
#define T_HIGHEST INFINITY
#define ABSV(v) as_double8(as_ulong8(v) & 0x7fffffffffffffffUL)
#define EXPV(v) ((double8)(exp((v).lo), exp((v).hi)))
#define POWV(v, e) ((double8)(pow((v).lo, (double4)(e)), pow((v).hi, (double4)(e))))
#elif defined(DT_int)
#define T int
#define VW 16
#define IS_FLOAT 0
#define T_LOWEST INT_MIN
#define T_HIGHEST INT_MAX
#define SUMV(v) WIDEN16(v)
#elif defined(DT_long)
#define T long
#define VW 8
#define IS_FLOAT 0
#define T_LOWEST LONG_MIN
#define T_HIGHEST LONG_MAX
#define SUMV(v) (v)
#elif defined(DT_uchar)
#define T uchar
#define VW 16
#define IS_FLOAT 0
#define T_LOWEST 0
#define T_HIGHEST 255
#define SUMV(v) WIDEN16(v)
#else
#error "reduce.cl needs one of -DDT_float -DDT_double -DDT_int -DDT_long -DDT_uchar"
#endif

#if IS_FLOAT
#define SUMACC T
#define SUMV(v) (v)
#define ISNAN(x) ((x) != (x))
/* NaN-propagating max/min, for scalars and vectors (a vector condition selects per lane);
   a != a tests NaN without a builtin call (builtins on vectors are calls in PoCL) */
#define MAX_NAN(a, b) ((((a) > (b)) || ((a) != (a))) ? (a) : (b))
#define MIN_NAN(a, b) ((((a) < (b)) || ((a) != (a))) ? (a) : (b))
#else
#define SUMACC long
#define ISNAN(x) 0
#define MAX_NAN(a, b) (((a) > (b)) ? (a) : (b))
#define MIN_NAN(a, b) (((a) < (b)) ? (a) : (b))
#endif

#define ADD(a, b) ((a) + (b))
#define MUL(a, b) ((a) * (b))
#define AND(a, b) ((a) & (b))
#define OR(a, b) ((a) | (b))

/* ---- sum (also mean), prod: long accumulators for integer inputs ---------------------------- */
#define NAME r_sum
#define ACC SUMACC
#define ACC_FLOAT IS_FLOAT
#define OVW VW
#define IDENT ((SUMACC)0)
#define COMB ADD
#define LOAD_S(x) ((SUMACC)(x))
#define LOAD_V(v) SUMV(v)
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB

#define NAME r_prod
#define IDENT ((SUMACC)1)
#define COMB MUL
#include "reduce_template.h"
#undef NAME
#undef ACC
#undef ACC_FLOAT
#undef IDENT
#undef COMB
#undef LOAD_S
#undef LOAD_V

/* ---- max, min (amax/amin/max()/min() without dim) ------------------------------------------ */
#define NAME r_max
#define ACC T
#define ACC_FLOAT IS_FLOAT
#define IDENT T_LOWEST
#define COMB MAX_NAN
#define LOAD_S(x) (x)
#define LOAD_V(v) (v)
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB

#define NAME r_min
#define IDENT T_HIGHEST
#define COMB MIN_NAN
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB
#undef LOAD_S
#undef LOAD_V
#undef OVW

/* ---- count_nonzero, all, any: scalar loads (cheap ops, not on a hot path) ------------------ */
#define OVW 1
#define NAME r_count
#undef ACC
#undef ACC_FLOAT
#define ACC long
#define ACC_FLOAT 0
#define IDENT 0L
#define COMB ADD
#define LOAD_S(x) ((long)((x) != 0))
#include "reduce_template.h"
#undef NAME
#undef ACC
#undef IDENT
#undef COMB

#define ACC uchar
#define NAME r_all
#define IDENT ((uchar)1)
#define COMB AND
#undef LOAD_S
#define LOAD_S(x) ((uchar)((x) != 0))
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB

#define NAME r_any
#define IDENT ((uchar)0)
#define COMB OR
#include "reduce_template.h"
#undef NAME
#undef ACC
#undef ACC_FLOAT
#undef IDENT
#undef COMB
#undef LOAD_S
#undef OVW

/* ---- float-only maps: norms, var/std, logsumexp ------------------------------------------- */
#if IS_FLOAT
#define OVW VW
#define ACC T
#define ACC_FLOAT 1
#define COMB ADD
#define IDENT ((T)0)

#define NAME r_sumabs                              /* 1-norm */
#define LOAD_S(x) fabs(x)
#define LOAD_V(v) ABSV(v)
#include "reduce_template.h"
#undef NAME
#undef LOAD_S
#undef LOAD_V

#define NAME r_sumsq                               /* 2-norm */
#define LOAD_S(x) ((x) * (x))
#define LOAD_V(v) ((v) * (v))
#include "reduce_template.h"
#undef NAME
#undef LOAD_S
#undef LOAD_V

#define NAME r_sumpow                              /* p-norm: a_ = p */
#define LOAD_S(x) pow(fabs(x), (T)a_)
#define LOAD_V(v) POWV(ABSV(v), (T)a_)
#include "reduce_template.h"
#undef NAME
#undef LOAD_S
#undef LOAD_V

#define NAME r_sumsqdev                            /* var/std: p_ = the output's mean */
#define LOAD_S(x) (((x) - p_) * ((x) - p_))
#define LOAD_V(v) (((v) - p_) * ((v) - p_))
#include "reduce_template.h"
#undef NAME
#undef LOAD_S
#undef LOAD_V

#define NAME r_sumexp                              /* logsumexp: p_ = the output's max */
#define LOAD_S(x) exp((x) - p_)
#define LOAD_V(v) EXPV((v) - p_)
#include "reduce_template.h"
#undef NAME
#undef LOAD_S
#undef LOAD_V
#undef COMB
#undef IDENT

#define NAME r_maxabs                              /* inf-norm */
#define IDENT ((T)0)
#define COMB MAX_NAN
#define LOAD_S(x) fabs(x)
#define LOAD_V(v) ABSV(v)
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB

#define NAME r_minabs                              /* -inf-norm */
#define IDENT INFINITY
#define COMB MIN_NAN
#include "reduce_template.h"
#undef NAME
#undef IDENT
#undef COMB
#undef LOAD_S
#undef LOAD_V
#undef ACC
#undef ACC_FLOAT
#undef OVW
#endif

/* ---- argmax / argmin (and max/min with dim): value + index pairs ---------------------------
 * A candidate (bv, bi) replaces the current best (av, ai) when it is strictly better, or equal
 * (NaN counting as equal to NaN) with a smaller index. Pass 1 indexes by r; the second pass reads
 * the partial indices from in_idx. Scalar loads: these reduce small rows (class scores).
 */
#define BETTER_MAX(bv, bi, av, ai) ((ISNAN(bv) && !ISNAN(av)) || (bv) > (av) || \
    ((((bv) == (av)) || (ISNAN(bv) && ISNAN(av))) && (bi) < (ai)))
#define BETTER_MIN(bv, bi, av, ai) ((ISNAN(bv) && !ISNAN(av)) || (bv) < (av) || \
    ((((bv) == (av)) || (ISNAN(bv) && ISNAN(av))) && (bi) < (ai)))

#define ARG_ARGS int n_out, int R, int inner, int chunks, int chunk_len,                     \
                 __global const T* in, __global const int* in_idx,                          \
                 int off, int so, int si, int sr,                                            \
                 __global T* out_v, __global long* out_i, __global T* part_v, __global int* part_i

/* Along one work-item's scan indices only increase (also in the second pass: chunk c's best
 * index lies in chunk c), so a later element wins only when strictly better. */
#define SEQ_MAX(v, b) ((v) > (b) || (ISNAN(v) && !ISNAN(b)))
#define SEQ_MIN(v, b) ((v) < (b) || (ISNAN(v) && !ISNAN(b)))

#define ARG_KERNELS(NAME, BETTER, SEQ_BETTER, WORST)                                         \
/* best of in[base + r*sr], r = first, first+step, ... < last (unchanged when empty) */       \
inline void NAME##_scan(__global const T* in, __global const int* in_idx, int base, int sr,   \
                        int first, int step, int last, T* bv, int* bi) {                      \
    if (first >= last) return;                                                                 \
    T best = in[base + first * sr];                                                            \
    int bidx = in_idx ? in_idx[base + first * sr] : first;                                     \
    for (int r = first + step; r < last; r += step) {                                          \
        T v = in[base + r * sr];                                                               \
        if (SEQ_BETTER(v, best)) { best = v; bidx = in_idx ? in_idx[base + r * sr] : r; }      \
    }                                                                                          \
    *bv = best; *bi = bidx;                                                                    \
}                                                                                              \
inline void NAME##_store(__global T* out_v, __global long* out_i, __global T* part_v,         \
                         __global int* part_i, int o, int c, int chunks, T v, int i) {        \
    if (chunks > 1) { part_v[o * chunks + c] = v; part_i[o * chunks + c] = i; }                \
    else { out_v[o] = v; out_i[o] = (long)i; }                                                 \
}                                                                                              \
__kernel void NAME##_cols(ARG_ARGS) {                                                          \
    int gid = get_global_id(0);                                                                \
    if (gid >= n_out * chunks) return;                                                         \
    int o = gid / chunks, c = gid - o * chunks;                                                \
    int oo = o / inner, oi = o - oo * inner;                                                   \
    int r0 = c * chunk_len, r1 = min(R, r0 + chunk_len);                                       \
    T bv = WORST; int bi = INT_MAX;                                                            \
    NAME##_scan(in, in_idx, off + oo * so + oi * si, sr, r0, 1, r1, &bv, &bi);                 \
    NAME##_store(out_v, out_i, part_v, part_i, o, c, chunks, bv, bi);                          \
}                                                                                              \
__kernel void NAME##_rows(ARG_ARGS, int interleave, __local T* sv, __local int* sx) {          \
    int lid = get_local_id(0), L = get_local_size(0);                                          \
    int g = get_group_id(0);                                                                   \
    int o = g / chunks, c = g - o * chunks;                                                    \
    int oo = o / inner, oi = o - oo * inner;                                                   \
    int r0 = c * chunk_len, r1 = min(R, r0 + chunk_len);                                       \
    int per = (r1 - r0 + L - 1) / L;                                                           \
    int first = interleave ? r0 + lid : r0 + lid * per;                                        \
    int last = interleave ? r1 : min(r1, first + per);                                         \
    T bv = WORST; int bi = INT_MAX;                                                            \
    NAME##_scan(in, in_idx, off + oo * so + oi * si, sr, first, interleave ? L : 1, last,      \
                &bv, &bi);                                                                     \
    sv[lid] = bv; sx[lid] = bi;                                                                \
    barrier(CLK_LOCAL_MEM_FENCE);                                                              \
    for (int s = L >> 1; s > 0; s >>= 1) {                                                     \
        if (lid < s && BETTER(sv[lid + s], sx[lid + s], sv[lid], sx[lid])) {                   \
            sv[lid] = sv[lid + s]; sx[lid] = sx[lid + s];                                      \
        }                                                                                      \
        barrier(CLK_LOCAL_MEM_FENCE);                                                          \
    }                                                                                          \
    if (lid == 0) NAME##_store(out_v, out_i, part_v, part_i, o, c, chunks, sv[0], sx[0]);      \
}

ARG_KERNELS(r_argmax, BETTER_MAX, SEQ_MAX, T_LOWEST)
ARG_KERNELS(r_argmin, BETTER_MIN, SEQ_MIN, T_HIGHEST)
