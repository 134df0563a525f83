/* The per-element update rules of the optimizers, shared by optim.cl (one launch per parameter)
 * and multi_tensor.cl (one launch per chunk of parameters), so that both paths run the same
 * expressions and give the same bits.
 *
 * Each rule takes the parameter and gradient values and pointers to the state values (private
 * variables the kernel loaded; a state the flags leave unused is neither read nor written), and
 * returns the new parameter value. The expressions follow PyTorch's single-tensor formulas step by
 * step (same operation order, so float32 trajectories agree to rounding). Host-known quantities
 * (step counts, bias corrections, decayed learning rates) arrive as scalars the host computed in
 * double and rounded to C, as PyTorch rounds a Python-float scalar to the tensor's type.
 *
 * OPTIM_RULES(C) stamps the rules out for a compute type C (float, double).
 */
#ifndef CLNET_OPTIM_RULES_H
#define CLNET_OPTIM_RULES_H

#define F_MAXIMIZE  1   /* ascend: use -grad */
#define F_NESTEROV  2   /* SGD */
#define F_FIRST     4   /* SGD: first step, momentum buffer starts as the gradient */
#define F_MOMENTUM  8   /* SGD / RMSprop: keep a momentum buffer */
#define F_AMSGRAD  16   /* Adam(W): keep the running max of the second moment */
#define F_CENTERED 32   /* RMSprop: subtract the squared mean gradient */

/* grad with maximize and (coupled) L2 weight decay applied: grad + wd * param (skipped when
 * wd == 0, as PyTorch does, so an infinite parameter does not turn the gradient into NaN) */
#define EFFECTIVE_GRAD(C, g, p, wd, flags) \
    ((((flags) & F_MAXIMIZE) ? -(g) : (g)) + ((wd) != 0 ? (wd) * (p) : (C)0))

/* whether a rule reads a state before writing it (the kernels load only those) */
#define SGD_READS_BUF(flags) (((flags) & F_MOMENTUM) && !((flags) & F_FIRST))

#define OPTIM_RULES(C)                                                                          \
/* SGD: d = g + wd*p; buf = first ? d : momentum*buf + (1-dampening)*d;                         \
 * d = nesterov ? d + momentum*buf : buf; p -= lr*d */                                          \
inline C sgd_rule_##C(C p, C g, C* buf, C lr, C momentum, C one_minus_dampening, C wd,         \
                      int flags) {                                                              \
    C d = EFFECTIVE_GRAD(C, g, p, wd, flags);                                                   \
    if (flags & F_MOMENTUM) {                                                                   \
        C b = (flags & F_FIRST) ? d : *buf * momentum + one_minus_dampening * d;                \
        *buf = b;                                                                               \
        d = (flags & F_NESTEROV) ? d + momentum * b : b;                                        \
    }                                                                                           \
    return p - lr * d;                                                                          \
}                                                                                               \
                                                                                                \
/* Adam / AdamW: p *= decay (AdamW's decoupled decay, 1 for Adam); g += wd*p (Adam's L2);       \
 * m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g*g; vmax = max(vmax, v) (amsgrad);         \
 * p -= step_size * m / (sqrt(v)/bc2_sqrt + eps) */                                             \
inline C adam_rule_##C(C p, C g, C* exp_avg, C* exp_avg_sq, C* max_exp_avg_sq, C decay, C wd,  \
                       C one_minus_beta1, C beta2, C one_minus_beta2, C step_size, C bc2_sqrt,  \
                       C eps, int flags) {                                                      \
    p = p * decay;                                                                              \
    g = EFFECTIVE_GRAD(C, g, p, wd, flags);                                                     \
    C m = *exp_avg;                                                                             \
    m = m + one_minus_beta1 * (g - m);                                                          \
    C v = *exp_avg_sq * beta2 + one_minus_beta2 * g * g;                                        \
    *exp_avg = m;                                                                               \
    *exp_avg_sq = v;                                                                            \
    if (flags & F_AMSGRAD) {                                                                    \
        v = max(*max_exp_avg_sq, v);                                                            \
        *max_exp_avg_sq = v;                                                                    \
    }                                                                                           \
    C denom = sqrt(v) / bc2_sqrt + eps;                                                         \
    return p - step_size * (m / denom);                                                         \
}                                                                                               \
                                                                                                \
/* RMSprop: s = alpha*s + (1-alpha)*g*g; centered: a = lerp(a, g, 1-alpha), s' = s - a*a;      \
 * avg = sqrt(s') + eps; momentum: buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg */\
inline C rmsprop_rule_##C(C p, C g, C* square_avg, C* grad_avg, C* buf, C lr, C alpha,         \
                          C one_minus_alpha, C eps, C wd, C momentum, int flags) {              \
    g = EFFECTIVE_GRAD(C, g, p, wd, flags);                                                     \
    C s = *square_avg * alpha + one_minus_alpha * g * g;                                        \
    *square_avg = s;                                                                            \
    if (flags & F_CENTERED) {                                                                   \
        C a = *grad_avg;                                                                        \
        a = a + one_minus_alpha * (g - a);                                                      \
        *grad_avg = a;                                                                          \
        s = s - a * a;                                                                          \
    }                                                                                           \
    C avg = sqrt(s) + eps;                                                                      \
    if (flags & F_MOMENTUM) {                                                                   \
        C b = *buf * momentum + g / avg;                                                        \
        *buf = b;                                                                               \
        return p - lr * b;                                                                      \
    }                                                                                           \
    return p - lr * (g / avg);                                                                  \
}                                                                                               \
                                                                                                \
/* Adagrad: sum += g*g; p -= clr * g / (sqrt(sum) + eps), clr = lr / (1 + (step-1)*lr_decay) */ \
inline C adagrad_rule_##C(C p, C g, C* state_sum, C clr, C eps, C wd, int flags) {             \
    g = EFFECTIVE_GRAD(C, g, p, wd, flags);                                                     \
    C s = *state_sum + g * g;                                                                   \
    *state_sum = s;                                                                             \
    return p - clr * (g / (sqrt(s) + eps));                                                     \
}                                                                                               \
                                                                                                \
/* Adadelta: s = rho*s + (1-rho)*g*g; delta = sqrt(acc+eps)/sqrt(s+eps)*g;                      \
 * acc = rho*acc + (1-rho)*delta^2; p -= lr*delta */                                            \
inline C adadelta_rule_##C(C p, C g, C* square_avg, C* acc_delta, C lr, C rho,                 \
                           C one_minus_rho, C eps, C wd, int flags) {                           \
    g = EFFECTIVE_GRAD(C, g, p, wd, flags);                                                     \
    C s = *square_avg * rho + one_minus_rho * g * g;                                            \
    *square_avg = s;                                                                            \
    C acc = *acc_delta;                                                                         \
    C delta = sqrt(acc + eps) / sqrt(s + eps) * g;                                              \
    *acc_delta = acc * rho + one_minus_rho * delta * delta;                                     \
    return p - lr * delta;                                                                      \
}

#endif
