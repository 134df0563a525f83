/* Indexing kernels: gather/scatter along a dimension, advanced (integer-array) indexing, masked
 * fill, stream compaction for nonzero / boolean masks, and one_hot.
 *
 * T is the element type (uchar for bool, int, long, float, double under HAS_FP64); I is the index
 * type (int or long). Index values coming from the device are never trusted: an index outside
 * [0, size) makes a gather write 0 and a scatter skip the element, so no kernel reads or writes
 * out of bounds, and records ERR_INDEX_OUT_OF_BOUNDS in the device's error flag, which the host
 * raises at its next read (error_flag.h; host data is validated on the host before launching).
 *
 * Operand conventions for the Strided struct (common.h) are given per kernel; "dim-zeroed" means
 * the host set that operand's stride along the indexed dimension to 0 and passes the real stride
 * as a scalar, so the kernel adds index * stride itself.
 */
#include "common.h"
#include "error_flag.h"

#ifdef HAS_INT64_ATOMICS
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
#endif

/* ---------------------------------------------------------------- gather / scatter along dim */

/* out[i] = src[... index[i] ...]; operands: 0 out, 1 index, 2 src (dim-zeroed). Launched like
 * the elementwise *_n kernels (STRIDED_ITEM: a 3-D NDRange for up to 3 collapsed dimensions, so
 * an embedding lookup or index_select of rows copies each row without per-element divisions). */
#define GATHER(T, I)                                                                        \
__kernel void gather_##T##_##I(int n, __global T* out, __global const I* index,             \
                               __global const T* src, int dim_size, int dim_stride,         \
                               __global int* error_flag, Strided m) {                       \
    int off[MAXOPS];                                                                        \
    STRIDED_ITEM(m, n, 3, off);                                                             \
    I j = index[off[1]];                                                                    \
    if (j >= 0 && j < dim_size) {                                                           \
        out[off[0]] = src[off[2] + (int)j * dim_stride];                                    \
    } else {                                                                                \
        out[off[0]] = (T)0;                                                                 \
        raise_error(error_flag, ERR_INDEX_OUT_OF_BOUNDS, j);                                \
    }                                                                                       \
}

/* Scatter without races, last write wins like PyTorch on CPU: scatter_claim_I lets every element
 * i of the index (row-major) claim its target with atomic_max(winner[target], i) on an int
 * scratch laid out like the output (filled with -1 first); scatter_T_I then writes only where i
 * won, so every output element is written at most once. Operands of both: 0 winner (contiguous,
 * dim-zeroed), 1 index; scatter adds 2 out (dim-zeroed), 3 src. */
#define SCATTER_CLAIM(I)                                                                    \
__kernel void scatter_claim_##I(int n, __global int* winner, __global const I* index,       \
                                int dim_size, int winner_dim_stride,                        \
                                __global int* error_flag, Strided m) {                      \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[2];                                                                             \
    STRIDED_OFFSETS(m, i, 2, off);                                                          \
    I j = index[off[1]];                                                                    \
    if (j >= 0 && j < dim_size) atomic_max(winner + off[0] + (int)j * winner_dim_stride, i);\
    else raise_error(error_flag, ERR_INDEX_OUT_OF_BOUNDS, j);                               \
}

#define SCATTER(T, I)                                                                       \
__kernel void scatter_##T##_##I(int n, __global const int* winner, __global const I* index, \
                                __global T* out, __global const T* src, int dim_size,       \
                                int winner_dim_stride, int dim_stride, Strided m) {         \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[4];                                                                             \
    STRIDED_OFFSETS(m, i, 4, off);                                                          \
    I j = index[off[1]];                                                                    \
    if (j >= 0 && j < dim_size && winner[off[0] + (int)j * winner_dim_stride] == i)         \
        out[off[2] + (int)j * dim_stride] = src[off[3]];                                    \
}

/* Deterministic scatter-add: one work-item per output element, which scans the K index entries
 * of its row in order. Iteration shape = index shape with the indexed dim moved last and resized
 * to dim_size, so the output coordinate along dim is i % dim_size. Operands: 0 out (full strides),
 * 1 index (dim-zeroed), 2 src (dim-zeroed). Used for bool (OR), and where atomics are missing. */
