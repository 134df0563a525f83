/* Elementwise ops: unary, binary and ternary, for one compute type T per program.
 *
 * Build with -DT=<float|double|int|long|uchar> and one of -DIS_FLOAT / -DIS_INT / -DIS_BOOL.
 * Every op NAME gets two kernels:
 *   NAME_c : contiguous operands; each work-item handles VW consecutive elements. Loads are
 *            scalar (any alignment), the result is stored as one vector when the output is
 *            VW-aligned: on PoCL this is the fastest form (vloadN/vstoreN are calls there).
 *   NAME_n : any strides and broadcasting through the `Strided` struct (operand 0 = output),
 *            launched as a 3-D NDRange when the collapsed shape has <= 3 dims (STRIDED_ITEM).
 *   NAME_v : (floating-point ops with a transcendental call: exp, tanh, erf, pow...) contiguous
 *            operands, VW consecutive elements per work-item computed as ONE vector TV = T##VW
 *            with the vector builtins (vector.h; any alignment, a scalar tail). The form for CPU
 *            drivers: PoCL vectorises its loop over work-items only when the body makes no
 *            library calls, and exp/tanh/erf/... are calls, so the scalar forms run one element
 *            at a time (exp over 2^17 floats ~8x slower than exp(float8)). The host picks _v or _c
 *            per device (dev.tuning["elementwise.vec"]); VW comes from the host (-DVW, 256 bits).
 *            Branches become select() on the vector comparison (-1/0 integer lanes), with the
 *            same operands as the scalar form, so NaN/inf follow the same rules.
 * Binary kernels take a `mode`: 0 tensor-tensor, 1 tensor-scalar (b = sb), 2 scalar-tensor
 * (a = sa), so `x + 1` and `2 - x` need no scalar tensor. Unary kernels take two parameters
 * p0, p1 (slopes, bounds, beta...) so parametrised activations share the scheme.
 */
#include "common.h"

#define CW 4                /* elements per work-item of the _c kernels */
#define TC CAT(T, 4)

/* ------------------------------------------------------------------ kernel generators */

#define UNARY(NAME, TO, EXPR)                                                              \
inline TO op_##NAME(T x, T p0, T p1) { return (EXPR); }                                     \
__kernel void NAME##_c(int n, __global const T* a, int aoff, __global TO* o, int ooff,     \
                       T p0, T p1) {                                                        \
    int base = get_global_id(0) * CW;                                                       \
    if (base >= n) return;                                                                  \
    a += aoff; o += ooff;                                                                   \
    if (base + CW <= n && (ooff & (CW - 1)) == 0) {                                         \
        CAT(TO, 4) r;                                                                       \
        r.s0 = op_##NAME(a[base], p0, p1);     r.s1 = op_##NAME(a[base + 1], p0, p1);          \
        r.s2 = op_##NAME(a[base + 2], p0, p1); r.s3 = op_##NAME(a[base + 3], p0, p1);          \
        *(__global CAT(TO, 4)*)(o + base) = r;                                              \
    } else {                                                                                \
        int end = min(base + CW, n);                                                        \
        for (int i = base; i < end; ++i) o[i] = op_##NAME(a[i], p0, p1);                     \
    }                                                                                       \
}                                                                                           \
__kernel void NAME##_n(int n, __global const T* a, __global TO* o, T p0, T p1, Strided m) { \
    int off[MAXOPS];                                                                             \
    STRIDED_ITEM(m, n, 2, off);                                                             \
    o[off[0]] = op_##NAME(a[off[1]], p0, p1);                                                \
}

#define BINARY(NAME, TO, EXPR)                                                             \
inline TO op_##NAME(T x, T y) { return (EXPR); }                                            \
__kernel void NAME##_c(int n, __global const T* a, int aoff, __global const T* b, int boff,\
                       T sa, T sb, __global TO* o, int ooff, int mode) {                   \
    int base = get_global_id(0) * CW;                                                       \
    if (base >= n) return;                                                                  \
    a += aoff; b += boff; o += ooff;                                                        \
    if (base + CW <= n && (ooff & (CW - 1)) == 0) {                                         \
        TC x = mode == 2 ? (TC)(sa) : (TC)(a[base], a[base + 1], a[base + 2], a[base + 3]); \
        TC y = mode == 1 ? (TC)(sb) : (TC)(b[base], b[base + 1], b[base + 2], b[base + 3]); \
        CAT(TO, 4) r;                                                                       \
        r.s0 = op_##NAME(x.s0, y.s0); r.s1 = op_##NAME(x.s1, y.s1);                           \
        r.s2 = op_##NAME(x.s2, y.s2); r.s3 = op_##NAME(x.s3, y.s3);                           \
        *(__global CAT(TO, 4)*)(o + base) = r;                                              \
    } else {                                                                                \
        int end = min(base + CW, n);                                                        \
        for (int i = base; i < end; ++i)                                                    \
            o[i] = op_##NAME(mode == 2 ? sa : a[i], mode == 1 ? sb : b[i]);                  \
    }                                                                                       \
}                                                                                           \
__kernel void NAME##_n(int n, __global const T* a, __global const T* b, T sa, T sb,        \
                       __global TO* o, int mode, Strided m) {                               \
    int off[MAXOPS];                                                                             \
    STRIDED_ITEM(m, n, 3, off);                                                             \
    T x = a[off[1]], y = b[off[2]];   /* a scalar side's placeholder is the other operand */   \
    o[off[0]] = op_##NAME(mode == 2 ? sa : x, mode == 1 ? sb : y);                           \
}

