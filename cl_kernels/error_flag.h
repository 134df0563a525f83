/* Device-side errors: a kernel that meets bad data it cannot refuse at launch time (a class
 * index or gather index that lives on the device) records the first such error in the device's
 * error flag, four ints: [code, detail low 32 bits, detail high 32 bits, unused]. The host reads
 * the flag at its next read of any value (clnet/backend/device_errors.py) and raises the error
 * that the code names, like CUDA's device-side asserts. The first error wins: later ones leave
 * the flag as it is, so the report names the first bad value seen.
 */
#ifndef CLNET_ERROR_FLAG_H
#define CLNET_ERROR_FLAG_H

/* the codes, and the host's table of messages in device_errors.py, must agree */
#define ERR_TARGET_OUT_OF_BOUNDS 1   /* a class index outside [0, classes) */
#define ERR_INDEX_OUT_OF_BOUNDS 2    /* a gather/scatter/embedding index outside the dimension */
#define ERR_INPUT_OUTSIDE_0_1 3      /* binary_cross_entropy input outside [0, 1] */

inline void raise_error(__global int* flag, int code, long detail) {
    if (atomic_cmpxchg(flag, 0, code) == 0) {
        flag[1] = (int)(detail & 0xffffffffL);
        flag[2] = (int)(detail >> 32);
    }
}

#endif
