/* Loads and stores of every floating storage type as its compute type, for kernels specialised
 * by a storage-type define: LOAD_<S>(p, i) reads element i of a buffer of S as float/double,
 * STORE_<S>(p, i, v) writes v rounded once. float16 is OpenCL's ``half`` read and written with the
 * core vload_half / vstore_half_rte (no cl_khr_fp16 needed); bfloat16 is a ushort holding the top
 * 16 bits of a float32, rounded to nearest even (NaN kept NaN) - the same rounding as copy.cl's
 * casts, so a value stored here equals the value a cast to that dtype would give.
 */
#ifndef CLNET_FLOAT16_H
#define CLNET_FLOAT16_H

#include "bfloat16.h"

#define LOAD_float(p, i) ((p)[i])
#define LOAD_double(p, i) ((p)[i])
#define LOAD_half(p, i) vload_half((i), (p))
#define LOAD_bfloat16(p, i) bf16_to_float((p)[i])
#define STORE_float(p, i, v) ((p)[i] = (float)(v))
#define STORE_double(p, i, v) ((p)[i] = (double)(v))
#define STORE_half(p, i, v) vstore_half_rte((float)(v), (i), (p))
#define STORE_bfloat16(p, i, v) ((p)[i] = float_to_bf16((float)(v)))

#endif
