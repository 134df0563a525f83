/* GEMM: C = act(alpha * A @ B + beta * X), batched, any strides (transposed views need no copy);
 * act is the epilogue's activation (ACT_* below; ACT_NONE for plain products).
 *
 * Every operand is an offset plus element strides over TWO batch dimensions: A[b][m][k] lives at
 * offA + (b / nb2)*sAb + (b % nb2)*sAb2 + m*sAm + k*sAk, likewise B[b][k][n], C[b][m][n] and the
 * addend X[b][m][n] (an `addmm` input or a bias, broadcast with zero strides), so a 4-D matmul of
 * permuted views (attention's (batch, heads, L, d) over a (L, batch, heads*d) buffer) is one
 * launch. A batch stride of 0 broadcasts that operand over the batch. With
 * use_x == 0, X is never read (so NaNs in an ignored input do not leak, as in PyTorch with beta=0;
 * the host then passes C as a dummy X). K == 0 gives C = beta * X (or zeros).
 *
 * The program is built three ways, chosen by the host from the device's tuning:
 *   no REAL defined          -> gemm_naive_T for int/long: one work-item per output.
 *   REAL + CPU_STYLE         -> gemm_cpu: one work-item per work-group packs the tiles into
 *                               micro-panels and runs a register-block micro-kernel (CPU drivers).
 *   REAL without CPU_STYLE   -> gemm_tiled: the classic cooperative GPU kernel.
 * Tile defines (REAL only): TM x TN work-group tile of C, TK step along K, WM x WN register block
 * per work-item, VW vector width along N (VT = REALVW). TM % WM == 0, TN % WN == 0, WN % VW == 0.
 */
#include "common.h"

#ifndef REAL
/* ---------------------------------------------------------------------------------------------
 * Naive path: integers (correctness over speed). Launch 1-D over nbatch * M * N work-items. */
#define GEMM_NAIVE(T)                                                                          \
__kernel void gemm_naive_##T(int M, int N, int K, int nb2, int nbatch,                          \
                             __global const T* A, int offA, int sAb, int sAb2, int sAm, int sAk, \
                             __global const T* B, int offB, int sBb, int sBb2, int sBk, int sBn, \
                             __global T* C, int offC, int sCb, int sCb2, int sCm, int sCn,     \
                             __global const T* X, int offX, int sXb, int sXb2, int sXm, int sXn, \
                             T alpha, T beta, int use_x)                                       \
{                                                                                              \
    int idx = get_global_id(0);                                                                \
    if (idx >= nbatch * M * N) return;                                                         \
    int n = idx % N, m = (idx / N) % M, b = idx / (N * M);                                    \
    int bo = b / nb2, bi = b - bo * nb2;                                                       \
    __global const T* a = A + offA + bo * sAb + bi * sAb2 + m * sAm;                           \
    __global const T* bb = B + offB + bo * sBb + bi * sBb2 + n * sBn;                          \
    T acc = 0;                                                                                 \
    for (int k = 0; k < K; ++k) acc += a[k * sAk] * bb[k * sBk];                               \
    T r = alpha * acc;                                                                         \
    if (use_x) r += beta * X[offX + bo * sXb + bi * sXb2 + m * sXm + n * sXn];                 \
    C[offC + bo * sCb + bi * sCb2 + m * sCm + n * sCn] = r;                                    \
}
GEMM_NAIVE(int)
GEMM_NAIVE(long)

#else /* REAL */
#define VT CAT(REAL, VW)
#define NV (WN / VW)

#define GEMM_ARGS                                                                              \
    int M, int N, int K, int nb2,                                                              \
    __global const REAL* A, int offA, int sAb, int sAb2, int sAm, int sAk,                     \
    __global const REAL* B, int offB, int sBb, int sBb2, int sBk, int sBn,                     \
    __global REAL* C, int offC, int sCb, int sCb2, int sCm, int sCn,                           \
    __global const REAL* X, int offX, int sXb, int sXb2, int sXm, int sXn,                     \
    REAL alpha, REAL beta, int use_x, int act, __global REAL* Z, int offZ

/* this work-group's batch entry: outer index (times sXb) and inner index (times sXb2) */
#define BATCH_SPLIT(bo, bi) const int bo = get_global_id(2) / nb2, bi = get_global_id(2) - bo * nb2

