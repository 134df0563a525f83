/* Automatic mixed precision: the device half of clnet.amp.GradScaler.
 *
 * Built with -DT=float|double (the gradient's element type) for the unscale kernel, or with
 * -DAMP_SCALE_UPDATE for the scale update alone (one program per job, so that no program holds a
 * kernel that is never launched from it). Every buffer travels with its element offset. found_inf and the scale are float32 one-element tensors, the growth tracker int32, as
 * in PyTorch, so the scaler never reads them back except once per step (GradScaler.step).
 */
#include "common.h"

#ifndef AMP_SCALE_UPDATE

/* PyTorch's _amp_foreach_non_finite_check_and_unscale_ for one contiguous gradient: each of the
 * n elements from g_off is checked before it is multiplied (an inf or NaN input sets found_inf to
 * 1; every work-item that sees one writes the same value, so the race is benign), then multiplied
 * by inv_scale in float (left as is when inv_scale is exactly 1, as PyTorch does). */
__kernel void amp_unscale(int n, __global T* g, int g_off,
                          __global const float* inv_scale, int inv_off,
                          __global float* found_inf, int found_off) {
    int i = get_global_id(0);
    if (i >= n) return;
    T v = g[g_off + i];
    if (!isfinite(v)) found_inf[found_off] = 1.0f;
    float s = inv_scale[inv_off];
    if (s != 1.0f) g[g_off + i] = (T)(v * (T)s);
}

#else

/* PyTorch's _amp_update_scale_ (one work-item): after a step with an inf/NaN the scale is
 * multiplied by backoff_factor and the tracker reset; otherwise the tracker counts the step, and
 * after growth_interval clean steps in a row the scale grows by growth_factor (kept only while it
 * stays finite) and the tracker restarts. */
__kernel void amp_update_scale(__global float* scale, int scale_off,
                               __global int* growth_tracker, int tracker_off,
                               __global const float* found_inf, int found_off,
                               float growth_factor, float backoff_factor, int growth_interval) {
    if (get_global_id(0) != 0) return;
    if (found_inf[found_off] != 0.0f) {
        scale[scale_off] = scale[scale_off] * backoff_factor;
        growth_tracker[tracker_off] = 0;
    } else {
        int successful = growth_tracker[tracker_off] + 1;
        if (successful == growth_interval) {
            float grown = scale[scale_off] * growth_factor;
            if (isfinite(grown)) scale[scale_off] = grown;
            growth_tracker[tracker_off] = 0;
        } else {
            growth_tracker[tracker_off] = successful;
        }
    }
}

#endif