#define ADD_uchar(a, b) ((uchar)((a) | (b)))
#define ADD_int(a, b) ((a) + (b))
#define ADD_long(a, b) ((a) + (b))
#define ADD_float(a, b) ((a) + (b))
#define ADD_double(a, b) ((a) + (b))

#define SCATTER_ADD_OWNER(T, I)                                                             \
__kernel void scatter_add_owner_##T##_##I(int n, __global T* out, __global const I* index,  \
                                          __global const T* src, int dim_size, int K,       \
                                          int index_dim_stride, int src_dim_stride,         \
                                          __global int* error_flag, Strided m) {            \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[3];                                                                             \
    STRIDED_OFFSETS(m, i, 3, off);                                                          \
    I j = (I)(i % dim_size);                                                                \
    T acc = out[off[0]];                                                                    \
    for (int k = 0; k < K; ++k) {                                                           \
        I jk = index[off[1] + k * index_dim_stride];                                        \
        if (jk == j) acc = ADD_##T(acc, src[off[2] + k * src_dim_stride]);                  \
        else if (j == 0 && (jk < 0 || jk >= dim_size))  /* one owner per row reports */     \
            raise_error(error_flag, ERR_INDEX_OUT_OF_BOUNDS, jk);                           \
    }                                                                                       \
    out[off[0]] = acc;                                                                      \
}

/* Atomic scatter-add (order of float additions varies between runs, like PyTorch on GPUs).
 * float uses a compare-and-swap loop on the 32-bit pattern (float atomics are not core 1.2). */
inline void atomic_add_int_(volatile __global int* p, int v) { atomic_add(p, v); }
inline void atomic_add_float_(volatile __global float* p, float v) {
    volatile __global int* ip = (volatile __global int*)p;
    int old = atomic_add(ip, 0), assumed;   /* an atomic read: a plain one would race */
    do {
        assumed = old;
        old = atomic_cmpxchg(ip, assumed, as_int(as_float(assumed) + v));
    } while (old != assumed);
}
#ifdef HAS_INT64_ATOMICS
inline void atomic_add_long_(volatile __global long* p, long v) { atom_add(p, v); }
#ifdef HAS_FP64
inline void atomic_add_double_(volatile __global double* p, double v) {
    volatile __global long* lp = (volatile __global long*)p;
    long old = atom_add(lp, (long)0), assumed;
    do {
        assumed = old;
        old = atom_cmpxchg(lp, assumed, as_long(as_double(assumed) + v));
    } while (old != assumed);
}
#endif
#endif

/* operands: 0 out (dim-zeroed), 1 index, 2 src */
#define SCATTER_ADD_ATOMIC(T, I)                                                            \
__kernel void scatter_add_atomic_##T##_##I(int n, __global T* out, __global const I* index, \
                                           __global const T* src, int dim_size,             \
                                           int dim_stride, __global int* error_flag,        \
                                           Strided m) {                                     \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[3];                                                                             \
    STRIDED_OFFSETS(m, i, 3, off);                                                          \
    I j = index[off[1]];                                                                    \
    if (j >= 0 && j < dim_size)                                                             \
        atomic_add_##T##_((volatile __global T*)(out + off[0] + (int)j * dim_stride),       \
                          src[off[2]]);                                                     \
    else                                                                                    \
        raise_error(error_flag, ERR_INDEX_OUT_OF_BOUNDS, j);                                \
}

/* ---------------------------------------------------------------- advanced indexing */

/* Accumulate one index array into element offsets: off = (init ? 0 : off) + wrap(index) * stride.
 * A negative index counts from the end; an index outside [-size, size) marks the offset -1, which
 * take/put then skip. Operands: 0 off (contiguous int), 1 index (broadcast strides). */
#define ADV_OFFSET(I)                                                                       \
__kernel void adv_offset_##I(int n, __global int* offs, __global const I* index, int size,  \
                             int stride, int init, __global int* error_flag, Strided m) {   \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[2];                                                                             \
    STRIDED_OFFSETS(m, i, 2, off);                                                          \
    I j0 = index[off[1]];                                                                   \
    I j = j0 < 0 ? j0 + size : j0;                                                          \
    int prev = init ? 0 : offs[off[0]];                                                     \
    if (j < 0 || j >= size) raise_error(error_flag, ERR_INDEX_OUT_OF_BOUNDS, j0);           \
    offs[off[0]] = (prev < 0 || j < 0 || j >= size) ? -1 : prev + (int)j * stride;          \
}