/* The epilogue's activation (Linear followed by an activation, ops/linalg.py linear_act):
 * act = ACT_NONE, ACT_RELU, ACT_GELU (erf form), ACT_GELU_TANH, ACT_TANH or ACT_SIGMOID, the
 * same for every output of a launch. For the GELUs the pre-activation is also written to Z
 * (same offsets and strides as C, at offZ), which their backward needs; the others' derivatives
 * follow from the output. A NaN stays NaN (relu: torch's max(x, 0) keeps NaN). */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_GELU 2
#define ACT_GELU_TANH 3
#define ACT_TANH 4
#define ACT_SIGMOID 5
#define ACT_REST(TY, x, act)                                                                   \
     ((act) == ACT_GELU ? (TY)(0.5) * (x) * ((TY)(1) + erf((x) * (TY)(0.7071067811865476)))    \
     : (act) == ACT_GELU_TANH ? (x) / ((TY)(1) + exp((TY)(-1.5957691216057308) *                \
                                       ((x) + (TY)(0.044715) * (x) * (x) * (x))))               \
     : (act) == ACT_TANH ? tanh(x)                                                              \
     : (act) == ACT_SIGMOID ? (TY)(1) / ((TY)(1) + exp(-(x))) : (x))
#define ACTIVATE(TY, x, act) ((act) == ACT_RELU ? select((x), (TY)(0), (x) < (TY)(0))           \
                                                : ACT_REST(TY, x, act))
inline REAL act_s(REAL x, int act) {
    return act == ACT_RELU ? (x < (REAL)0 ? (REAL)0 : x) : ACT_REST(REAL, x, act);
}

#ifdef CPU_STYLE
/* ---------------------------------------------------------------------------------------------
 * CPU path. A work-group is ONE work-item, so the kernel has no barriers and a CPU driver runs it
 * as plain sequential code (PoCL would otherwise spill every work-item's accumulators to memory
 * at each barrier). It owns a tm x tn tile of C (tm <= TM, tn <= TN chosen at launch so that
 * small problems still give every core a tile), packs A and B tiles into micro-panels in local
 * memory (where strides, transposition and zero padding of edges are absorbed), and runs a
 * WM x WN micro-kernel whose accumulators stay in registers for a whole TK step.
 * Launch: global (ceil(N/tn), ceil(M/tm), nb1 * nb2), local (1, 1, 1). */

/* Copy VW consecutive elements from any (unaligned) global address to a VT-aligned local one:
 * the scalar loads all precede the single vector store, so the compiler merges them into one
 * unaligned vector load (vloadN would be a slow call on PoCL, and a cast global pointer would
 * demand an alignment the caller cannot promise). */
inline void copy_run(__local REAL* dst, __global const REAL* src)
{
    VT v;
    REAL* pv = (REAL*)&v;
#pragma unroll
    for (int l = 0; l < VW; ++l) pv[l] = src[l];
    *(__local VT*)dst = v;
}

/* Ap[(ib*TK + k)*WM + i] = A[m0 + ib*WM + i][k0 + k], zero outside M: per micro-panel ib, the
 * WM values of one k side by side, which the micro-kernel reads as one run. Row-major A is read
 * along its rows; a transposed A (sAm == 1: a weight gradient's g^T) along its columns, so
 * global reads stay contiguous either way. */
