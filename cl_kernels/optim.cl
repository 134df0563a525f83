/* Fused optimizer updates: one kernel launch updates one parameter and its state in place.
 *
 * Every kernel reads the gradient, the parameter and the optimizer's state buffers once and writes
 * the parameter and the state once, following PyTorch's single-tensor formulas step by step (same
 * operation order, so float32 trajectories agree to rounding). Host-known quantities (step counts,
 * bias corrections, decayed learning rates) arrive as scalars computed by the host in double and
 * rounded to T, as PyTorch rounds a Python-float scalar to the tensor's type.
 *
 * Layout: parameter and gradient are contiguous runs starting at element offsets poff/goff;
 * state buffers are contiguous from 0. Flags are uniform over a launch (no divergence).
 * Buffers a configuration does not use are passed as the parameter's buffer and never touched.
 */
#include "common.h"

#define F_MAXIMIZE  1   /* ascend: use -grad */
#define F_NESTEROV  2   /* SGD */
#define F_FIRST     4   /* SGD: first step, momentum buffer starts as the gradient */
#define F_MOMENTUM  8   /* SGD / RMSprop: keep a momentum buffer */
#define F_AMSGRAD  16   /* Adam(W): keep the running max of the second moment */
#define F_CENTERED 32   /* RMSprop: subtract the squared mean gradient */

/* grad with maximize and (coupled) L2 weight decay applied: grad + wd * param (skipped when
 * wd == 0, as PyTorch does, so an infinite parameter does not turn the gradient into NaN) */
#define EFFECTIVE_GRAD(T, g, p, wd, flags) \
    ((((flags) & F_MAXIMIZE) ? -(g) : (g)) + ((wd) != 0 ? (wd) * (p) : (T)0))

#define OPTIM_KERNELS(T)                                                                        \
/* SGD: d = g + wd*p; buf = first ? d : momentum*buf + (1-dampening)*d;                         \
 * d = nesterov ? d + momentum*buf : buf; p -= lr*d */                                          \
__kernel void sgd_##T(int n, __global T* param, int poff, __global const T* grad, int goff,    \
                      __global T* buf, T lr, T momentum, T one_minus_dampening, T wd,           \
                      int flags) {                                                              \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T p = param[poff + i];                                                                      \
    T d = EFFECTIVE_GRAD(T, grad[goff + i], p, wd, flags);                                      \
    if (flags & F_MOMENTUM) {                                                                   \
        T b = (flags & F_FIRST) ? d : buf[i] * momentum + one_minus_dampening * d;              \
        buf[i] = b;                                                                             \
        d = (flags & F_NESTEROV) ? d + momentum * b : b;                                        \
    }                                                                                           \
    param[poff + i] = p - lr * d;                                                               \
}                                                                                               \
                                                                                                \
/* Adam / AdamW: p *= decay (AdamW's decoupled decay, 1 for Adam); g += wd*p (Adam's L2);       \
 * m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g; vmax = max(vmax, v) (amsgrad);         \
 * p -= step_size * m / (sqrt(v)/bc2_sqrt + eps) */                                             \
__kernel void adam_##T(int n, __global T* param, int poff, __global const T* grad, int goff,   \
                       __global T* exp_avg, __global T* exp_avg_sq, __global T* max_exp_avg_sq, \
                       T decay, T wd, T one_minus_beta1, T beta2, T one_minus_beta2,            \
                       T step_size, T bc2_sqrt, T eps, int flags) {                             \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T p = param[poff + i] * decay;                                                              \
    T g = EFFECTIVE_GRAD(T, grad[goff + i], p, wd, flags);                                      \
    T m = exp_avg[i];                                                                           \
    m = m + one_minus_beta1 * (g - m);                                                          \
    T v = exp_avg_sq[i] * beta2 + one_minus_beta2 * g * g;                                      \
    exp_avg[i] = m;                                                                             \
    exp_avg_sq[i] = v;                                                                          \
    if (flags & F_AMSGRAD) {                                                                    \
        v = max(max_exp_avg_sq[i], v);                                                          \
        max_exp_avg_sq[i] = v;                                                                  \
    }                                                                                           \
    T denom = sqrt(v) / bc2_sqrt + eps;                                                         \
    param[poff + i] = p - step_size * (m / denom);                                              \
}                                                                                               \
                                                                                                \
/* RMSprop: s = alpha*s + (1-alpha)*g*g; centered: a = lerp(a, g, 1-alpha), s' = s - a*a;      \
 * avg = sqrt(s') + eps; momentum: buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg */\
__kernel void rmsprop_##T(int n, __global T* param, int poff, __global const T* grad, int goff,\
                          __global T* square_avg, __global T* grad_avg, __global T* buf,        \
                          T lr, T alpha, T one_minus_alpha, T eps, T wd, T momentum,            \
                          int flags) {                                                          \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T p = param[poff + i];                                                                      \
    T g = EFFECTIVE_GRAD(T, grad[goff + i], p, wd, flags);                                      \
    T s = square_avg[i] * alpha + one_minus_alpha * g * g;                                      \
    square_avg[i] = s;                                                                          \
    if (flags & F_CENTERED) {                                                                   \
        T a = grad_avg[i];                                                                      \
        a = a + one_minus_alpha * (g - a);                                                      \
        grad_avg[i] = a;                                                                        \
        s = s - a * a;                                                                          \
    }                                                                                           \
    T avg = sqrt(s) + eps;                                                                      \
    if (flags & F_MOMENTUM) {                                                                   \
        T b = buf[i] * momentum + g / avg;                                                      \
        buf[i] = b;                                                                             \
        param[poff + i] = p - lr * b;                                                           \
    } else {                                                                                    \
        param[poff + i] = p - lr * (g / avg);                                                   \
    }                                                                                           \
}                                                                                               \
                                                                                                \
/* Adagrad: sum += g*g; p -= clr * g / (sqrt(sum) + eps), clr = lr / (1 + (step-1)*lr_decay) */ \
__kernel void adagrad_##T(int n, __global T* param, int poff, __global const T* grad, int goff,\
                          __global T* state_sum, T clr, T eps, T wd, int flags) {               \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T p = param[poff + i];                                                                      \
    T g = EFFECTIVE_GRAD(T, grad[goff + i], p, wd, flags);                                      \
    T s = state_sum[i] + g * g;                                                                 \
    state_sum[i] = s;                                                                           \
    param[poff + i] = p - clr * (g / (sqrt(s) + eps));                                          \
}                                                                                               \
                                                                                                \
/* Adadelta: s = rho*s + (1-rho)*g*g; delta = sqrt(acc+eps)/sqrt(s+eps)*g;                      \
 * acc = rho*acc + (1-rho)*delta^2; p -= lr*delta */                                            \
__kernel void adadelta_##T(int n, __global T* param, int poff, __global const T* grad,         \
                           int goff, __global T* square_avg, __global T* acc_delta,             \
                           T lr, T rho, T one_minus_rho, T eps, T wd, int flags) {              \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T p = param[poff + i];                                                                      \
    T g = EFFECTIVE_GRAD(T, grad[goff + i], p, wd, flags);                                      \
    T s = square_avg[i] * rho + one_minus_rho * g * g;                                          \
    square_avg[i] = s;                                                                          \
    T acc = acc_delta[i];                                                                       \
    T delta = sqrt(acc + eps) / sqrt(s + eps) * g;                                              \
    acc_delta[i] = acc * rho + one_minus_rho * delta * delta;                                   \
    param[poff + i] = p - lr * delta;                                                           \
}

OPTIM_KERNELS(float)

#ifdef HAS_FP64
OPTIM_KERNELS(double)
#endif