#ifdef IS_FLOAT
#ifndef VW
#define VW 8
#endif
#include "vector.h"

/* UNARY_V(NAME, VEXPR) / BINARY_V(NAME, VEXPR): the NAME_v kernel of an op whose UNARY/BINARY
 * (op_NAME, the scalar form used for the tail) comes just before; VEXPR computes on TV x (and y;
 * p0, p1 stay scalars). Two separate macros, not one calling the other: NAME must only ever be
 * pasted (##), since some builtin names (pow, fmod...) are macros in some OpenCL headers. */
#define UNARY_V(NAME, VEXPR)                                                               \
inline TV vop_##NAME(TV x, T p0, T p1) { return (VEXPR); }                                  \
__kernel void NAME##_v(int n, __global const T* a, int aoff, __global T* o, int ooff,      \
                       T p0, T p1) {                                                        \
    int base = get_global_id(0) * VW;                                                       \
    if (base >= n) return;                                                                  \
    a += aoff; o += ooff;                                                                   \
    if (base + VW <= n) {                                                                   \
        store_v(o + base, vop_##NAME(load_v(a + base), p0, p1));                            \
    } else {                                                                                \
        for (int i = base; i < n; ++i) o[i] = op_##NAME(a[i], p0, p1);                      \
    }                                                                                       \
}

#define BINARY_V(NAME, VEXPR)                                                              \
inline TV vop_##NAME(TV x, TV y) { return (VEXPR); }                                        \
__kernel void NAME##_v(int n, __global const T* a, int aoff, __global const T* b, int boff,\
                       T sa, T sb, __global T* o, int ooff, int mode) {                    \
    int base = get_global_id(0) * VW;                                                       \
    if (base >= n) return;                                                                  \
    a += aoff; b += boff; o += ooff;                                                        \
    if (base + VW <= n) {                                                                   \
        TV x = mode == 2 ? (TV)(sa) : load_v(a + base);                                     \
        TV y = mode == 1 ? (TV)(sb) : load_v(b + base);                                     \
        store_v(o + base, vop_##NAME(x, y));                                                \
    } else {                                                                                \
        for (int i = base; i < n; ++i)                                                      \
            o[i] = op_##NAME(mode == 2 ? sa : a[i], mode == 1 ? sb : b[i]);                  \
    }                                                                                       \
}
#endif

/* ------------------------------------------------------------------ helpers */

#ifdef IS_FLOAT
/* NaN-propagating max/min, as torch.maximum/minimum (fmax/fmin drop NaNs). */
inline T nan_max(T x, T y) { return isnan(x) ? x : (isnan(y) ? y : (x > y ? x : y)); }
inline T nan_min(T x, T y) { return isnan(x) ? x : (isnan(y) ? y : (x < y ? x : y)); }
/* numpy's floor_divide and remainder for floats (Python semantics, exact near integers). */
inline T py_floordiv(T a, T b) {
    if (b == 0) return a / b;
    T mod = fmod(a, b);
    T div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
    T fl = floor(div);
    if (div - fl > (T)0.5) fl += 1;
    return div == 0 ? copysign((T)0, a / b) : fl;
}
inline T py_mod(T a, T b) {
    T r = fmod(a, b);
    if (r != 0 && ((b < 0) != (r < 0))) r += b;
    else if (r == 0) r = copysign((T)0, b);
    return r;
}
inline T h_sign(T x) { return (T)((x > 0) - (x < 0)); }   /* NaN -> 0, as torch.sign */
inline T h_softplus(T x, T beta, T threshold) {
    return x * beta > threshold ? x : log1p(exp(x * beta)) / beta;
}
inline T h_logsigmoid(T x) { return x < 0 ? x - log1p(exp(x)) : -log1p(exp(-x)); }
/* digamma (psi) and trigamma (psi'), the derivatives of lgamma, as torch computes them: the
 * recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series (Cephes' psi);
 * x < 0 by reflection. digamma(0) = -inf and NaN at negative integers, like torch. */
inline T h_digamma(T x) {
    if (x == (T)0) return -INFINITY;
    T shift = 0;
    if (x < (T)0) {
        if (x == floor(x)) return NAN;
        /* psi(x) = psi(1 - x) - pi / tan(pi x) */
        shift = -(T)M_PI / tan((T)M_PI * x);
        x = (T)1 - x;
    }
    T acc = 0;
    while (x < (T)10) {
        acc -= (T)1 / x;
        x += (T)1;
    }
    T z = (T)1 / (x * x);
    T series = z * ((T)8.33333333333333333333E-2 + z * ((T)-8.33333333333333333333E-3 +
               z * ((T)3.96825396825396825397E-3 + z * ((T)-4.16666666666666666667E-3 +
               z * ((T)7.57575757575757575758E-3 + z * ((T)-2.10927960927960927961E-2 +
               z * (T)8.33333333333333333333E-2))))));
    return shift + acc + log(x) - (T)0.5 / x - series;
}
inline T h_trigamma(T x) {
    T shift = 0, sign = 1;
    if (x <= (T)0) {
        if (x == floor(x)) return INFINITY;
        /* psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x) */
        T s = sin((T)M_PI * x);
        shift = (T)(M_PI * M_PI) / (s * s);
        sign = -1;
        x = (T)1 - x;
    }
    T acc = 0;
    while (x < (T)10) {
        acc += (T)1 / (x * x);
        x += (T)1;
    }
    T z = (T)1 / (x * x);
    /* 1/x + 1/(2x^2) + 1/(6x^3) - 1/(30x^5) + 1/(42x^7) - 1/(30x^9) + 5/(66x^11) */
    T series = (T)1 / x + z * ((T)0.5 + ((T)1 / x) * ((T)1 / (T)6 + z * ((T)-1 / (T)30 +
               z * ((T)1 / (T)42 + z * ((T)-1 / (T)30 + z * (T)5 / (T)66)))));
    return shift + sign * (acc + series);
}
/* Vector forms: select(if_false, if_true, cond) per lane; a float comparison gives integer lanes
 * of -1/0 (what select reads), and NaN compares false, so a NaN lane takes the same side as in
 * the scalar form. Both sides are computed (an exp that overflows on the unused side is harmless). */
inline TV v_softplus(TV x, T beta, T threshold) {
    TV z = x * beta;
    return select(log1p(exp(z)) / beta, x, z > threshold);
}
/* exp(-|x|) is the scalar form's exp(x) for x < 0 and exp(-x) otherwise */
inline TV v_logsigmoid(TV x) {
    TV e = log1p(exp(-fabs(x)));
    return select(-e, x - e, x < (T)0);
}
/* sin/cos/tan: PoCL's vector forms switch the WHOLE vector to their huge-argument reduction when
 * one lane needs it, and that path is wrong for the other lanes (float8 sin of [1e7, 1e-30, ...]
 * gives ~1e-2 for the 1e-30 lane). Vectors with a lane past TRIG_BIG (NaN compares false; inf
 * counts as big) go lane by lane through the scalar builtin; the rest stay vectorised. */
#define TRIG_BIG (T)65536
#define TRIG_V(F)                                                                              \
inline TV v_##F(TV x) {                                                                         \
    if (!any(fabs(x) > TRIG_BIG)) return F(x);                                                  \
    TV r;                                                                                       \
    T* pr = (T*)&r;                                                                             \
    const T* px = (const T*)&x;                                                                 \
    for (int l = 0; l < VW; ++l) pr[l] = F(px[l]);                                              \
    return r;                                                                                   \
}
TRIG_V(sin)
TRIG_V(cos)
TRIG_V(tan)
/* erf of float vectors (-DERF_POLY, float32 programs): PoCL's vector erf runs ~7x slower than its
 * vector exp. A rational approximation x P(x^2) / Q(x^2) on [-4, 4] (Eigen's / XLA's float erf;
 * +-1 beyond, where float32 erf rounds to +-1): max 7 ulp against the exact erf (relative 4.3e-7,
 * absolute 4e-7 near +-1) where the builtin has < 1 ulp. NaN passes (the comparisons are false),
 * +-inf -> +-1, erf(-0) = -0. The scalar forms (_c, _n, the tails) keep the builtin. */