inline void pack_a(__local REAL* Ap, __global const REAL* A, int sAm, int sAk,
                   int M, int m0, int nbm, int k0, int kt)
{
    const int rows = min(nbm * WM, M - m0);
    if (sAm == 1 && sAk != 1) {
        /* whole micro-panels: WM contiguous values of A's row k0 + k to WM contiguous slots */
        const int full = rows / WM * WM;
        for (int r = 0; r < full; r += WM) {
            __local REAL* dst = Ap + (r / WM) * TK * WM;
            __global const REAL* src = A + m0 + r + k0 * sAk;
            for (int k = 0; k < kt; ++k)
#pragma unroll
                for (int i = 0; i < WM; ++i) dst[k * WM + i] = src[k * sAk + i];
        }
        for (int k = 0; k < kt && full < rows; ++k) {
            __global const REAL* src = A + m0 + (k0 + k) * sAk;
            for (int r = full; r < rows; ++r)
                Ap[((r / WM) * TK + k) * WM + r % WM] = src[r];
        }
    } else {
        /* whole micro-panels k by k: WM side-by-side stores per k, from WM rows of A */
        int r = 0;
        for (; r + WM <= rows; r += WM) {
            __local REAL* dst = Ap + (r / WM) * TK * WM;
            __global const REAL* src = A + (m0 + r) * sAm + k0 * sAk;
            for (int k = 0; k < kt; ++k)
#pragma unroll
                for (int i = 0; i < WM; ++i) dst[k * WM + i] = src[i * sAm + k * sAk];
        }
        for (; r < rows; ++r) {
            __local REAL* dst = Ap + (r / WM) * TK * WM + r % WM;
            __global const REAL* src = A + (m0 + r) * sAm + k0 * sAk;
            for (int k = 0; k < kt; ++k) dst[k * WM] = src[k * sAk];
        }
    }
    for (int r = max(rows, 0); r < nbm * WM; ++r) {
        __local REAL* dst = Ap + (r / WM) * TK * WM + r % WM;
        for (int k = 0; k < kt; ++k) dst[k * WM] = (REAL)0;
    }
}

/* Bp[(jb*TK + k)*WN + j] = B[k0 + k][n0 + jb*WN + j], zero outside N */
inline void pack_b(__local REAL* Bp, __global const REAL* B, int sBk, int sBn,
                   int N, int n0, int nbn, int k0, int kt)
{
    for (int jb = 0; jb < nbn; ++jb) {
        __local REAL* dst = Bp + jb * TK * WN;
        int c0 = n0 + jb * WN;
        __global const REAL* src = B + k0 * sBk + c0 * sBn;
        if (c0 + WN <= N && sBn == 1) {         /* row-major B: WN contiguous per k */
            for (int k = 0; k < kt; ++k)
#pragma unroll
                for (int j = 0; j < NV; ++j)
                    copy_run(dst + k * WN + j * VW, src + k * sBk + j * VW);
        } else if (c0 + WN <= N && sBk == 1) {  /* column-major B, e.g. a Linear weight's W^T */
            /* k outer: each k's WN values go out as whole vectors (one store per VW), read from
             * WN rows of B that stay cached while k advances */
            for (int k = 0; k < kt; ++k) {
#pragma unroll
                for (int j = 0; j < NV; ++j) {
                    VT v;
                    REAL* pv = (REAL*)&v;
#pragma unroll
                    for (int l = 0; l < VW; ++l) pv[l] = src[(j * VW + l) * sBn + k];
                    *(__local VT*)(dst + k * WN + j * VW) = v;
                }
            }
        } else {
            for (int j = 0; j < WN; ++j) {
                if (c0 + j < N)
                    for (int k = 0; k < kt; ++k) dst[k * WN + j] = src[j * sBn + k * sBk];
                else
                    for (int k = 0; k < kt; ++k) dst[k * WN + j] = (REAL)0;
            }
        }
    }
}

/* C[gi][c0 + l] = act(alpha * v[l] + beta * X[gi][c0 + l]) for the w <= VW valid lanes of one
 * accumulator vector (and Z = the pre-activation for the GELUs); one vector load and store when
 * the run is whole and C (and X, Z) are contiguous along rows. */
inline void store_run(VT v, int w, int c0, __global REAL* crow, int sCn,
                      __global const REAL* xrow, int sXn, __global REAL* zrow,
                      REAL alpha, REAL beta, int use_x, int act)
{
    VT r = alpha * v;
    if (w == VW && sCn == 1 && (!use_x || sXn == 1)) {
        REAL* pr = (REAL*)&r;
        if (use_x) {
            VT x;
            REAL* px = (REAL*)&x;
#pragma unroll
            for (int l = 0; l < VW; ++l) px[l] = xrow[c0 + l];
            r += beta * x;
        }
        if (act == ACT_GELU || act == ACT_GELU_TANH) {
#pragma unroll
            for (int l = 0; l < VW; ++l) zrow[(c0 + l) * sCn] = pr[l];
        }
        if (act != ACT_NONE) r = ACTIVATE(VT, r, act);
#pragma unroll
        for (int l = 0; l < VW; ++l) crow[c0 + l] = pr[l];
        return;
    }
    const REAL* pr = (const REAL*)&r;
    for (int l = 0; l < w; ++l) {
        REAL y = pr[l];
        if (use_x) y += beta * xrow[(c0 + l) * sXn];
        if (act == ACT_GELU || act == ACT_GELU_TANH) zrow[(c0 + l) * sCn] = y;
        crow[(c0 + l) * sCn] = act_s(y, act);
    }
}

