/* Multi-tensor kernels: one launch works on a chunk of up to K tensors (PyTorch's foreach/fused
 * kernels), for the optimizer updates, zero_grad's fill and gradient clipping.
 *
 * OpenCL 1.2 has no arrays of pointers as kernel arguments, so a kernel taking L tensor lists
 * takes K buffers per list (MT_ARGS(name): name0 ... name<K-1>) and one MTMeta<L> struct by value:
 * n[k] the element count of tensor k, off[l][k] its element offset in list l's buffer, and
 * start[k] the prefix sums of the counts, each rounded up to whole tiles of TILE elements
 * (start[K] the total; slots past the chunk's count repeat it). Work-group g takes tile g: its
 * tensor t is the number of start[1..K-1] at or below g * TILE (the host launches start[K] / TILE
 * work-groups of LS work-items), and its LS work-items share the tile's elements, interleaved
 * (LS = 1 on CPU drivers: one work-item walks the tile, a plain loop the compiler vectorises;
 * GPUs: consecutive work-items read consecutive elements). The tensor, its buffers and offsets
 * are found once per tile; a per-element search over the K tensors, picking buffers per work-item,
 * was 8-20x slower per element on PoCL (measured). Empty tensors have start[t] == start[t+1] and
 * are never picked; unused slots get any valid buffer.
 *
 * Defines: K (tensors per launch: the host takes the largest that fits the device's
 * CL_DEVICE_MAX_PARAMETER_SIZE), TILE and LS (above; the norm's partials take LS alone), S (storage type of the tensors: float, double, half, bfloat16)
 * and C (its compute type: float for the 16-bit ones, which are read as float, computed in float
 * and written back rounded once, as PyTorch's fused kernels do), and one program group:
 *   MT_UPDATES     the optimizer updates (rules of optim_rules.h, shared with optim.cl)
 *   MT_ELEMENTWISE fill (zero_grad), scale by a device scalar (clip_grad_norm_), clamp
 *   MT_NORM        per-tensor partial norms, with A the accumulation type (float/double) and
 *                  NK the norm kind (NK_* below)
 *   MT_NORM_FINISH the total norm and clip coefficient from the partials (A; R its dtype)
 * so each program holds only kernels that are launched from it.
 */
#include "common.h"
#include "float16.h"
#include "optim_rules.h"

/* MT_REP<K>(M, a): M(a, 0) M(a, 1) ... M(a, K-1) */
#define MT_REP1(M, a) M(a, 0)
#define MT_REP2(M, a) MT_REP1(M, a) M(a, 1)
#define MT_REP4(M, a) MT_REP2(M, a) M(a, 2) M(a, 3)
#define MT_REP8(M, a) MT_REP4(M, a) M(a, 4) M(a, 5) M(a, 6) M(a, 7)
#define MT_REP16(M, a) MT_REP8(M, a) M(a, 8) M(a, 9) M(a, 10) M(a, 11) M(a, 12) M(a, 13) \
    M(a, 14) M(a, 15)
#define MT_REP32(M, a) MT_REP16(M, a) M(a, 16) M(a, 17) M(a, 18) M(a, 19) M(a, 20) M(a, 21) \
    M(a, 22) M(a, 23) M(a, 24) M(a, 25) M(a, 26) M(a, 27) M(a, 28) M(a, 29) M(a, 30) M(a, 31)
#define MT_REP CAT(MT_REP, K)

#define MT_ARG_(a, k) , __global S* a##k
#define MT_ARG_RO_(a, k) , __global const S* a##k
#define MT_ARGS(a) MT_REP(MT_ARG_, a)          /* K writable buffers a0..a<K-1> */
#define MT_ARGS_RO(a) MT_REP(MT_ARG_RO_, a)    /* K read-only buffers */
#define MT_SEL_(a, k) t_ == k ? a##k :
#define MT_PICK(a) (MT_REP(MT_SEL_, a) a##0)   /* buffer a of this work-item's tensor */

#define MT_META(L) typedef struct { int start[K + 1]; int n[K]; int off[L][K]; } MTMeta##L;
MT_META(1)
MT_META(3)
MT_META(4)
MT_META(5)

/* this work-group's tensor t_ and its tile [lo_, hi_) of the tensor's elements */
#define MT_LOCATE(m)                                                          \
    int g_ = get_group_id(0) * TILE;                                          \
    int t_ = 0;                                                               \
    for (int k_ = 1; k_ < K; ++k_) t_ += (g_ >= (m).start[k_]);               \
    int lo_ = g_ - (m).start[t_];                                             \
    int hi_ = min((m).n[t_], lo_ + TILE);