#ifdef ERF_POLY
inline TV v_erf(TV x) {
    TV c = select(select(x, (TV)(4), x > (T)4), (TV)(-4), x < (T)-4);
    TV x2 = c * c;
    TV p = x2 * (T)-2.72614225801306e-10f + (T)2.77068142495902e-08f;
    p = x2 * p + (T)-2.10102402082508e-06f;
    p = x2 * p + (T)-5.69250639462346e-05f;
    p = x2 * p + (T)-7.34990630326855e-04f;
    p = x2 * p + (T)-2.95459980854025e-03f;
    p = x2 * p + (T)-1.60960333262415e-02f;
    TV q = x2 * (T)-1.45660718464996e-05f + (T)-2.13374055278905e-04f;
    q = x2 * q + (T)-1.68282697438203e-03f;
    q = x2 * q + (T)-7.37332916720468e-03f;
    q = x2 * q + (T)-1.42647390514189e-02f;
    return c * p / q;
}
#else
inline TV v_erf(TV x) { return erf(x); }
#endif
/* elu with x / d inside expm1 (celu: d = alpha; elu, selu: d = 1, folded away) */
inline TV v_elu(TV x, T alpha, T d) { return select(alpha * expm1(x / d), x, x > (T)0); }
/* gelu(x, approximate="tanh") = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), written as
 * x / (1 + exp(-2u)) (the same function): one exp instead of tanh, and no cancellation in 1 + tanh
 * for negative x (PoCL's tanh stops 1 ulp short of -1, so the tanh form gave gelu_tanh(-1e7) =
 * -0.3 instead of -0). NaN and infinities as in torch: +inf -> inf, -inf -> NaN. */
