/* Random numbers: the counter-based Philox4x32-10 generator (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11; the Random123 library) and the distributions built on it.
 *
 * The generator is a pure function: 4 x 32-bit words = philox(counter, key). The key is the
 * generator's 64-bit seed, the counter of work-item `gid` is the 64-bit number (ctr + gid) where
 * `ctr` is the generator's offset, which the host advances by the number of counters each launch
 * uses. Nothing is read back and a run is reproducible from (seed, offset) alone.
 *
 * Work-item `gid` makes the V values at linear (row-major) indices gid*V .. gid*V+V-1, so a value
 * depends on its linear index only, never on the tensor's layout:
 *   V = 4 for float32 results (one word each) and bernoulli draws,
 *   V = 2 for float64 results (53 bits from two words) and integers (64 bits from two words).
 *
 * Kernel families (T = storage type):
 *   <dist>_T_c  contiguous output from element offset `ooff`
 *   <dist>_T_n  any strides (the `Strided` struct, operand 0 = output): in-place fills of views
 *   with <dist> one of uniform, normal, exponential, dropout (float, double),
 *   random (integers in [lo, lo+range)) and bernoulli (scalar p) for every storage type;
 *   bernoulli_p_T (per-element probabilities), normal_tensor_T (per-element mean/std),
 *   multinomial_repl_T / multinomial_norepl_T (categorical sampling, long results).
 */
#include "common.h"

/* ---------------------------------------------------------------- Philox4x32-10 */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u   /* golden ratio */
#define PHILOX_W1 0xBB67AE85u   /* sqrt(3) - 1 */

/* One round: two 32x32->64 multiplies (a plain ulong product: mul_hi is a call on PoCL). */
inline uint4 philox_round(uint4 c, uint2 k) {
    ulong p0 = (ulong)PHILOX_M0 * (ulong)c.x;
    ulong p1 = (ulong)PHILOX_M1 * (ulong)c.z;
    return (uint4)((uint)(p1 >> 32) ^ c.y ^ k.x, (uint)p1,
                   (uint)(p0 >> 32) ^ c.w ^ k.y, (uint)p0);
}

#define PHILOX_BUMP(k) ((k) + (uint2)(PHILOX_W0, PHILOX_W1))

inline uint4 philox4x32_10(uint4 c, uint2 k) {
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    c = philox_round(c, k); k = PHILOX_BUMP(k);
    return philox_round(c, k);
}

/* The 4 words of counter number (ctr + i) under the 64-bit key `seed`. */
inline uint4 philox_at(ulong seed, ulong ctr, int i) {
    ulong c = ctr + (ulong)i;
    return philox4x32_10((uint4)((uint)c, (uint)(c >> 32), 0u, 0u),
                         (uint2)((uint)seed, (uint)(seed >> 32)));
}

/* ---------------------------------------------------------------- words -> numbers */
#define TWO_M24 5.9604644775390625e-8f          /* 2^-24 */
#define TWO_PI_F 6.28318530717958647692f

/* [0, 1) with the 24 bits a float mantissa holds: every value is exact, 1 is never produced. */
inline float u01_f(uint w) { return (float)(w >> 8) * TWO_M24; }
/* (0, 1]: the argument of a logarithm. */
inline float u01_open0_f(uint w) { return (float)((w >> 8) + 1u) * TWO_M24; }

inline ulong bits64(uint hi, uint lo) { return ((ulong)hi << 32) | (ulong)lo; }

/* ---------------------------------------------------------------- float32 distributions, V = 4 */
inline void gen_uniform_float(uint4 w, float lo, float range, float* r) {
    r[0] = lo + range * u01_f(w.x);
    r[1] = lo + range * u01_f(w.y);
    r[2] = lo + range * u01_f(w.z);
    r[3] = lo + range * u01_f(w.w);
}

/* Box-Muller: each pair of uniforms gives two independent normals (both are used). The two
 * pairs go through one float2 log and one float2 sincos: on PoCL each builtin is a call, and this
 * is 2.8x faster than four scalar log/sin/cos calls, with the same results. */
inline void gen_normal_float(uint4 w, float mean, float stdv, float* r) {
    float2 rad = sqrt(-2.0f * log((float2)(u01_open0_f(w.x), u01_open0_f(w.z))));
    float2 c;
    float2 s = sincos(TWO_PI_F * (float2)(u01_f(w.y), u01_f(w.w)), &c);
    r[0] = mean + stdv * (rad.x * c.x);
    r[1] = mean + stdv * (rad.x * s.x);
    r[2] = mean + stdv * (rad.y * c.y);
    r[3] = mean + stdv * (rad.y * s.y);
}