/* out[i] = src[base(i) + offs[k(i)]]; operands: 0 out, 1 offs (0 on non-indexed dims),
 * 2 src (0 on the indexed dims). */
#define TAKE(T)                                                                             \
__kernel void take_##T(int n, __global T* out, __global const int* offs,                    \
                       __global const T* src, Strided m) {                                  \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[3];                                                                             \
    STRIDED_OFFSETS(m, i, 3, off);                                                          \
    int o = offs[off[1]];                                                                   \
    out[off[0]] = o >= 0 ? src[off[2] + o] : (T)0;                                          \
}

/* dst[base(i) + offs[k(i)]] = val[i]; operands: 0 dst (0 on the indexed dims), 1 offs,
 * 2 val (broadcast). Duplicate indices race (one write wins), as in PyTorch. */
#define PUT(T)                                                                              \
__kernel void put_##T(int n, __global T* dst, __global const int* offs,                     \
                      __global const T* val, Strided m) {                                   \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[3];                                                                             \
    STRIDED_OFFSETS(m, i, 3, off);                                                          \
    int o = offs[off[1]];                                                                   \
    if (o >= 0) dst[off[0] + o] = val[off[2]];                                              \
}

/* ---------------------------------------------------------------- masked fill */

/* out = mask ? value : in; operands: 0 out, 1 in, 2 mask (uchar), 3 value (stride 0). The value
 * is a device buffer so a 0-d tensor value needs no host round trip. */
#define MASKED_FILL(T)                                                                      \
__kernel void masked_fill_##T(int n, __global T* out, __global const T* in,                 \
                              __global const uchar* mask, __global const T* value,          \
                              Strided m) {                                                  \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[4];                                                                             \
    STRIDED_OFFSETS(m, i, 4, off);                                                          \
    out[off[0]] = mask[off[2]] ? value[off[3]] : in[off[1]];                                \
}

/* out = mask ? value : in for a contiguous out and in, with a contiguous mask repeating along
 * the leading dims (element i reads mask[i % mn]: a causal mask (T, T) over scores (B, H, T, T)).
 * The general kernel above spends its time unravelling four operands' strided offsets. */
#define MASKED_FILL_TAIL(T)                                                                 \
__kernel void masked_fill_tail_##T(int n, __global T* out, int ooff, __global const T* in,  \
                                   int ioff, __global const uchar* mask, int moff, int mn,  \
                                   __global const T* value, int voff) {                     \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    out[ooff + i] = mask[moff + i % mn] ? value[voff] : in[ioff + i];                       \
}

/* ---------------------------------------------------------------- stream compaction
 * Three passes over a contiguous input of n elements, in blocks of (local size * NZ_PER):
 *   nz_count_T    one count of nonzero elements per block
 *   nz_scan       (one work-group) exclusive prefix sum of the block counts, and the total
 *   nz_compact_T  each block writes the linear positions of its nonzeros, in order
 * Each work-item owns NZ_PER consecutive elements, so order is kept without sorting. */
#define NZ_PER 16
#define NZ_MAX_LOCAL 256

/* exclusive prefix sum of vals[0..cnt) in local memory; returns the total. Work-item 0 does the
 * sequential pass (cnt <= NZ_MAX_LOCAL: cheaper than a tree at these sizes). */
inline int local_exclusive_scan(__local int* vals, int cnt) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (get_local_id(0) == 0) {
        int acc = 0;
        for (int k = 0; k < cnt; ++k) {
            int v = vals[k];
            vals[k] = acc;
            acc += v;
        }
        vals[cnt] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    return vals[cnt];
}