/* for each element j_ of the tile this work-item takes */
#define MT_EACH for (int j_ = lo_ + (int)get_local_id(0); j_ < hi_; j_ += LS)
/* list l's buffer of this tensor, from its element 0 */
#define MT_BASE(m, a, l) (MT_PICK(a) + (m).off[l][t_])
#define LD(p, i) CAT(LOAD_, S)(p, i)
#define ST(p, i, v) CAT(STORE_, S)(p, i, v)

#ifdef MT_UPDATES
#define OPTIM_RULES_FOR(T) OPTIM_RULES(T)    /* C expanded before OPTIM_RULES pastes it */
OPTIM_RULES_FOR(C)
#define RULE(name) CAT(name, CAT(_rule_, C))

/* lists: param, grad, buf */
__kernel void mt_sgd(MTMeta3 m MT_ARGS(param) MT_ARGS_RO(grad) MT_ARGS(buf),
                     C lr, C momentum, C one_minus_dampening, C wd, int flags) {
    MT_LOCATE(m)
    __global S* param = MT_BASE(m, param, 0);
    __global const S* grad = MT_BASE(m, grad, 1);
    __global S* buf = MT_BASE(m, buf, 2);
    MT_EACH {
        C b = SGD_READS_BUF(flags) ? LD(buf, j_) : (C)0;
        C p = RULE(sgd)(LD(param, j_), LD(grad, j_), &b, lr, momentum, one_minus_dampening, wd,
                        flags);
        ST(param, j_, p);
        if (flags & F_MOMENTUM) ST(buf, j_, b);
    }
}

/* lists: param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq */
__kernel void mt_adam(MTMeta5 m MT_ARGS(param) MT_ARGS_RO(grad) MT_ARGS(exp_avg)
                      MT_ARGS(exp_avg_sq) MT_ARGS(max_exp_avg_sq),
                      C decay, C wd, C one_minus_beta1, C beta2, C one_minus_beta2, C step_size,
                      C bc2_sqrt, C eps, int flags) {
    MT_LOCATE(m)
    __global S* param = MT_BASE(m, param, 0);
    __global const S* grad = MT_BASE(m, grad, 1);
    __global S* exp_avg = MT_BASE(m, exp_avg, 2);
    __global S* exp_avg_sq = MT_BASE(m, exp_avg_sq, 3);
    __global S* max_exp_avg_sq = MT_BASE(m, max_exp_avg_sq, 4);
    MT_EACH {
        C mm = LD(exp_avg, j_), v = LD(exp_avg_sq, j_);
        C vmax = (flags & F_AMSGRAD) ? LD(max_exp_avg_sq, j_) : (C)0;
        C p = RULE(adam)(LD(param, j_), LD(grad, j_), &mm, &v, &vmax, decay, wd,
                         one_minus_beta1, beta2, one_minus_beta2, step_size, bc2_sqrt, eps,
                         flags);
        ST(param, j_, p);
        ST(exp_avg, j_, mm);
        ST(exp_avg_sq, j_, v);
        if (flags & F_AMSGRAD) ST(max_exp_avg_sq, j_, vmax);
    }
}

/* lists: param, grad, square_avg, grad_avg, buf */
__kernel void mt_rmsprop(MTMeta5 m MT_ARGS(param) MT_ARGS_RO(grad) MT_ARGS(square_avg)
                         MT_ARGS(grad_avg) MT_ARGS(buf),
                         C lr, C alpha, C one_minus_alpha, C eps, C wd, C momentum, int flags) {
    MT_LOCATE(m)
    __global S* param = MT_BASE(m, param, 0);
    __global const S* grad = MT_BASE(m, grad, 1);
    __global S* square_avg = MT_BASE(m, square_avg, 2);
    __global S* grad_avg = MT_BASE(m, grad_avg, 3);
    __global S* buf = MT_BASE(m, buf, 4);
    MT_EACH {
        C s = LD(square_avg, j_);
        C a = (flags & F_CENTERED) ? LD(grad_avg, j_) : (C)0;
        C b = (flags & F_MOMENTUM) ? LD(buf, j_) : (C)0;
        C p = RULE(rmsprop)(LD(param, j_), LD(grad, j_), &s, &a, &b, lr, alpha,
                            one_minus_alpha, eps, wd, momentum, flags);
        ST(param, j_, p);
        ST(square_avg, j_, s);
        if (flags & F_CENTERED) ST(grad_avg, j_, a);
        if (flags & F_MOMENTUM) ST(buf, j_, b);
    }
}