/* Inverse CDF: -log(1 - u) / lambda with 1 - u in (0, 1]. */
inline void gen_exponential_float(uint4 w, float lambd, float unused, float* r) {
    r[0] = -log(1.0f - u01_f(w.x)) / lambd;
    r[1] = -log(1.0f - u01_f(w.y)) / lambd;
    r[2] = -log(1.0f - u01_f(w.z)) / lambd;
    r[3] = -log(1.0f - u01_f(w.w)) / lambd;
}

/* Scaled keep mask: an element is kept (value `scale` = 1/(1-p)) when u >= p, i.e. with
 * probability 1 - p, else 0. */
inline void gen_dropout_float(uint4 w, float p, float scale, float* r) {
    r[0] = u01_f(w.x) >= p ? scale : 0.0f;
    r[1] = u01_f(w.y) >= p ? scale : 0.0f;
    r[2] = u01_f(w.z) >= p ? scale : 0.0f;
    r[3] = u01_f(w.w) >= p ? scale : 0.0f;
}

/* Draws of 1 with probability p (u < p), stored as 0/1 in any type. */
inline void gen_bernoulli(uint4 w, float p, float unused, uchar* r) {
    r[0] = u01_f(w.x) < p;
    r[1] = u01_f(w.y) < p;
    r[2] = u01_f(w.z) < p;
    r[3] = u01_f(w.w) < p;
}

/* ---------------------------------------------------------------- integers, V = 2 */
/* lo + (x mod range) with a 64-bit x: the modulo bias is below range / 2^64. range == 0 stands
 * for 2^64 (every int64). The sum is done in ulong so that it wraps instead of overflowing. */
inline void gen_random(uint4 w, long lo, ulong range, long* r) {
    ulong x0 = bits64(w.x, w.y);
    ulong x1 = bits64(w.z, w.w);
    if (range != 0) {
        x0 %= range;
        x1 %= range;
    }
    r[0] = (long)((ulong)lo + x0);
    r[1] = (long)((ulong)lo + x1);
}

/* ---------------------------------------------------------------- float64 distributions, V = 2 */
#ifdef HAS_FP64
#define TWO_M53 1.1102230246251565404e-16       /* 2^-53 */
#define TWO_PI_D 6.28318530717958647692528676656

/* [0, 1) with 53 bits taken from two words; (0, 1] for logarithms. */
inline double u01_d(uint hi, uint lo) { return (double)(bits64(hi, lo) >> 11) * TWO_M53; }
inline double u01_open0_d(uint hi, uint lo) {
    return (double)((bits64(hi, lo) >> 11) + 1ul) * TWO_M53;
}

inline void gen_uniform_double(uint4 w, double lo, double range, double* r) {
    r[0] = lo + range * u01_d(w.x, w.y);
    r[1] = lo + range * u01_d(w.z, w.w);
}

inline void gen_normal_double(uint4 w, double mean, double stdv, double* r) {
    double rad = sqrt(-2.0 * log(u01_open0_d(w.x, w.y)));
    double c;
    double s = sincos(TWO_PI_D * u01_d(w.z, w.w), &c);
    r[0] = mean + stdv * (rad * c);
    r[1] = mean + stdv * (rad * s);
}

inline void gen_exponential_double(uint4 w, double lambd, double unused, double* r) {
    r[0] = -log(1.0 - u01_d(w.x, w.y)) / lambd;
    r[1] = -log(1.0 - u01_d(w.z, w.w)) / lambd;
}

inline void gen_dropout_double(uint4 w, double p, double scale, double* r) {
    r[0] = u01_d(w.x, w.y) >= p ? scale : 0.0;
    r[1] = u01_d(w.z, w.w) >= p ? scale : 0.0;
}
#endif

/* ---------------------------------------------------------------- fill kernels */
/* Work-item gid computes R r[V] with GEN from its counter and stores r[j] (cast to T) at linear
 * index gid*V + j when that index is below n. Only ceil(n / V) work-items do anything. */