#define NZ_KERNELS(T)                                                                       \
__kernel void nz_count_##T(int n, __global const T* x, int xoff, __global int* counts) {    \
    __local int part[NZ_MAX_LOCAL + 1];                                                     \
    int lid = get_local_id(0), lsz = get_local_size(0);                                     \
    int start = get_group_id(0) * lsz * NZ_PER + lid * NZ_PER;                              \
    int c = 0;                                                                              \
    for (int k = start; k < start + NZ_PER && k < n; ++k) c += x[xoff + k] != (T)0;         \
    part[lid] = c;                                                                          \
    int total = local_exclusive_scan(part, lsz);                                            \
    if (lid == 0) counts[get_group_id(0)] = total;                                          \
}                                                                                           \
__kernel void nz_compact_##T(int n, __global const T* x, int xoff,                          \
                             __global const int* block_offsets, __global int* positions) {  \
    __local int part[NZ_MAX_LOCAL + 1];                                                     \
    int lid = get_local_id(0), lsz = get_local_size(0);                                     \
    int start = get_group_id(0) * lsz * NZ_PER + lid * NZ_PER;                              \
    int c = 0;                                                                              \
    for (int k = start; k < start + NZ_PER && k < n; ++k) c += x[xoff + k] != (T)0;         \
    part[lid] = c;                                                                          \
    local_exclusive_scan(part, lsz);                                                        \
    int w = block_offsets[get_group_id(0)] + part[lid];                                     \
    for (int k = start; k < start + NZ_PER && k < n; ++k)                                   \
        if (x[xoff + k] != (T)0) positions[w++] = k;                                        \
}

/* One work-group: counts[0..nb) becomes its exclusive prefix sum; total[0] = the sum. Each
 * work-item owns a run of consecutive counts. */
__kernel void nz_scan(int nb, __global int* counts, __global int* total) {
    __local int part[NZ_MAX_LOCAL + 1];
    int lid = get_local_id(0), lsz = get_local_size(0);
    int per = (nb + lsz - 1) / lsz;
    int start = lid * per, stop = min(start + per, nb);
    int s = 0;
    for (int k = start; k < stop; ++k) s += counts[k];
    part[lid] = s;
    int all = local_exclusive_scan(part, lsz);
    int acc = part[lid];
    for (int k = start; k < stop; ++k) {
        int v = counts[k];
        counts[k] = acc;
        acc += v;
    }
    if (lid == 0) total[0] = all;
}

/* Linear positions -> coordinates: coords[i * row_stride + d * col_stride] = coordinate d of
 * positions[i] in the shape m.size[0..m.ndim) (only ndim and size of m are used). */
__kernel void unravel(int count, __global const int* positions, __global long* coords,
                      int row_stride, int col_stride, Strided m) {
    int i = get_global_id(0);
    if (i >= count) return;
    int rem = positions[i];
    for (int d = m.ndim - 1; d >= 0; --d) {
        coords[i * row_stride + d * col_stride] = rem % m.size[d];
        rem /= m.size[d];
    }
}

/* ---------------------------------------------------------------- one_hot */

/* out (rows x C, contiguous int64)[r, c] = (index[r] == c); operand 0 of m = index. */
#define ONE_HOT(I)                                                                          \
__kernel void one_hot_##I(int n, __global long* out, __global const I* index, int C,        \
                          Strided m) {                                                      \
    int i = get_global_id(0);                                                               \
    if (i >= n) return;                                                                     \
    int off[1];                                                                             \
    STRIDED_OFFSETS(m, i / C, 1, off);                                                      \
    out[i] = index[off[0]] == (I)(i % C);                                                   \
}

/* ---------------------------------------------------------------- instantiation */

#define BY_INDEX(T)                 \
    GATHER(T, int) GATHER(T, long)  \
    SCATTER(T, int) SCATTER(T, long) \
    SCATTER_ADD_OWNER(T, int) SCATTER_ADD_OWNER(T, long)

#define BY_VALUE(T) BY_INDEX(T) TAKE(T) PUT(T) MASKED_FILL(T) MASKED_FILL_TAIL(T) NZ_KERNELS(T)

BY_VALUE(uchar)
BY_VALUE(int)
BY_VALUE(long)
BY_VALUE(float)
SCATTER_ADD_ATOMIC(int, int) SCATTER_ADD_ATOMIC(int, long)
SCATTER_ADD_ATOMIC(float, int) SCATTER_ADD_ATOMIC(float, long)
ADV_OFFSET(int) ADV_OFFSET(long)
SCATTER_CLAIM(int) SCATTER_CLAIM(long)
ONE_HOT(int) ONE_HOT(long)

#ifdef HAS_INT64_ATOMICS
SCATTER_ADD_ATOMIC(long, int) SCATTER_ADD_ATOMIC(long, long)
#endif

#ifdef HAS_FP64
BY_VALUE(double)
#ifdef HAS_INT64_ATOMICS
SCATTER_ADD_ATOMIC(double, int) SCATTER_ADD_ATOMIC(double, long)
#endif
#endif
