/* Checks of device data that PyTorch makes before an op runs, for data the host cannot see
 * without a read-back: each records the first bad value in the device's error flag
 * (error_flag.h), which the host raises at its next read. Build with -DT=float|double.
 * The input is contiguous from element `off`.
 */
#include "common.h"
#include "error_flag.h"

/* binary_cross_entropy: every input in [0, 1] (NaN fails too, as in PyTorch) */
__kernel void check_unit_interval(int n, __global const T* x, int off, __global int* error_flag) {
    int i = get_global_id(0);
    if (i >= n) return;
    T v = x[off + i];
    if (!(v >= (T)0 && v <= (T)1)) raise_error(error_flag, ERR_INPUT_OUTSIDE_0_1, i);
}