/* lists: param, grad, state_sum */
__kernel void mt_adagrad(MTMeta3 m MT_ARGS(param) MT_ARGS_RO(grad) MT_ARGS(state_sum),
                         C clr, C eps, C wd, int flags) {
    MT_LOCATE(m)
    __global S* param = MT_BASE(m, param, 0);
    __global const S* grad = MT_BASE(m, grad, 1);
    __global S* state_sum = MT_BASE(m, state_sum, 2);
    MT_EACH {
        C s = LD(state_sum, j_);
        C p = RULE(adagrad)(LD(param, j_), LD(grad, j_), &s, clr, eps, wd, flags);
        ST(param, j_, p);
        ST(state_sum, j_, s);
    }
}

/* lists: param, grad, square_avg, acc_delta */
__kernel void mt_adadelta(MTMeta4 m MT_ARGS(param) MT_ARGS_RO(grad) MT_ARGS(square_avg)
                          MT_ARGS(acc_delta),
                          C lr, C rho, C one_minus_rho, C eps, C wd, int flags) {
    MT_LOCATE(m)
    __global S* param = MT_BASE(m, param, 0);
    __global const S* grad = MT_BASE(m, grad, 1);
    __global S* square_avg = MT_BASE(m, square_avg, 2);
    __global S* acc_delta = MT_BASE(m, acc_delta, 3);
    MT_EACH {
        C s = LD(square_avg, j_), acc = LD(acc_delta, j_);
        C p = RULE(adadelta)(LD(param, j_), LD(grad, j_), &s, &acc, lr, rho, one_minus_rho, eps,
                             wd, flags);
        ST(param, j_, p);
        ST(square_avg, j_, s);
        ST(acc_delta, j_, acc);
    }
}
#endif  /* MT_UPDATES */

#ifdef MT_ELEMENTWISE
/* x = value (zero_grad(set_to_none=False)) */
__kernel void mt_fill(MTMeta1 m MT_ARGS(x), C value) {
    MT_LOCATE(m)
    __global S* x = MT_BASE(m, x, 0);
    MT_EACH ST(x, j_, value);
}

/* x *= coef[coef_off] (PyTorch's _foreach_mul_ by a device scalar: clip_grads_with_norm_) */
__kernel void mt_scale(MTMeta1 m MT_ARGS(x), __global const C* coef, int coef_off) {
    MT_LOCATE(m)
    __global S* x = MT_BASE(m, x, 0);
    C c = coef[coef_off];
    MT_EACH ST(x, j_, LD(x, j_) * c);
}

/* x = clamp(x, lo, hi), NaN kept (PyTorch's clamp_min_ then clamp_max_: clip_grad_value_) */
__kernel void mt_clamp(MTMeta1 m MT_ARGS(x), C lo, C hi) {
    MT_LOCATE(m)
    __global S* x = MT_BASE(m, x, 0);
    MT_EACH {
        C v = LD(x, j_);
        v = v < lo ? lo : v;
        ST(x, j_, v > hi ? hi : v);
    }
}
#endif  /* MT_ELEMENTWISE */

#if defined(MT_NORM) || defined(MT_NORM_FINISH)
/* norm kinds (kernels/multi_tensor.py's NORM_KINDS): the partial is a sum of |x|^p (P), of |x|
 * (L1), of x*x (L2), a max (INF) or min (NEG_INF) of |x|, or a count of x != 0 (ZERO) */
#define NK_P 0
#define NK_L1 1
#define NK_L2 2
#define NK_INF 3
#define NK_NEG_INF 4
#define NK_ZERO 5

inline A norm_identity(int kind) { return kind == NK_NEG_INF ? (A)INFINITY : (A)0; }

/* max/min that keep a NaN (a NaN gradient makes the inf-norm NaN, as in PyTorch) */
inline A nan_max(A a, A b) { return (b > a || isnan(b)) && !isnan(a) ? b : a; }
inline A nan_min(A a, A b) { return (b < a || isnan(b)) && !isnan(a) ? b : a; }