#define GELU_TANH(x) ((x) / ((T)1 + exp((T)-1.5957691216057308 *                                    \
                                        ((x) + (T)0.044715 * (x) * (x) * (x)))))
#endif

#if defined(IS_INT)
/* Integer division never traps: x/0 gives 0 (PyTorch raises; a kernel cannot) and MIN/-1 wraps. */
inline T int_div_trunc(T x, T y) { return y == 0 ? 0 : (y == -1 ? -x : x / y); }
inline T int_floordiv(T x, T y) {
    if (y == 0) return 0;
    if (y == -1) return -x;
    T q = x / y;
    return ((x % y != 0) && ((x < 0) != (y < 0))) ? q - 1 : q;
}
inline T int_mod(T x, T y) {
    if (y == 0 || y == -1) return 0;
    T r = x % y;
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
inline T int_pow(T base, T e) {
    if (e < 0) return base == 1 ? 1 : (base == -1 ? ((e & 1) ? -1 : 1) : 0);
    T r = 1;
    while (e) { if (e & 1) r *= base; base *= base; e >>= 1; }
    return r;
}
#endif

/* ------------------------------------------------------------------ ops for every type */

BINARY(eq, uchar, x == y)
BINARY(ne, uchar, x != y)
BINARY(lt, uchar, x < y)
BINARY(le, uchar, x <= y)
BINARY(gt, uchar, x > y)
BINARY(ge, uchar, x >= y)
UNARY(logical_not, uchar, x == 0)

/* ------------------------------------------------------------------ numeric ops (not bool) */

#ifndef IS_BOOL
BINARY(add, T, x + y)
BINARY(sub, T, x - y)
BINARY(mul, T, x * y)
UNARY(neg, T, -x)
UNARY(square, T, x * x)
#endif

#ifdef IS_FLOAT
/* comparisons (not fmin/fmax) so that NaN passes through, as in PyTorch */
UNARY(clamp, T, x < p0 ? p0 : (x > p1 ? p1 : x))
UNARY(relu, T, x < 0 ? (T)0 : x)
#endif
#ifdef IS_INT
/* integer builtins rather than compare-and-select: LLVM would turn those into llvm.smax/abs
 * intrinsics, which some OpenCL implementations (Oclgrind 21.10) cannot execute */
UNARY(clamp, T, min(max(x, p0), p1))
UNARY(relu, T, max(x, (T)0))
#endif

#ifdef IS_FLOAT
BINARY(div, T, x / y)
BINARY(floordiv, T, py_floordiv(x, y))
BINARY(remainder, T, py_mod(x, y))
BINARY(fmod, T, fmod(x, y)) BINARY_V(fmod, fmod(x, y))
BINARY(pow, T, pow(x, y)) BINARY_V(pow, pow(x, y))
BINARY(maximum, T, nan_max(x, y))
BINARY(minimum, T, nan_min(x, y))
BINARY(fmax, T, fmax(x, y))
BINARY(fmin, T, fmin(x, y))
BINARY(atan2, T, atan2(x, y)) BINARY_V(atan2, atan2(x, y))
BINARY(hypot, T, hypot(x, y)) BINARY_V(hypot, hypot(x, y))
BINARY(copysign, T, copysign(x, y))
BINARY(div_trunc, T, trunc(x / y))

UNARY(abs, T, fabs(x))
UNARY(sign, T, h_sign(x))
UNARY(exp, T, exp(x)) UNARY_V(exp, exp(x))
UNARY(exp2, T, exp2(x)) UNARY_V(exp2, exp2(x))
UNARY(expm1, T, expm1(x)) UNARY_V(expm1, expm1(x))
UNARY(log, T, log(x)) UNARY_V(log, log(x))
UNARY(log2, T, log2(x)) UNARY_V(log2, log2(x))
UNARY(log10, T, log10(x)) UNARY_V(log10, log10(x))
UNARY(log1p, T, log1p(x)) UNARY_V(log1p, log1p(x))
UNARY(sqrt, T, sqrt(x)) UNARY_V(sqrt, sqrt(x))
UNARY(rsqrt, T, rsqrt(x)) UNARY_V(rsqrt, rsqrt(x))
UNARY(reciprocal, T, (T)1 / x)
UNARY(cube, T, x * x * x)                 /* pow(x, 3) and pow(x, -2), as torch computes them */
UNARY(inv_square, T, (T)1 / (x * x))
UNARY(sin, T, sin(x)) UNARY_V(sin, v_sin(x))
UNARY(cos, T, cos(x)) UNARY_V(cos, v_cos(x))
UNARY(tan, T, tan(x)) UNARY_V(tan, v_tan(x))
UNARY(asin, T, asin(x)) UNARY_V(asin, asin(x))
UNARY(acos, T, acos(x)) UNARY_V(acos, acos(x))
UNARY(atan, T, atan(x)) UNARY_V(atan, atan(x))
UNARY(sinh, T, sinh(x)) UNARY_V(sinh, sinh(x))
UNARY(cosh, T, cosh(x)) UNARY_V(cosh, cosh(x))
UNARY(tanh, T, tanh(x)) UNARY_V(tanh, tanh(x))
UNARY(asinh, T, asinh(x)) UNARY_V(asinh, asinh(x))
UNARY(acosh, T, acosh(x)) UNARY_V(acosh, acosh(x))
UNARY(atanh, T, atanh(x)) UNARY_V(atanh, atanh(x))
UNARY(erf, T, erf(x)) UNARY_V(erf, v_erf(x))
UNARY(erfc, T, erfc(x)) UNARY_V(erfc, erfc(x))
UNARY(lgamma, T, lgamma(x)) UNARY_V(lgamma, lgamma(x))
UNARY(digamma, T, h_digamma(x))
UNARY(trigamma, T, h_trigamma(x))
UNARY(floor, T, floor(x))
UNARY(ceil, T, ceil(x))
UNARY(round, T, rint(x))
UNARY(trunc, T, trunc(x))
UNARY(frac, T, x - trunc(x))
UNARY(sigmoid, T, (T)1 / ((T)1 + exp(-x))) UNARY_V(sigmoid, (T)1 / ((T)1 + exp(-x)))
UNARY(logsigmoid, T, h_logsigmoid(x)) UNARY_V(logsigmoid, v_logsigmoid(x))
UNARY(leaky_relu, T, x < 0 ? x * p0 : x)
UNARY(elu, T, x > 0 ? x : p0 * expm1(x)) UNARY_V(elu, v_elu(x, p0, (T)1))      /* p0 = alpha */
UNARY(celu, T, x > 0 ? x : p0 * expm1(x / p0)) UNARY_V(celu, v_elu(x, p0, p0))
#define SELU_SCALE (T)1.0507009873554804934193349852946
#define SELU_ALPHA (T)1.6732632423543772848170429916717
UNARY(selu, T, SELU_SCALE * (x > 0 ? x : SELU_ALPHA * expm1(x)))
UNARY_V(selu, SELU_SCALE * v_elu(x, SELU_ALPHA, (T)1))
UNARY(gelu, T, (T)0.5 * x * ((T)1 + erf(x * (T)0.7071067811865476)))
UNARY_V(gelu, (T)0.5 * x * ((T)1 + v_erf(x * (T)0.7071067811865476)))
UNARY(gelu_tanh, T, GELU_TANH(x)) UNARY_V(gelu_tanh, GELU_TANH(x))
UNARY(silu, T, x / ((T)1 + exp(-x))) UNARY_V(silu, x / ((T)1 + exp(-x)))
UNARY(mish, T, x * tanh(h_softplus(x, (T)1, (T)20)))
UNARY_V(mish, x * tanh(v_softplus(x, (T)1, (T)20)))
UNARY(softplus, T, h_softplus(x, p0, p1))                      /* p0 = beta, p1 = threshold */
UNARY_V(softplus, v_softplus(x, p0, p1))
UNARY(softsign, T, x / ((T)1 + fabs(x))) UNARY_V(softsign, x / ((T)1 + fabs(x)))
UNARY(hardsigmoid, T, x <= (T)-3 ? (T)0 : (x >= (T)3 ? (T)1 : x / (T)6 + (T)0.5))
UNARY(hardswish, T, x <= (T)-3 ? (T)0 : (x >= (T)3 ? x : x * (x + (T)3) / (T)6))
UNARY(threshold, T, x > p0 ? x : p1)
UNARY(hardtanh, T, x < p0 ? p0 : (x > p1 ? p1 : x))   /* clamp's values; its own gradient */
/* ReLU's backward in one kernel, x = grad, y = relu's output: torch's threshold_backward(g, o, 0)
 * (y <= 0 gives 0; a NaN output passes the gradient, as in PyTorch) */
BINARY(threshold_backward, T, y <= 0 ? (T)0 : x)
/* Activation backwards in one kernel, x = the incoming gradient g, y = the op's input (or output
 * for sigmoid/tanh): the same formulas as the composed rules in clnet/ops/activations.py and
 * unary_math.py (tanh), which the host uses instead when the gradient itself is to be
 * differentiated. */
#define SIG(x) ((T)1 / ((T)1 + exp(-(x))))
#define GELU_BWD(g, x, ERF) ((g) * ((T)0.5 * ((T)1 + ERF((x) * (T)0.7071067811865476)) +           \
                               (x) * exp((x) * (x) * (T)-0.5) * (T)0.3989422804014327))