#define RNG_KERNEL_C(NAME, T, R, V, PA, PB, GEN)                                             \
__kernel void NAME##_c(int n, __global T* out, int ooff, ulong seed, ulong ctr, PA a, PB b) { \
    int gid = get_global_id(0);                                                              \
    if (n == 0 || gid > (n - 1) / (V)) return;                                               \
    R r[V];                                                                                  \
    GEN(philox_at(seed, ctr, gid), a, b, r);                                                 \
    int base = gid * (V);                                                                    \
    for (int j = 0; j < (V); ++j)                                                            \
        if (base + j < n) out[ooff + base + j] = (T)r[j];                                    \
}
#define RNG_KERNEL_N(NAME, T, R, V, PA, PB, GEN)                                             \
__kernel void NAME##_n(int n, __global T* out, ulong seed, ulong ctr, PA a, PB b,            \
                       Strided m) {                                                          \
    int gid = get_global_id(0);                                                              \
    if (n == 0 || gid > (n - 1) / (V)) return;                                               \
    R r[V];                                                                                  \
    GEN(philox_at(seed, ctr, gid), a, b, r);                                                 \
    int base = gid * (V);                                                                    \
    for (int j = 0; j < (V); ++j) {                                                          \
        if (base + j < n) {                                                                  \
            int off[1];                                                                      \
            STRIDED_OFFSETS(m, base + j, 1, off);                                            \
            out[off[0]] = (T)r[j];                                                           \
        }                                                                                    \
    }                                                                                        \
}
/* Fills of any layout (in-place samplers); dropout masks are always new contiguous tensors, so
 * they get only the _c kernel. */
#define RNG_KERNELS(NAME, T, R, V, PA, PB, GEN)                                              \
    RNG_KERNEL_C(NAME, T, R, V, PA, PB, GEN)                                                 \
    RNG_KERNEL_N(NAME, T, R, V, PA, PB, GEN)

/* Per-element probabilities (operand 1, float, any strides / broadcast) -> 0/1 in T. */
#define BERNOULLI_P_KERNEL(T)                                                                \
__kernel void bernoulli_p_##T(int n, __global T* out, __global const float* p, ulong seed,    \
                              ulong ctr, Strided m) {                                        \
    int gid = get_global_id(0);                                                              \
    if (n == 0 || gid > (n - 1) / 4) return;                                                 \
    uint4 w = philox_at(seed, ctr, gid);                                                     \
    uint ws[4] = {w.x, w.y, w.z, w.w};                                                       \
    for (int j = 0; j < 4; ++j) {                                                            \
        int i = gid * 4 + j;                                                                 \
        if (i < n) {                                                                         \
            int off[2];                                                                      \
            STRIDED_OFFSETS(m, i, 2, off);                                                   \
            out[off[0]] = (T)(u01_f(ws[j]) < p[off[1]]);                                     \
        }                                                                                    \
    }                                                                                        \
}

/* Per-element mean (operand 1) and std (operand 2), broadcast by strides; output operand 0. */
#define NORMAL_TENSOR_KERNEL(T, V)                                                           \
__kernel void normal_tensor_##T(int n, __global T* out, __global const T* mean,               \
                                __global const T* stdv, ulong seed, ulong ctr, Strided m) {  \
    int gid = get_global_id(0);                                                              \
    if (n == 0 || gid > (n - 1) / (V)) return;                                               \
    T z[V];                                                                                  \
    gen_normal_##T(philox_at(seed, ctr, gid), (T)0, (T)1, z);                                \
    for (int j = 0; j < (V); ++j) {                                                          \
        int i = gid * (V) + j;                                                               \
        if (i < n) {                                                                         \
            int off[3];                                                                      \
            STRIDED_OFFSETS(m, i, 3, off);                                                   \
            out[off[0]] = mean[off[1]] + stdv[off[2]] * z[j];                                \
        }                                                                                    \
    }                                                                                        \
}

/* ---------------------------------------------------------------- categorical sampling */
/* probs: `rows` contiguous rows of k non-negative weights (validated on the host). One
 * counter per sample: counter number row*s + t draws sample t of row `row`. */

/* With replacement: one work-item per (row, sample); inverse CDF by a linear scan. Rounding can
 * leave the target past the last partial sum: the last category with positive weight is then
 * taken, so a zero-weight category is never drawn. */