/* acc with element value v folded in */
inline A norm_fold(A acc, A v, int kind, A p) {
    A a = fabs(v);
    switch (kind) {
        case NK_L1: return acc + a;
        case NK_L2: return acc + v * v;
        case NK_INF: return nan_max(acc, a);
        case NK_NEG_INF: return nan_min(acc, a);
        case NK_ZERO: return acc + (v != (A)0 ? (A)1 : (A)0);
        default: return acc + pow(a, p);
    }
}

/* two partials combined */
inline A norm_combine(A a, A b, int kind) {
    return kind == NK_INF ? nan_max(a, b) : kind == NK_NEG_INF ? nan_min(a, b) : a + b;
}
#endif

#ifdef MT_NORM
/* Partial norms of a chunk's tensors, of kind NK (a define, so the fold is one instruction or
 * two): work-group (g, t) of a (groups*LS, count) launch folds the g-th of `groups` contiguous
 * slices of tensor t (its LS work-items interleaved within it, each keeping four partials so that
 * the additions do not wait on each other) and writes partials[part_off + (first + t) * groups +
 * g]; `first` is the chunk's first tensor. */
__kernel void mt_norm_partial(MTMeta1 m MT_ARGS_RO(x), __global A* partials, int part_off,
                              int first, int groups, A p) {
    int t_ = get_global_id(1), g = get_group_id(0), l = get_local_id(0);
    __global const S* x = MT_PICK(x) + m.off[0][t_];
    int n = m.n[t_];
    int per = (n + groups - 1) / groups;
    int lo = g * per, hi = min(n, lo + per);
    A a0 = norm_identity(NK), a1 = a0, a2 = a0, a3 = a0;
    int j = lo + l;
    for (; j + 3 * LS < hi; j += 4 * LS) {
        a0 = norm_fold(a0, (A)LD(x, j), NK, p);
        a1 = norm_fold(a1, (A)LD(x, j + LS), NK, p);
        a2 = norm_fold(a2, (A)LD(x, j + 2 * LS), NK, p);
        a3 = norm_fold(a3, (A)LD(x, j + 3 * LS), NK, p);
    }
    for (; j < hi; j += LS) a0 = norm_fold(a0, (A)LD(x, j), NK, p);
    A acc = norm_combine(norm_combine(a0, a1, NK), norm_combine(a2, a3, NK), NK);
#if LS > 1
    __local A tree[LS];
    tree[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LS / 2; s > 0; s >>= 1) {
        if (l < s) tree[l] = norm_combine(tree[l], tree[l + s], NK);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    acc = tree[0];
#endif
    if (l == 0) partials[part_off + (first + t_) * groups + g] = acc;
}
#endif  /* MT_NORM */

#ifdef MT_NORM_FINISH
/* v rounded to R, as a tensor of dtype R holds it: stored to the output element and read back
 * (OpenCL 1.2 has no private half variables to round through) */
#define ROUND_R(v) (CAT(STORE_, R)(total, total_off, (v)), (A)CAT(LOAD_, R)(total, total_off))

/* a per-tensor (or total) norm from its folded value, before rounding */
inline A norm_final(A acc, int kind, A p) {
    return kind == NK_P ? pow(acc, (A)1 / p) : kind == NK_L2 ? sqrt(acc) : acc;
}

/* One work-item: tensor t's norm from its `groups` partials, then the total as PyTorch's
 * clip_grad_norm_ computes it, the norm of the stacked per-tensor norms (the same kind of norm:
 * for norm_type 0, the number of tensors with a nonzero norm), written to total[total_off] (an R
 * tensor), and the clip coefficient min(max_norm / (total + 1e-6), 1) to coef[coef_off]. */
__kernel void mt_norm_finish(__global const A* partials, int part_off, int ntensors, int groups,
                             int kind, A p, A max_norm, __global R* total, int total_off,
                             __global A* coef, int coef_off) {
    if (get_global_id(0) != 0) return;
    A acc = norm_identity(kind);
    for (int t = 0; t < ntensors; ++t) {
        A part = norm_identity(kind);
        for (int g = 0; g < groups; ++g)
            part = norm_combine(part, partials[part_off + t * groups + g], kind);
        acc = norm_fold(acc, ROUND_R(norm_final(part, kind, p)), kind, p);
    }
    A norm = ROUND_R(norm_final(acc, kind, p));
    A c = ROUND_R(max_norm / ROUND_R(norm + (A)1e-6));
    CAT(STORE_, R)(total, total_off, norm);     /* ROUND_R used the element as scratch */
    coef[coef_off] = c > (A)1 ? (A)1 : c;
}
#endif  /* MT_NORM_FINISH */