__kernel __attribute__((reqd_work_group_size(1, 1, 1)))
void gemm_cpu(GEMM_ARGS, int tm, int tn)
{
    __local VT Ap_v[TM * TK / VW];      /* A micro-panels, see pack_a */
    __local VT Bp_v[TK * TN / VW];      /* B micro-panels, see pack_b */
    __local VT Ct[TM * TN / VW];        /* partial sums between K steps: [ib][jb][i][j] */

    const int nbm = tm / WM, nbn = tn / WN;
    const int n0 = get_group_id(0) * tn;
    const int m0 = get_group_id(1) * tm;
    BATCH_SPLIT(bo, bi);
    A += offA + bo * sAb + bi * sAb2;
    B += offB + bo * sBb + bi * sBb2;
    C += offC + bo * sCb + bi * sCb2;
    X += offX + bo * sXb + bi * sXb2;
    Z += offZ + bo * sCb + bi * sCb2;

    for (int k0 = 0; k0 < K; k0 += TK) {
        const int kt = min(TK, K - k0);
        const int last = k0 + TK >= K;
        pack_a((__local REAL*)Ap_v, A, sAm, sAk, M, m0, nbm, k0, kt);
        pack_b((__local REAL*)Bp_v, B, sBk, sBn, N, n0, nbn, k0, kt);
        /* jb outer: one B micro-panel (TK x WN) stays in L1 while the A panels stream by */
        for (int jb = 0; jb < nbn; ++jb) {
            __local const VT* bp = Bp_v + jb * TK * NV;
            for (int ib = 0; ib < nbm; ++ib) {
                __local const REAL* ap = (__local const REAL*)Ap_v + ib * TK * WM;
                __local VT* ct = Ct + (ib * nbn + jb) * WM * NV;
                VT acc[WM][NV];
#pragma unroll
                for (int i = 0; i < WM; ++i)
#pragma unroll
                    for (int j = 0; j < NV; ++j) acc[i][j] = k0 ? ct[i * NV + j] : (VT)(0);
                for (int k = 0; k < kt; ++k) {
                    VT bv[NV];
#pragma unroll
                    for (int j = 0; j < NV; ++j) bv[j] = bp[k * NV + j];
#pragma unroll
                    for (int i = 0; i < WM; ++i) {
                        REAL a = ap[k * WM + i];
#pragma unroll
                        for (int j = 0; j < NV; ++j) acc[i][j] = a * bv[j] + acc[i][j];
                    }
                }
                if (!last) {
#pragma unroll
                    for (int i = 0; i < WM; ++i)
#pragma unroll
                        for (int j = 0; j < NV; ++j) ct[i * NV + j] = acc[i][j];
                    continue;
                }
                /* the last K step: the epilogue straight from the accumulators */
                for (int i = 0; i < WM; ++i) {
                    const int gi = m0 + ib * WM + i;
                    if (gi >= M) break;
#pragma unroll
                    for (int j = 0; j < NV; ++j) {
                        const int c0 = n0 + jb * WN + j * VW;
                        if (c0 < N)
                            store_run(acc[i][j], min(VW, N - c0), c0, C + gi * sCm, sCn,
                                      X + gi * sXm, sXn, Z + gi * sCm, alpha, beta, use_x, act);
                    }
                }
            }
        }
    }
    if (K > 0) return;
    /* K == 0: C = act(beta * X), or act(0) */
    for (int gi = m0; gi < min(M, m0 + tm); ++gi)
        for (int gn = n0; gn < min(N, n0 + tn); ++gn) {
            REAL y = use_x ? beta * X[gi * sXm + gn * sXn] : (REAL)0;
            if (act == ACT_GELU || act == ACT_GELU_TANH) Z[gi * sCm + gn * sCn] = y;
            C[gi * sCm + gn * sCn] = act_s(y, act);
        }
}

