/* Fused optimizer updates: one kernel launch updates one parameter and its state in place (the
 * single-tensor path, foreach=False; multi_tensor.cl runs the same rules over many parameters in
 * one launch).
 *
 * Every kernel reads the gradient, the parameter and the optimizer's state buffers once and writes
 * the parameter and the state once, through the rules of optim_rules.h (PyTorch's single-tensor
 * formulas, shared with multi_tensor.cl so both paths give the same bits).
 *
 * Layout: parameter and gradient are contiguous runs starting at element offsets poff/goff;
 * state buffers are contiguous from 0. Flags are uniform over a launch (no divergence).
 * Buffers a configuration does not use are passed as the parameter's buffer and never touched.
 */
#include "common.h"
#include "optim_rules.h"

#define OPTIM_KERNELS(T)                                                                        \
OPTIM_RULES(T)                                                                                  \
                                                                                                \
__kernel void sgd_##T(int n, __global T* param, int poff, __global const T* grad, int goff,    \
                      __global T* buf, T lr, T momentum, T one_minus_dampening, T wd,           \
                      int flags) {                                                              \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T b = SGD_READS_BUF(flags) ? buf[i] : (T)0;                                                 \
    param[poff + i] = sgd_rule_##T(param[poff + i], grad[goff + i], &b, lr, momentum,           \
                                   one_minus_dampening, wd, flags);                             \
    if (flags & F_MOMENTUM) buf[i] = b;                                                         \
}                                                                                               \
                                                                                                \
__kernel void adam_##T(int n, __global T* param, int poff, __global const T* grad, int goff,   \
                       __global T* exp_avg, __global T* exp_avg_sq, __global T* max_exp_avg_sq, \
                       T decay, T wd, T one_minus_beta1, T beta2, T one_minus_beta2,            \
                       T step_size, T bc2_sqrt, T eps, int flags) {                             \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T m = exp_avg[i], v = exp_avg_sq[i];                                                        \
    T vmax = (flags & F_AMSGRAD) ? max_exp_avg_sq[i] : (T)0;                                    \
    param[poff + i] = adam_rule_##T(param[poff + i], grad[goff + i], &m, &v, &vmax, decay, wd,  \
                                    one_minus_beta1, beta2, one_minus_beta2, step_size,         \
                                    bc2_sqrt, eps, flags);                                      \
    exp_avg[i] = m;                                                                             \
    exp_avg_sq[i] = v;                                                                          \
    if (flags & F_AMSGRAD) max_exp_avg_sq[i] = vmax;                                            \
}                                                                                               \
                                                                                                \
__kernel void rmsprop_##T(int n, __global T* param, int poff, __global const T* grad, int goff,\
                          __global T* square_avg, __global T* grad_avg, __global T* buf,        \
                          T lr, T alpha, T one_minus_alpha, T eps, T wd, T momentum,            \
                          int flags) {                                                          \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T s = square_avg[i];                                                                        \
    T a = (flags & F_CENTERED) ? grad_avg[i] : (T)0;                                            \
    T b = (flags & F_MOMENTUM) ? buf[i] : (T)0;                                                 \
    param[poff + i] = rmsprop_rule_##T(param[poff + i], grad[goff + i], &s, &a, &b, lr, alpha,  \
                                       one_minus_alpha, eps, wd, momentum, flags);              \
    square_avg[i] = s;                                                                          \
    if (flags & F_CENTERED) grad_avg[i] = a;                                                    \
    if (flags & F_MOMENTUM) buf[i] = b;                                                         \
}                                                                                               \
                                                                                                \
__kernel void adagrad_##T(int n, __global T* param, int poff, __global const T* grad, int goff,\
                          __global T* state_sum, T clr, T eps, T wd, int flags) {               \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T s = state_sum[i];                                                                         \
    param[poff + i] = adagrad_rule_##T(param[poff + i], grad[goff + i], &s, clr, eps, wd,       \
                                       flags);                                                  \
    state_sum[i] = s;                                                                           \
}                                                                                               \
                                                                                                \
__kernel void adadelta_##T(int n, __global T* param, int poff, __global const T* grad,         \
                           int goff, __global T* square_avg, __global T* acc_delta,             \
                           T lr, T rho, T one_minus_rho, T eps, T wd, int flags) {              \
    int i = get_global_id(0);                                                                   \
    if (i >= n) return;                                                                         \
    T s = square_avg[i], acc = acc_delta[i];                                                    \
    param[poff + i] = adadelta_rule_##T(param[poff + i], grad[goff + i], &s, &acc, lr, rho,     \
                                        one_minus_rho, eps, wd, flags);                         \
    square_avg[i] = s;                                                                          \
    acc_delta[i] = acc;                                                                         \
}

OPTIM_KERNELS(float)

#ifdef HAS_FP64
OPTIM_KERNELS(double)
#endif
