/* Explicit short vectors of the compute type T for kernels whose work-items loop over contiguous
 * runs of a row. Include after defining T and VW (the vector width: 2, 4, 8 or 16).
 *
 * Why: a CPU driver (PoCL) turns a work-group into a loop over its work-items and vectorises that
 * loop only when the body makes no library calls; exp, tanh, log and friends ARE calls there, so
 * a scalar transcendental costs ~8x the vector builtin (exp over 2^17 floats: 410 us scalar,
 * 50 us as float8). On GPUs a vector is just VW scalar operations of one work-item.
 *
 * Loads and stores go through scalar element accesses that the compiler merges into one
 * unaligned vector access: vloadN/vstoreN are slow calls on PoCL, and casting a global pointer
 * to a vector pointer would demand an alignment the host cannot promise for views.
 */
#ifndef CLNET_VECTOR_H
#define CLNET_VECTOR_H

#include "common.h"

#define TV CAT(T, VW)

inline TV load_v(__global const T* p) {
    TV v;
    T* pv = (T*)&v;
#pragma unroll
    for (int l = 0; l < VW; ++l) pv[l] = p[l];
    return v;
}

inline void store_v(__global T* p, TV v) {
    const T* pv = (const T*)&v;
#pragma unroll
    for (int l = 0; l < VW; ++l) p[l] = pv[l];
}

inline T hsum_v(TV v) {
    const T* pv = (const T*)&v;
    T s = pv[0];
#pragma unroll
    for (int l = 1; l < VW; ++l) s += pv[l];
    return s;
}

/* fmax drops NaNs, as a scalar fmax chain would: a row max feeds a sum of exp(x - max), which
 * brings any NaN back */
inline T hmax_v(TV v) {
    const T* pv = (const T*)&v;
    T m = pv[0];
#pragma unroll
    for (int l = 1; l < VW; ++l) m = fmax(m, pv[l]);
    return m;
}

#endif