#define MULTINOMIAL_REPL_KERNEL(T, U01)                                                      \
__kernel void multinomial_repl_##T(int rows, int k, int s, __global const T* probs,          \
                                   int poff, __global long* out, ulong seed, ulong ctr) {    \
    int gid = get_global_id(0);                                                              \
    if (gid >= rows * s) return;                                                             \
    __global const T* p = probs + poff + (gid / s) * k;                                      \
    T total = 0;                                                                             \
    int pick = 0;                                                                            \
    for (int i = 0; i < k; ++i) {                                                            \
        if (p[i] > 0) { total += p[i]; pick = i; }                                           \
    }                                                                                        \
    T target = U01(philox_at(seed, ctr, gid)) * total;                                       \
    T cum = 0;                                                                               \
    for (int i = 0; i < k; ++i) {                                                            \
        if (p[i] > 0) {                                                                      \
            cum += p[i];                                                                     \
            if (target < cum) { pick = i; break; }                                           \
        }                                                                                    \
    }                                                                                        \
    out[gid] = pick;                                                                         \
}

/* Without replacement: one work-item per row draws its s samples in turn from `work`, a
 * private copy of the weights where a drawn category is set to -1. When no positive weight is
 * left, the first category not yet drawn is taken (as PyTorch does for zero weights). */
#define MULTINOMIAL_NOREPL_KERNEL(T, U01)                                                    \
__kernel void multinomial_norepl_##T(int rows, int k, int s, __global T* work, int woff,     \
                                     __global long* out, ulong seed, ulong ctr) {            \
    int row = get_global_id(0);                                                              \
    if (row >= rows) return;                                                                 \
    __global T* p = work + woff + row * k;                                                   \
    for (int t = 0; t < s; ++t) {                                                            \
        T total = 0;                                                                         \
        int pick = -1;                                                                       \
        for (int i = 0; i < k; ++i) {                                                        \
            if (p[i] > 0) { total += p[i]; pick = i; }                                       \
        }                                                                                    \
        if (pick >= 0) {                                                                     \
            T target = U01(philox_at(seed, ctr, row * s + t)) * total;                       \
            T cum = 0;                                                                       \
            for (int i = 0; i < k; ++i) {                                                    \
                if (p[i] > 0) {                                                              \
                    cum += p[i];                                                             \
                    if (target < cum) { pick = i; break; }                                   \
                }                                                                            \
            }                                                                                \
        } else {                                                                             \
            for (int i = 0; i < k; ++i) {                                                    \
                if (p[i] == 0) { pick = i; break; }                                          \
            }                                                                                \
        }                                                                                    \
        out[row * s + t] = pick;                                                             \
        p[pick] = -1;                                                                        \
    }                                                                                        \
}

#define U01_F4(w) u01_f((w).x)

RNG_KERNELS(uniform_float, float, float, 4, float, float, gen_uniform_float)
RNG_KERNELS(normal_float, float, float, 4, float, float, gen_normal_float)
RNG_KERNELS(exponential_float, float, float, 4, float, float, gen_exponential_float)
RNG_KERNEL_C(dropout_float, float, float, 4, float, float, gen_dropout_float)
NORMAL_TENSOR_KERNEL(float, 4)
MULTINOMIAL_REPL_KERNEL(float, U01_F4)
MULTINOMIAL_NOREPL_KERNEL(float, U01_F4)

#define INT_KERNELS(T)                                                                      \
    RNG_KERNELS(random_##T, T, long, 2, long, ulong, gen_random)                            \
    RNG_KERNELS(bernoulli_##T, T, uchar, 4, float, float, gen_bernoulli)                    \
    BERNOULLI_P_KERNEL(T)

INT_KERNELS(uchar)
INT_KERNELS(int)
INT_KERNELS(long)
INT_KERNELS(float)

#ifdef HAS_FP64
#define U01_D4(w) u01_d((w).x, (w).y)
RNG_KERNELS(uniform_double, double, double, 2, double, double, gen_uniform_double)
RNG_KERNELS(normal_double, double, double, 2, double, double, gen_normal_double)
RNG_KERNELS(exponential_double, double, double, 2, double, double, gen_exponential_double)
RNG_KERNEL_C(dropout_double, double, double, 2, double, double, gen_dropout_double)
NORMAL_TENSOR_KERNEL(double, 2)
MULTINOMIAL_REPL_KERNEL(double, U01_D4)
MULTINOMIAL_NOREPL_KERNEL(double, U01_D4)
INT_KERNELS(double)
#endif
