/* Sparse family: a COO matrix times a dense matrix, after the host has coalesced the COO entries
 * (sorted by row, then column, no duplicates) and compressed the rows (CSR: row r's entries are
 * [row_ptr[r], row_ptr[r + 1])). One work-item per output element (column j fastest, so the
 * work-items of a row read one dense row's consecutive elements together); it adds its row's
 * products in entry order: no atomics, the same bits on every run. Build with -DT=float|double.
 *
 * Column indices are checked on the host when the COO tensor is coalesced; an entry whose column
 * is still outside [0, K) is skipped rather than read out of bounds.
 */
#include "common.h"

/* out[r, j] = sum over k in row r of val[voff + k] * x[xoff + col[k] * xr + j * xc]  (out is
 * M x N, contiguous). */
__kernel void spmm_csr(int M, int N, int K, __global const int* row_ptr, __global const int* col,
                       __global const T* val, int voff, __global const T* x, int xoff, int xr,
                       int xc, __global T* out) {
    int j = get_global_id(0), r = get_global_id(1);
    if (j >= N || r >= M) return;
    T acc = 0;
    int end = row_ptr[r + 1];
    for (int k = row_ptr[r]; k < end; ++k) {
        int c = col[k];
        if (c < 0 || c >= K) continue;
        acc += val[voff + k] * x[xoff + c * xr + j * xc];
    }
    out[(long)r * N + j] = acc;
}