#define SILU_BWD(g, x) ((g) * SIG(x) * ((T)1 + (x) * ((T)1 - SIG(x))))
BINARY(sigmoid_backward, T, x * (y * ((T)1 - y))) BINARY_V(sigmoid_backward, x * (y * ((T)1 - y)))
BINARY(tanh_backward, T, x * ((T)1 - y * y)) BINARY_V(tanh_backward, x * ((T)1 - y * y))
BINARY(silu_backward, T, SILU_BWD(x, y)) BINARY_V(silu_backward, SILU_BWD(x, y))
BINARY(gelu_backward, T, GELU_BWD(x, y, erf)) BINARY_V(gelu_backward, GELU_BWD(x, y, v_erf))
/* d/dx 0.5 x (1 + tanh(u)), u = k (x + c x^3): 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2), with
 * e = exp(-2|u|): 0.5 (1 + t) = 1 / (1 + e) for u >= 0, e / (1 + e) else; 1 - t^2 = 4 e / (1 + e)^2.
 * No cancellation where tanh saturates (PoCL's tanh stops 1 ulp short of +-1, which made
 * 1 - t^2 ~1e-7 instead of 0 and the gradient at x = -100 ~1e-2 instead of -0). */
#define GELU_TANH_U(x) ((T)0.7978845608028654 * ((x) + (T)0.044715 * (x) * (x) * (x)))
#define GELU_TANH_RIGHT(x, e, r) ((T)2 * (x) * (e) * (r) * (r) *                                   \
                                  (T)0.7978845608028654 * ((T)1 + (T)0.134145 * (x) * (x)))