/* ---------------------------------------------------------------------------------------------
 * Split-K dot-product path (CPU drivers), for C = alpha * A @ B + beta * X when A's rows and B's
 * columns are both contiguous along K (A row-major, B the transpose of a row-major matrix: the
 * weight gradient of a convolution, g @ cols^T) and K is long against M and N. gemm_cpu would
 * repack B transposed for every tile and run its micro-kernel on mostly-empty tiles; here each
 * output is a dot product of two contiguous runs, done in VT vectors straight from memory.
 *
 * gemm_dot_partial: work-item (s, nb) takes chunk s of K ([s*kc, min(K, (s+1)*kc))) and columns
 * [nb*NBLK, ...) of C, and writes the chunk's partial sums for every row of A to
 * P[(s*M + m)*N + n] (2 x 2 outputs at a time: four vector accumulators; the chunk's A and B
 * runs stay in the core's cache while they are reused).
 * gemm_dot_reduce: one work-item per output: C = alpha * (sum over the chunks in order) + beta*X
 * (deterministic). Launch: partial over (nchunks, ceil(N / NBLK)), reduce over M * N. */
#define NBLK 64

/* sum of a[0..len) * b[0..len) for two rows of A and two columns of B at once */
inline void dot2x2(__global const REAL* a0, __global const REAL* a1, __global const REAL* b0,
                   __global const REAL* b1, int len, REAL* r)
{
    VT s00 = (VT)(0), s01 = (VT)(0), s10 = (VT)(0), s11 = (VT)(0);
    int k = 0;
    for (; k + VW <= len; k += VW) {
        VT x0, x1, y0, y1;
        REAL *px0 = (REAL*)&x0, *px1 = (REAL*)&x1, *py0 = (REAL*)&y0, *py1 = (REAL*)&y1;
#pragma unroll
        for (int l = 0; l < VW; ++l) {
            px0[l] = a0[k + l]; px1[l] = a1[k + l]; py0[l] = b0[k + l]; py1[l] = b1[k + l];
        }
        s00 = x0 * y0 + s00; s01 = x0 * y1 + s01;
        s10 = x1 * y0 + s10; s11 = x1 * y1 + s11;
    }
    REAL t00 = 0, t01 = 0, t10 = 0, t11 = 0;
    for (; k < len; ++k) {
        t00 += a0[k] * b0[k]; t01 += a0[k] * b1[k];
        t10 += a1[k] * b0[k]; t11 += a1[k] * b1[k];
    }
    const REAL *q00 = (const REAL*)&s00, *q01 = (const REAL*)&s01,
               *q10 = (const REAL*)&s10, *q11 = (const REAL*)&s11;
#pragma unroll
    for (int l = 0; l < VW; ++l) {
        t00 += q00[l]; t01 += q01[l]; t10 += q10[l]; t11 += q11[l];
    }
    r[0] = t00; r[1] = t01; r[2] = t10; r[3] = t11;
}

__kernel void gemm_dot_partial(int M, int N, int K, int kc,
                               __global const REAL* A, int offA, int sAm,
                               __global const REAL* B, int offB, int sBn,
                               __global REAL* P)
{
    const int s = get_global_id(0), nb = get_global_id(1);
    const int k0 = s * kc, len = min(kc, K - k0);
    const int n_end = min(N, (nb + 1) * NBLK);
    if (len <= 0 || nb * NBLK >= N) return;
    A += offA + k0;
    B += offB + k0;
    P += s * M * N;
    for (int n = nb * NBLK; n < n_end; n += 2) {
        int n1 = min(n + 1, N - 1);            /* an odd last column is computed twice */
        for (int m = 0; m < M; m += 2) {
            int m1 = min(m + 1, M - 1);
            REAL r[4];
            dot2x2(A + m * sAm, A + m1 * sAm, B + n * sBn, B + n1 * sBn, len, r);
            P[m * N + n] = r[0];
            P[m * N + n1] = r[1];
            P[m1 * N + n] = r[2];
            P[m1 * N + n1] = r[3];
        }
    }
}

__kernel void gemm_dot_reduce(int M, int N, int nchunks, __global const REAL* P,
                              __global REAL* C, int offC, int sCm, int sCn,
                              __global const REAL* X, int offX, int sXm, int sXn,
                              REAL alpha, REAL beta, int use_x, int act,
                              __global REAL* Z, int offZ)
{
    const int i = get_global_id(0);
    if (i >= M * N) return;
    const int m = i / N, n = i - m * N;
    REAL acc = 0;
    for (int s = 0; s < nchunks; ++s) acc += P[s * M * N + i];
    REAL r = alpha * acc;
    if (use_x) r += beta * X[offX + m * sXm + n * sXn];
    if (act == ACT_GELU || act == ACT_GELU_TANH) Z[offZ + m * sCm + n * sCn] = r;
    C[offC + m * sCm + n * sCn] = act_s(r, act);
}

