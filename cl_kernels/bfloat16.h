/* bfloat16 as storage: a ushort holding the top 16 bits of a float32. Every value is computed as
 * float; a store rounds to nearest even and keeps NaN a NaN. Shared by copy.cl's casts and
 * float16.h's loads and stores, so a value stored anywhere equals the value a cast gives. */
#ifndef CLNET_BFLOAT16_H
#define CLNET_BFLOAT16_H

typedef ushort bfloat16;          /* storage only: every value is computed as float */

inline float bf16_to_float(ushort b) { return as_float(((uint)b) << 16); }

inline ushort float_to_bf16(float f) {
    uint u = as_uint(f);
    ushort r = (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    /* NaN tested on the bits and chosen by a select: no call, no branch, so PoCL vectorises
     * across work-items (isnan() here: 5x slower on PoCL, measured) */
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? (ushort)0x7FC0 : r;
}

#endif