inline T h_gelu_tanh_bwd(T g, T x) {
    T u = GELU_TANH_U(x), e = exp((T)-2 * fabs(u)), r = (T)1 / ((T)1 + e);
    return g * ((u >= 0 ? r : e * r) + GELU_TANH_RIGHT(x, e, r));
}
inline TV v_gelu_tanh_bwd(TV g, TV x) {
    TV u = GELU_TANH_U(x), e = exp((T)-2 * fabs(u)), r = (T)1 / ((T)1 + e);
    return g * (select(e * r, r, u >= (T)0) + GELU_TANH_RIGHT(x, e, r));
}
BINARY(gelu_tanh_backward, T, h_gelu_tanh_bwd(x, y))
BINARY_V(gelu_tanh_backward, v_gelu_tanh_bwd(x, y))
/* softplus with beta = 1, threshold = 20 (the defaults; the host composes other cases): torch's
 * softplus_backward, z = exp(x): x > 20 ? g : g z / (z + 1) */
inline T h_softplus_bwd(T g, T x) { T z = exp(x); return x > (T)20 ? g : g * z / (z + (T)1); }
inline TV v_softplus_bwd(TV g, TV x) { TV z = exp(x); return select(g * z / (z + (T)1), g, x > (T)20); }
BINARY(softplus_backward, T, h_softplus_bwd(x, y)) BINARY_V(softplus_backward, v_softplus_bwd(x, y))
/* mish: t = tanh(softplus(x)); d/dx x t = t + x (1 - t^2) sigmoid(x) */
inline T h_mish_bwd(T g, T x) {
    T t = tanh(h_softplus(x, (T)1, (T)20));
    return g * (t + x * ((T)1 - t * t) * SIG(x));
}
inline TV v_mish_bwd(TV g, TV x) {
    TV t = tanh(v_softplus(x, (T)1, (T)20));
    return g * (t + x * ((T)1 - t * t) * SIG(x));
}
BINARY(mish_backward, T, h_mish_bwd(x, y)) BINARY_V(mish_backward, v_mish_bwd(x, y))
UNARY(nan_to_num, T, isnan(x) ? (T)0 : (isinf(x) ? (x > 0 ? p1 : p0) : x))  /* p0/p1 = -inf/+inf */
UNARY(isnan, uchar, isnan(x))
UNARY(isinf, uchar, isinf(x))
UNARY(isfinite, uchar, isfinite(x))
UNARY(signbit, uchar, signbit(x))
#endif