#else /* !CPU_STYLE */
/* ---------------------------------------------------------------------------------------------
 * GPU path: NWI work-items cooperatively copy the A and B tiles into local memory, then each
 * accumulates a WM x WN block. Rows are interleaved (row = wr + i*(TM/WM)) so neighbouring
 * work-items read neighbouring local addresses; columns are contiguous VW-vectors.
 * Launch: global (ceil(N/TN) * NWI, ceil(M/TM), nb1 * nb2), local (NWI, 1, 1). */
#define NWI ((TM / WM) * (TN / WN))

__kernel __attribute__((reqd_work_group_size(NWI, 1, 1)))
void gemm_tiled(GEMM_ARGS)
{
    __local REAL As[TK * TM];           /* As[k * TM + i] */
    __local VT Bs_v[TK * TN / VW];      /* Bs[k * TN + n], as vectors for aligned loads */
    __local REAL* Bs = (__local REAL*)Bs_v;

    const int lid = get_local_id(0);
    const int wr = lid % (TM / WM);
    const int wc = lid / (TM / WM);
    const int n0 = get_group_id(0) * TN;
    const int m0 = get_group_id(1) * TM;
    BATCH_SPLIT(bo, bi);
    A += offA + bo * sAb + bi * sAb2;
    B += offB + bo * sBb + bi * sBb2;

    VT acc[WM][NV];
#pragma unroll
    for (int i = 0; i < WM; ++i)
#pragma unroll
        for (int j = 0; j < NV; ++j) acc[i][j] = (VT)(0);

    for (int k0 = 0; k0 < K; k0 += TK) {
        /* neighbouring work-items read along whichever of A's dimensions is contiguous */
        for (int e = lid; e < TM * TK; e += NWI) {
            int i, k;
            if (sAk == 1) { i = e / TK; k = e % TK; } else { i = e % TM; k = e / TM; }
            int gi = m0 + i, gk = k0 + k;
            As[k * TM + i] = (gi < M && gk < K) ? A[gi * sAm + gk * sAk] : (REAL)0;
        }
        for (int e = lid; e < TK * TN; e += NWI) {
            int k, n;
            if (sBk == 1 && sBn != 1) { n = e / TK; k = e % TK; } else { k = e / TN; n = e % TN; }
            int gk = k0 + k, gn = n0 + n;
            Bs[k * TN + n] = (gk < K && gn < N) ? B[gk * sBk + gn * sBn] : (REAL)0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TK; ++k) {
            VT bv[NV];
#pragma unroll
            for (int j = 0; j < NV; ++j) bv[j] = Bs_v[k * (TN / VW) + wc * NV + j];
#pragma unroll
            for (int i = 0; i < WM; ++i) {
                REAL a = As[k * TM + wr + i * (TM / WM)];
#pragma unroll
                for (int j = 0; j < NV; ++j) acc[i][j] = a * bv[j] + acc[i][j];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    C += offC + bo * sCb + bi * sCb2;
    X += offX + bo * sXb + bi * sXb2;
    Z += offZ + bo * sCb + bi * sCb2;
#pragma unroll
    for (int i = 0; i < WM; ++i) {
        int gi = m0 + wr + i * (TM / WM);
        if (gi < M) {
#pragma unroll
            for (int j = 0; j < NV; ++j) {
                VT v = acc[i][j];
                const REAL* vals = (const REAL*)&v;
#pragma unroll
                for (int l = 0; l < VW; ++l) {
                    int gn = n0 + wc * WN + j * VW + l;
                    if (gn < N) {
                        REAL r = alpha * vals[l];
                        if (use_x) r += beta * X[gi * sXm + gn * sXn];
                        if (act == ACT_GELU || act == ACT_GELU_TANH) Z[gi * sCm + gn * sCn] = r;
                        C[gi * sCm + gn * sCn] = act_s(r, act);
                    }
                }
            }
        }
    }
}
#endif /* CPU_STYLE */
#endif /* REAL */