#ifdef IS_INT
BINARY(floordiv, T, int_floordiv(x, y))
BINARY(div_trunc, T, int_div_trunc(x, y))
BINARY(remainder, T, int_mod(x, y))
BINARY(fmod, T, (y == 0 || y == -1) ? 0 : x % y)
BINARY(pow, T, int_pow(x, y))
BINARY(maximum, T, max(x, y))
BINARY(minimum, T, min(x, y))
BINARY(bitwise_and, T, x & y)
BINARY(bitwise_or, T, x | y)
BINARY(bitwise_xor, T, x ^ y)
BINARY(lshift, T, x << y)
BINARY(rshift, T, x >> y)
UNARY(abs, T, (T)abs(x))          /* the builtin (see clamp above); abs(MIN) wraps like torch */
UNARY(sign, T, (T)((x > 0) - (x < 0)))
UNARY(bitwise_not, T, ~x)
#endif

#ifdef IS_BOOL
BINARY(add, T, x | y)
BINARY(mul, T, x & y)
BINARY(maximum, T, x | y)
BINARY(minimum, T, x & y)
BINARY(bitwise_and, T, x & y)
BINARY(bitwise_or, T, x | y)
BINARY(bitwise_xor, T, x ^ y)
UNARY(bitwise_not, T, x == 0)
#endif

/* ------------------------------------------------------------------ ternary ops */

/* where(c, a, b). mode bit 0: a is the scalar sa; bit 1: b is the scalar sb. The buffer of a
 * scalar side is a placeholder of type T with valid offsets: the other side, or the output itself
 * when both are scalars (each work-item then reads only the element it writes). where_c: every operand contiguous with the output's shape, CW
 * elements per work-item as in the binary _c kernels. */
__kernel void where_c(int n, __global const uchar* c, int coff, __global const T* a, int aoff,
                      __global const T* b, int boff, T sa, T sb, __global T* o, int ooff,
                      int mode) {
    int base = get_global_id(0) * CW;
    if (base >= n) return;
    c += coff; a += aoff; b += boff; o += ooff;
    if (base + CW <= n && (ooff & (CW - 1)) == 0) {
        TC x = (mode & 1) ? (TC)(sa) : (TC)(a[base], a[base + 1], a[base + 2], a[base + 3]);
        TC y = (mode & 2) ? (TC)(sb) : (TC)(b[base], b[base + 1], b[base + 2], b[base + 3]);
        TC r;
        r.s0 = c[base] ? x.s0 : y.s0;         r.s1 = c[base + 1] ? x.s1 : y.s1;
        r.s2 = c[base + 2] ? x.s2 : y.s2;     r.s3 = c[base + 3] ? x.s3 : y.s3;
        *(__global TC*)(o + base) = r;
    } else {
        int end = min(base + CW, n);
        for (int i = base; i < end; ++i)
            o[i] = c[i] ? ((mode & 1) ? sa : a[i]) : ((mode & 2) ? sb : b[i]);
    }
}

__kernel void where_n(int n, __global const uchar* c, __global const T* a,
                      __global const T* b, T sa, T sb, __global T* o, int mode, Strided m) {
    int off[MAXOPS];
    STRIDED_ITEM(m, n, 4, off);
    T x = a[off[2]], y = b[off[3]];    /* unconditional loads (placeholders are valid, above) */
    o[off[0]] = c[off[1]] ? ((mode & 1) ? sa : x) : ((mode & 2) ? sb : y);
}

#ifdef IS_FLOAT
__kernel void lerp_n(int n, __global const T* a, __global const T* b, __global const T* w,
                     T sw, __global T* o, int mode, Strided m) {
    int off[MAXOPS];
    STRIDED_ITEM(m, n, 4, off);
    T s = a[off[1]], e = b[off[2]];
    T wt = mode ? sw : w[off[3]];
    /* torch's formula: exact at both ends */
    o[off[0]] = fabs(wt) < (T)0.5 ? s + wt * (e - s) : e - (e - s) * ((T)1 - wt);
}
#endif

/* ------------------------------------------------------------------ chains of small ops
 * chain: up to 48 contiguous elementwise ops over the same n elements in one launch. The host
 * (clnet/kernels/chain.py) queues the ops of small tensors, whose cost is the launch, instead of
 * launching each, and launches them together before anything else uses the queue. A work-item
 * takes element i through the ops in order: what the ops' own _c kernels do one after another,
 * because the host never queues an op that touches a buffer another queued op uses at another
 * offset. The ops are the same op_NAME functions the _c kernels call: the same bits.
 *
 * Op k is code[k] = opcode | a << 8 | b << 15 | o << 22. An operand a or b is a buffer slot
 * (0..15: buffer s at element offset off[s]), an earlier op's result (16 + its index: kept in a
 * register, so a result no one reads later is never stored), or 127 for the op's scalar sa[k] /
 * sb[k] (binary mode 2 / mode 1). A unary op reads a and gets p0 = sa[k], p1 = sb[k]. The result
 * is stored to slot o, or nowhere when o is 31 (the host found its tensor gone, or a later op
 * writes the same place). The op lists below are also read by chain.py (one source for the
 * opcodes).
 */
#if defined(IS_FLOAT) && !defined(HAS_FP16)
#define CHAIN_BINARY(X) X(1, add) X(2, sub) X(3, mul) X(4, div) X(5, maximum) X(6, minimum)      \
    X(7, fmax) X(8, fmin) X(9, copysign) X(10, floordiv) X(11, remainder) X(12, fmod)            \
    X(13, pow) X(14, atan2) X(15, hypot) X(16, div_trunc) X(17, threshold_backward)              \
    X(18, sigmoid_backward) X(19, tanh_backward) X(20, silu_backward) X(21, gelu_backward)       \
    X(22, gelu_tanh_backward) X(23, softplus_backward) X(24, mish_backward)
#define CHAIN_UNARY(X) X(64, neg) X(65, square) X(66, clamp) X(67, relu) X(68, abs) X(69, sign)  \
    X(70, exp) X(71, exp2) X(72, expm1) X(73, log) X(74, log2) X(75, log10) X(76, log1p)         \
    X(77, sqrt) X(78, rsqrt) X(79, reciprocal) X(80, sin) X(81, cos) X(82, tan) X(83, asin)      \
    X(84, acos) X(85, atan) X(86, sinh) X(87, cosh) X(88, tanh) X(89, asinh) X(90, acosh)        \
    X(91, atanh) X(92, erf) X(93, erfc) X(94, sigmoid) X(95, logsigmoid) X(96, silu)             \
    X(97, mish) X(98, softsign) X(99, hardsigmoid) X(100, hardswish) X(101, selu) X(102, elu)    \
    X(103, celu) X(104, gelu) X(105, gelu_tanh) X(106, softplus) X(107, leaky_relu)              \
    X(108, hardtanh) X(109, threshold) X(110, floor) X(111, ceil) X(112, round) X(113, trunc)    \
    X(114, frac) X(115, nan_to_num) X(116, cube) X(117, inv_square)
#define CHAIN_CASE_B(CODE, NAME) case CODE: r = op_##NAME(x, y); break;
#define CHAIN_CASE_U(CODE, NAME) case CODE: r = op_##NAME(x, pa[k], pb[k]); break;
#define TS CAT(T, 16)

__kernel void chain(int n, int nops, int16 c0, int16 c1, int16 c2, TS a0, TS a1, TS a2, TS b0,
                    TS b1, TS b2, int16 off,
                    __global T* s0, __global T* s1, __global T* s2, __global T* s3,
                    __global T* s4, __global T* s5, __global T* s6, __global T* s7,
                    __global T* s8, __global T* s9, __global T* s10, __global T* s11,
                    __global T* s12, __global T* s13, __global T* s14, __global T* s15) {
    int i = get_global_id(0);
    if (i >= n) return;
    __global T* s[16] = {s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15};
    int c[48], o[16];
    T pa[48], pb[48], res[48];
    vstore16(c0, 0, c); vstore16(c1, 1, c); vstore16(c2, 2, c);
    vstore16(a0, 0, pa); vstore16(a1, 1, pa); vstore16(a2, 2, pa);
    vstore16(b0, 0, pb); vstore16(b1, 1, pb); vstore16(b2, 2, pb);
    vstore16(off, 0, o);
    for (int k = 0; k < nops; ++k) {
        int w = c[k], ia = (w >> 8) & 127, ib = (w >> 15) & 127, io = (w >> 22) & 31;
        T x = ia < 16 ? s[ia][o[ia] + i] : (ia == 127 ? pa[k] : res[ia - 16]);
        T y = ib < 16 ? s[ib][o[ib] + i] : (ib == 127 ? pb[k] : res[ib - 16]);
        T r;
        switch (w & 255) {
            CHAIN_BINARY(CHAIN_CASE_B)
            CHAIN_UNARY(CHAIN_CASE_U)
            default: r = x; break;
        }
        res[k] = r;
        if (io != 31) s[io][o[io] + i] = r;
    }
}
#endif
