/* Recurrent cells: the elementwise part of one LSTM or GRU time step, forward and backward, so a
 * step costs one GEMM (h @ W_hh^T, done by gemm.cl) plus one launch here instead of ~10
 * elementwise launches. Build with -DT=float|double and -DVW=<vector width>.
 *
 * One work-item per (row n, run of VW hidden units j0..j0+VW-1); launch over
 * N * ceil(H / VW) work-items. A full run is computed in vector types, because a CPU driver
 * (PoCL) vectorises its work-group loops only when the body makes no library calls, and exp /
 * tanh are calls there (see vector.h). A run cut by the end of a row takes the scalar path.
 * The GRU kernels are laid out the same way.
 *
 * Row-major (N, G*H) operands are passed as (buffer, element offset, row stride); their columns
 * are contiguous (the host makes them so). Outputs are contiguous. Gate orders are PyTorch's:
 * LSTM i, f, g, o; GRU r, z, n.
 *
 * Built with -DRNN_STEP (plus RM, RB, NU below) the program holds instead the fused STEP kernels
 * of CPU drivers, where a launch costs more than a small GEMM's arithmetic: one launch per time
 * step does h @ W_hh^T, adds the step's input projection and runs the cell (forward), or does
 * dG_next @ W_hh for the carried d h and runs the cell's backward (backward).
 */
#include "vector.h"

inline T sigm(T x) { return (T)1 / ((T)1 + exp(-x)); }
inline TV sigm_v(TV x) { return (TV)1 / ((TV)1 + exp(-x)); }

#ifndef RNN_STEP
/* c = f * c_prev + i * g, h = o * tanh(c) from pre-activation gates (N, 4H). */
__kernel void lstm_cell_fwd(int N, int H, __global const T* gates, int goff, int grow,
                            __global const T* cprev, int coff, int crow,
                            __global T* h_out, __global T* c_out, int hoff, int c_out_off) {
    int runs = (H + VW - 1) / VW;
    int idx = get_global_id(0);
    if (idx >= N * runs) return;
    int n = idx / runs, j0 = (idx - n * runs) * VW;
    __global const T* gr = gates + goff + n * grow;
    __global const T* cp = cprev + coff + n * crow;
    __global T* ho = h_out + hoff + n * H;
    __global T* co = c_out + c_out_off + n * H;
    if (j0 + VW <= H) {
        TV i = sigm_v(load_v(gr + j0)), f = sigm_v(load_v(gr + H + j0));
        TV g = tanh(load_v(gr + 2 * H + j0)), o = sigm_v(load_v(gr + 3 * H + j0));
        TV c = f * load_v(cp + j0) + i * g;
        store_v(co + j0, c);
        store_v(ho + j0, o * tanh(c));
        return;
    }
    for (int j = j0; j < H; ++j) {
        T i = sigm(gr[j]), f = sigm(gr[H + j]), g = tanh(gr[2 * H + j]), o = sigm(gr[3 * H + j]);
        T c = f * cp[j] + i * g;
        co[j] = c;
        ho[j] = o * tanh(c);
    }
}

/* Gradients of the LSTM step from dh (gh) and dc (gc): d(pre-activation gates) (N, 4H) and
 * d(c_prev) (N, H). Activations and c are recomputed (cheaper than saving them). gh2: a second
 * gradient of h summed in when has_gh2 (a sequence layer's carried dh), saving an add launch. */
__kernel void lstm_cell_bwd(int N, int H, __global const T* gates, int goff, int grow,
                            __global const T* cprev, int coff, int crow,
                            __global const T* gh, int ghoff, int ghrow,
                            __global const T* gc, int gcoff, int gcrow,
                            __global T* dgates, __global T* dcprev, int dgoff,
                            __global const T* gh2, int gh2off, int gh2row, int has_gh2) {
    int runs = (H + VW - 1) / VW;
    int idx = get_global_id(0);
    if (idx >= N * runs) return;
    int n = idx / runs, j0 = (idx - n * runs) * VW;
    __global const T* gr = gates + goff + n * grow;
    __global const T* cpr = cprev + coff + n * crow;
    __global const T* ghr = gh + ghoff + n * ghrow;
    __global const T* gh2r = gh2 + gh2off + n * gh2row;
    __global const T* gcr = gc + gcoff + n * gcrow;
    __global T* dr = dgates + dgoff + n * 4 * H;
    __global T* dcr = dcprev + n * H;
    if (j0 + VW <= H) {
        TV i = sigm_v(load_v(gr + j0)), f = sigm_v(load_v(gr + H + j0));
        TV g = tanh(load_v(gr + 2 * H + j0)), o = sigm_v(load_v(gr + 3 * H + j0));
        TV cp = load_v(cpr + j0);
        TV tc = tanh(f * cp + i * g);
        TV dh = load_v(ghr + j0);
        if (has_gh2) dh += load_v(gh2r + j0);
        TV dc = load_v(gcr + j0) + dh * o * ((TV)1 - tc * tc);
        store_v(dr + j0, dc * g * i * ((TV)1 - i));
        store_v(dr + H + j0, dc * cp * f * ((TV)1 - f));
        store_v(dr + 2 * H + j0, dc * i * ((TV)1 - g * g));
        store_v(dr + 3 * H + j0, dh * tc * o * ((TV)1 - o));
        store_v(dcr + j0, dc * f);
        return;
    }
    for (int j = j0; j < H; ++j) {
        T i = sigm(gr[j]), f = sigm(gr[H + j]), g = tanh(gr[2 * H + j]), o = sigm(gr[3 * H + j]);
        T cp = cpr[j];
        T tc = tanh(f * cp + i * g);
        T dh = ghr[j] + (has_gh2 ? gh2r[j] : (T)0);
        T dc = gcr[j] + dh * o * ((T)1 - tc * tc);
        dr[j] = dc * g * i * ((T)1 - i);
        dr[H + j] = dc * cp * f * ((T)1 - f);
        dr[2 * H + j] = dc * i * ((T)1 - g * g);
        dr[3 * H + j] = dh * tc * o * ((T)1 - o);
        dcr[j] = dc * f;
    }
}

/* GRU step from the input part gi = x W_ih^T + b_ih and the hidden part gh = h W_hh^T + b_hh
 * (both (N, 3H)): r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
 * h' = (1 - z) * n + z * h, written at h_out + ooff (row stride H). Work-items as the LSTM's. */
__kernel void gru_cell_fwd(int N, int H, __global const T* gi, int ioff, int irow,
                           __global const T* gh, int hgoff, int hgrow,
                           __global const T* h, int hoff, int hrow, __global T* h_out, int ooff) {
    int runs = (H + VW - 1) / VW;
    int idx = get_global_id(0);
    if (idx >= N * runs) return;
    int n = idx / runs, j0 = (idx - n * runs) * VW;
    __global const T* a = gi + ioff + n * irow;
    __global const T* b = gh + hgoff + n * hgrow;
    __global const T* hp = h + hoff + n * hrow;
    __global T* o = h_out + ooff + n * H;
    if (j0 + VW <= H) {
        TV r = sigm_v(load_v(a + j0) + load_v(b + j0));
        TV z = sigm_v(load_v(a + H + j0) + load_v(b + H + j0));
        TV nn = tanh(load_v(a + 2 * H + j0) + r * load_v(b + 2 * H + j0));
        store_v(o + j0, ((TV)1 - z) * nn + z * load_v(hp + j0));
        return;
    }
    for (int j = j0; j < H; ++j) {
        T r = sigm(a[j] + b[j]), z = sigm(a[H + j] + b[H + j]);
        T nn = tanh(a[2 * H + j] + r * b[2 * H + j]);
        o[j] = ((T)1 - z) * nn + z * hp[j];
    }
}

/* Gradients of the GRU step from dh' (g, plus g2 when has_g2: a sequence layer's carried
 * gradient, saving an add launch): d gi and d gh (N, 3H, written at dgi + dgoff and
 * dgh + dgoff, row stride 3H) and the direct part of d h, g * z (N, H, contiguous). */
__kernel void gru_cell_bwd(int N, int H, __global const T* gi, int ioff, int irow,
                           __global const T* gh, int hgoff, int hgrow,
                           __global const T* h, int hoff, int hrow,
                           __global const T* g, int goff, int grow,
                           __global T* dgi, __global T* dgh, int dgoff, __global T* dh,
                           __global const T* g2, int g2off, int g2row, int has_g2) {
    int runs = (H + VW - 1) / VW;
    int idx = get_global_id(0);
    if (idx >= N * runs) return;
    int n = idx / runs, j0 = (idx - n * runs) * VW;
    __global const T* a = gi + ioff + n * irow;
    __global const T* b = gh + hgoff + n * hgrow;
    __global const T* hp = h + hoff + n * hrow;
    __global const T* gr = g + goff + n * grow;
    __global const T* g2r = g2 + g2off + n * g2row;
    __global T* di = dgi + dgoff + n * 3 * H;
    __global T* dhg = dgh + dgoff + n * 3 * H;
    __global T* dhr = dh + n * H;
    if (j0 + VW <= H) {
        TV r = sigm_v(load_v(a + j0) + load_v(b + j0));
        TV z = sigm_v(load_v(a + H + j0) + load_v(b + H + j0));
        TV hn = load_v(b + 2 * H + j0);
        TV nn = tanh(load_v(a + 2 * H + j0) + r * hn);
        TV go = load_v(gr + j0);
        if (has_g2) go += load_v(g2r + j0);
        TV dn = go * ((TV)1 - z) * ((TV)1 - nn * nn);
        TV dz = go * (load_v(hp + j0) - nn) * z * ((TV)1 - z);
        TV dr = dn * hn * r * ((TV)1 - r);
        store_v(di + j0, dr);
        store_v(di + H + j0, dz);
        store_v(di + 2 * H + j0, dn);
        store_v(dhg + j0, dr);
        store_v(dhg + H + j0, dz);
        store_v(dhg + 2 * H + j0, dn * r);
        store_v(dhr + j0, go * z);
        return;
    }
    for (int j = j0; j < H; ++j) {
        T r = sigm(a[j] + b[j]), z = sigm(a[H + j] + b[H + j]);
        T hn = b[2 * H + j];
        T nn = tanh(a[2 * H + j] + r * hn);
        T go = gr[j] + (has_g2 ? g2r[j] : (T)0);
        T dn = go * ((T)1 - z) * ((T)1 - nn * nn);
        T dz = go * (hp[j] - nn) * z * ((T)1 - z);
        T dr = dn * hn * r * ((T)1 - r);
        di[j] = dr;
        di[H + j] = dz;
        di[2 * H + j] = dn;
        dhg[j] = dr;
        dhg[H + j] = dz;
        dhg[2 * H + j] = dn * r;
        dhr[j] = go * z;
    }
}

/* Elman RNN: the activation of a step in place over n contiguous pre-activations at x + off
 * (x = tanh(x), or relu(x) when use_relu; a NaN stays NaN, as in torch). One work-item per run
 * of VW elements. */
__kernel void rnn_act_fwd(int n, __global T* x, int off, int use_relu) {
    int i0 = get_global_id(0) * VW;
    if (i0 >= n) return;
    __global T* p = x + off;
    if (i0 + VW <= n) {
        TV v = load_v(p + i0);
        store_v(p + i0, use_relu ? select(v, (TV)(0), v < (TV)(0)) : tanh(v));
        return;
    }
    for (int i = i0; i < n; ++i) p[i] = use_relu ? (p[i] < (T)0 ? (T)0 : p[i]) : tanh(p[i]);
}

/* Its backward from the step's output h: d = (g + g2) * (1 - h^2) for tanh, or (g + g2) where
 * h > 0 (torch's rule: h <= 0 gives 0, so a NaN output passes the gradient) for relu; g2 (the
 * carried gradient) only when has_g2. All operands contiguous runs of n elements. */
__kernel void rnn_act_bwd(int n, __global const T* h, int hoff, __global const T* g, int goff,
                          __global const T* g2, int g2off, int has_g2, __global T* d, int doff,
                          int use_relu) {
    int i0 = get_global_id(0) * VW;
    if (i0 >= n) return;
    h += hoff; g += goff; g2 += g2off; d += doff;
    if (i0 + VW <= n) {
        TV hv = load_v(h + i0), gv = load_v(g + i0);
        if (has_g2) gv += load_v(g2 + i0);
        store_v(d + i0, use_relu ? select(gv, (TV)(0), hv <= (TV)(0)) : gv * ((TV)1 - hv * hv));
        return;
    }
    for (int i = i0; i < n; ++i) {
        T gv = g[i] + (has_g2 ? g2[i] : (T)0);
        d[i] = use_relu ? (h[i] <= (T)0 ? (T)0 : gv) : gv * ((T)1 - h[i] * h[i]);
    }
}
#else /* RNN_STEP */
/* ---------------------------------------------------------------------------------------------
 * Fused time steps (CPU drivers). Defines: T, VW (the device's native vector width), RM (rows
 * per forward work-item), RB and NU (rows and VW-vectors of hidden units per backward
 * work-item). A work-group is one work-item (no barriers: PoCL runs it as plain code) that keeps
 * a register block of accumulators over the whole K loop, reading h (or dG) rows and the packed
 * weights straight from global memory: at these sizes both stay in the core's cache.
 *
 * Packed weights (rnn_pack_fwd / rnn_pack_bwd, made once per sequence, zero past H):
 *   Wf[u][k][g][v] = W_hh[g*H + u*VW + v][k]   forward: VW units u*VW.. of every gate, per k
 *   Wb[u][q][v]    = W_hh[q][u*UW + v]          backward: UW = NU*VW units u*UW.., per q < G*H
 * Rows past N read row N-1 and store nothing; units past H are computed on zero weights and not
 * stored. h, c and carried gradients are (N, H) row blocks at an offset (row stride H); the saved
 * activations and gate gradients are (N, G*H) row blocks at an offset (row stride G*H); the
 * step's input projection and output gradient take a row stride of their own (batch_first
 * sequences are read in place). Each kernel is a loop over ``ub`` unit blocks (u = gid0 * ub ..)
 * of its *_at body: PoCL pays a fixed cost per work-group, so a launch has a few long groups per
 * core rather than one per block. Launch: global (ceil(U / ub), ceil(N / RM)) forward with
 * U = ceil(H / VW), (ceil(U / ub), ceil(N / RB)) backward with U = ceil(H / UW), local (1, 1). */
#define UW (NU * VW)

/* the first n (<= VW) elements at p, zeros after them */
inline TV load_n(__global const T* p, int n) {
    if (n == VW) return load_v(p);
    TV v = (TV)(0);
    T* pv = (T*)&v;
    for (int l = 0; l < n; ++l) pv[l] = p[l];
    return v;
}

inline void store_n(__global T* p, TV v, int n) {
    if (n == VW) { store_v(p, v); return; }
    const T* pv = (const T*)&v;
    for (int l = 0; l < n; ++l) p[l] = pv[l];
}

/* Wf from W_hh (G*H, H) with strides (sr, sc). Launch over (G * VW, H, ceil(H / VW)): one
 * work-item per element, no index divisions by run-time values (slow in vectorised loops). */
__kernel void rnn_pack_fwd(int G, int H, __global const T* W, int woff, int sr, int sc,
                           __global T* D, int doff) {
    const int gv = get_global_id(0), k = get_global_id(1), u = get_global_id(2);
    const int v = gv % VW, g = gv / VW, j = u * VW + v;
    D[doff + (u * H + k) * G * VW + gv] = j < H ? W[woff + (g * H + j) * sr + k * sc] : (T)0;
}

/* Wb from W_hh (G*H, H) with strides (sr, sc). Launch over (UW, G * H, ceil(H / UW)). */
__kernel void rnn_pack_bwd(int G, int H, __global const T* W, int woff, int sr, int sc,
                           __global T* D, int doff) {
    const int v = get_global_id(0), q = get_global_id(1), u = get_global_id(2);
    const int j = u * UW + v;
    D[doff + (u * G * H + q) * UW + v] = j < H ? W[woff + q * sr + j * sc] : (T)0;
}

/* acc[i][g] = sum_k A[row i][k] * Wf[u][k][g][:] over rows a[i] (row offsets) for G gates */
#define STEP_GEMM_FWD(G, acc, A, a, w, K)                                                       \
    for (int k = 0; k < (K); ++k) {                                                             \
        TV wv[G];                                                                               \
        _Pragma("unroll") for (int g = 0; g < G; ++g) wv[g] = load_v(w + (k * G + g) * VW);     \
        _Pragma("unroll") for (int i = 0; i < RM; ++i) {                                        \
            const T x = (A)[a[i] + k];                                                          \
            _Pragma("unroll") for (int g = 0; g < G; ++g) acc[i][g] = x * wv[g] + acc[i][g];    \
        }                                                                                       \
    }

/* acc[i][v] = sum_q D[row i][q] * Wb[u][q][v*VW..] over K = G*H: the carried d h */
#define STEP_GEMM_BWD(acc, D, d, w, K)                                                          \
    for (int q = 0; q < (K); ++q) {                                                             \
        TV wv[NU];                                                                              \
        _Pragma("unroll") for (int v = 0; v < NU; ++v) wv[v] = load_v(w + q * UW + v * VW);     \
        _Pragma("unroll") for (int i = 0; i < RB; ++i) {                                        \
            const T x = (D)[d[i] + q];                                                          \
            _Pragma("unroll") for (int v = 0; v < NU; ++v) acc[i][v] = x * wv[v] + acc[i][v];   \
        }                                                                                       \
    }

/* One LSTM step: gates = P + h_in @ W_hh^T; i, f, o = sigmoid, g = tanh; c_out = f * c_in + i * g;
 * h_out = o * tanh(c_out). The activated gates (i, f, g, o) are saved at acts + aoff for the
 * backward. h_in and h_out (hs), c_in and c_out (cs) are distinct row blocks of one buffer.
 * With orow != 0, h_out is also stored at ob + ooff with row stride orow (a batch_first
 * layer's output, written in the layout its consumer reads; ob is NULL otherwise). */
inline void lstm_step_fwd_at(int u, int m0, int N, int H, __global const T* W, int woff,
                            __global const T* P, int poff, int prow,
                            __global T* hs, int hin, int hout, __global T* cs, int cin, int cout,
                            __global T* acts, int aoff, __global T* ob, int ooff, int orow)
{
    const int j0 = u * VW, nj = min(VW, H - j0);
    if (nj <= 0 || m0 >= N) return;
    __global const T* w = W + woff + u * H * 4 * VW;
    int a[RM];
    TV acc[RM][4];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        a[i] = hin + min(m0 + i, N - 1) * H;
#pragma unroll
        for (int g = 0; g < 4; ++g) acc[i][g] = (TV)(0);
    }
    STEP_GEMM_FWD(4, acc, hs, a, w, H)
    for (int i = 0; i < RM && m0 + i < N; ++i) {
        const int row = m0 + i;
        __global const T* pr = P + poff + row * prow + j0;
        const TV ig = sigm_v(acc[i][0] + load_n(pr, nj));
        const TV fg = sigm_v(acc[i][1] + load_n(pr + H, nj));
        const TV gg = tanh(acc[i][2] + load_n(pr + 2 * H, nj));
        const TV og = sigm_v(acc[i][3] + load_n(pr + 3 * H, nj));
        const TV c = fg * load_n(cs + cin + row * H + j0, nj) + ig * gg;
        store_n(cs + cout + row * H + j0, c, nj);
        const TV h = og * tanh(c);
        store_n(hs + hout + row * H + j0, h, nj);
        if (orow) store_n(ob + ooff + row * orow + j0, h, nj);
        __global T* ar = acts + aoff + row * 4 * H + j0;
        store_n(ar, ig, nj);
        store_n(ar + H, fg, nj);
        store_n(ar + 2 * H, gg, nj);
        store_n(ar + 3 * H, og, nj);
    }
}

__kernel void lstm_step_fwd(int N, int H, __global const T* W, int woff,
                            __global const T* P, int poff, int prow,
                            __global T* hs, int hin, int hout, __global T* cs, int cin, int cout,
                            __global T* acts, int aoff, __global T* ob, int ooff, int orow,
                            int ub)
{
    /* unit blocks ub at a time: fewer, longer work-groups (PoCL pays per group) */
    const int m0 = get_global_id(1) * RM;
    for (int u = get_global_id(0) * ub; u < get_global_id(0) * ub + ub; ++u)
        lstm_step_fwd_at(u, m0, N, H, W, woff, P, poff, prow, hs, hin, hout, cs, cin, cout, acts,
                                aoff, ob, ooff, orow);
}

/* Backward of one LSTM step. d h = go + (has_next ? dG[dnext rows] @ W_hh : gx), where gx is the
 * gradient of the sequence's last h (used at the last step); then from the saved activations,
 * c_prev (cs + cprev) and c (cs + ccur): the pre-activation gate gradients at dG + dcur and, in
 * place in dc (the carried d c, read then overwritten by the same work-item), d c_prev. */
inline void lstm_step_bwd_at(int u, int m0, int N, int H, __global const T* W, int woff,
                            __global T* dG, int dnext, int dcur, int has_next,
                            __global const T* go, int gooff, int gorow,
                            __global const T* gx, int gxoff, int gxrow,
                            __global const T* acts, int aoff,
                            __global const T* cs, int cprev, int ccur,
                            __global T* dc, int dcoff)
{
    if (u * UW >= H || m0 >= N) return;
    __global const T* w = W + woff + u * 4 * H * UW;
    int d[RB];
    TV acc[RB][NU];
#pragma unroll
    for (int i = 0; i < RB; ++i) {
        d[i] = dnext + min(m0 + i, N - 1) * 4 * H;
#pragma unroll
        for (int v = 0; v < NU; ++v) acc[i][v] = (TV)(0);
    }
    if (has_next) {
        STEP_GEMM_BWD(acc, dG, d, w, 4 * H)
    }
    for (int i = 0; i < RB && m0 + i < N; ++i) {
        const int row = m0 + i;
#pragma unroll
        for (int v = 0; v < NU; ++v) {
            const int j = u * UW + v * VW, nj = min(VW, H - j);
            if (nj <= 0) break;
            TV dh = acc[i][v] + load_n(go + gooff + row * gorow + j, nj);
            if (!has_next) dh += load_n(gx + gxoff + row * gxrow + j, nj);
            __global const T* ar = acts + aoff + row * 4 * H + j;
            const TV ig = load_n(ar, nj), fg = load_n(ar + H, nj);
            const TV gg = load_n(ar + 2 * H, nj), og = load_n(ar + 3 * H, nj);
            const TV cp = load_n(cs + cprev + row * H + j, nj);
            const TV tc = tanh(load_n(cs + ccur + row * H + j, nj));
            __global T* dcr = dc + dcoff + row * H + j;
            const TV dcv = load_n(dcr, nj) + dh * og * ((TV)1 - tc * tc);
            __global T* dr = dG + dcur + row * 4 * H + j;
            store_n(dr, dcv * gg * ig * ((TV)1 - ig), nj);
            store_n(dr + H, dcv * cp * fg * ((TV)1 - fg), nj);
            store_n(dr + 2 * H, dcv * ig * ((TV)1 - gg * gg), nj);
            store_n(dr + 3 * H, dh * tc * og * ((TV)1 - og), nj);
            store_n(dcr, dcv * fg, nj);
        }
    }
}

__kernel void lstm_step_bwd(int N, int H, __global const T* W, int woff,
                            __global T* dG, int dnext, int dcur, int has_next,
                            __global const T* go, int gooff, int gorow,
                            __global const T* gx, int gxoff, int gxrow,
                            __global const T* acts, int aoff,
                            __global const T* cs, int cprev, int ccur,
                            __global T* dc, int dcoff, int ub)
{
    /* unit blocks ub at a time: fewer, longer work-groups (PoCL pays per group) */
    const int m0 = get_global_id(1) * RB;
    for (int u = get_global_id(0) * ub; u < get_global_id(0) * ub + ub; ++u)
        lstm_step_bwd_at(u, m0, N, H, W, woff, dG, dnext, dcur, has_next, go, gooff, gorow, gx,
                                gxoff, gxrow, acts, aoff, cs, cprev, ccur, dc, dcoff);
}

/* One GRU step: gh = h_in @ W_hh^T (+ b_hh when has_bias, stride-1 at bias + boff);
 * r = s(P_r + gh_r), z = s(P_z + gh_z), n = tanh(P_n + r * gh_n), h_out = (1 - z) n + z h_in.
 * Saves (r, z, n, gh_n) at acts + aoff (row stride 4H) for the backward; h_out also at
 * ob + ooff (row stride orow) when orow != 0, as the LSTM's. */
inline void gru_step_fwd_at(int u, int m0, int N, int H, __global const T* W, int woff,
                           __global const T* P, int poff, int prow,
                           __global const T* bias, int boff, int has_bias,
                           __global T* hs, int hin, int hout, __global T* acts, int aoff,
                           __global T* ob, int ooff, int orow)
{
    const int j0 = u * VW, nj = min(VW, H - j0);
    if (nj <= 0 || m0 >= N) return;
    __global const T* w = W + woff + u * H * 3 * VW;
    int a[RM];
    TV acc[RM][3];
#pragma unroll
    for (int i = 0; i < RM; ++i) {
        a[i] = hin + min(m0 + i, N - 1) * H;
#pragma unroll
        for (int g = 0; g < 3; ++g) acc[i][g] = (TV)(0);
    }
    STEP_GEMM_FWD(3, acc, hs, a, w, H)
    TV b[3] = {(TV)(0), (TV)(0), (TV)(0)};
    if (has_bias) {
#pragma unroll
        for (int g = 0; g < 3; ++g) b[g] = load_n(bias + boff + g * H + j0, nj);
    }
    for (int i = 0; i < RM && m0 + i < N; ++i) {
        const int row = m0 + i;
        __global const T* pr = P + poff + row * prow + j0;
        const TV r = sigm_v(load_n(pr, nj) + acc[i][0] + b[0]);
        const TV z = sigm_v(load_n(pr + H, nj) + acc[i][1] + b[1]);
        const TV hn = acc[i][2] + b[2];
        const TV n = tanh(load_n(pr + 2 * H, nj) + r * hn);
        const TV hp = load_n(hs + hin + row * H + j0, nj);
        const TV h = ((TV)1 - z) * n + z * hp;
        store_n(hs + hout + row * H + j0, h, nj);
        if (orow) store_n(ob + ooff + row * orow + j0, h, nj);
        __global T* ar = acts + aoff + row * 4 * H + j0;
        store_n(ar, r, nj);
        store_n(ar + H, z, nj);
        store_n(ar + 2 * H, n, nj);
        store_n(ar + 3 * H, hn, nj);
    }
}

__kernel void gru_step_fwd(int N, int H, __global const T* W, int woff,
                           __global const T* P, int poff, int prow,
                           __global const T* bias, int boff, int has_bias,
                           __global T* hs, int hin, int hout, __global T* acts, int aoff,
                           __global T* ob, int ooff, int orow, int ub)
{
    /* unit blocks ub at a time: fewer, longer work-groups (PoCL pays per group) */
    const int m0 = get_global_id(1) * RM;
    for (int u = get_global_id(0) * ub; u < get_global_id(0) * ub + ub; ++u)
        gru_step_fwd_at(u, m0, N, H, W, woff, P, poff, prow, bias, boff, has_bias, hs, hin, hout,
                               acts, aoff, ob, ooff, orow);
}

/* Backward of one GRU step. d h' = go + carry + (has_next ? dGH[dnext rows] @ W_hh : 0), where
 * carry (in place, row block at coff) holds z * d h' of the step after (the last h's gradient
 * before the first launch) and is overwritten with this step's z * d h'. Writes the input part's
 * gate gradients (dr, dz, dn) at dGI + dcur and the hidden part's (dr, dz, dn * r) at dGH + dcur
 * (row stride 3H); h_prev is the row block hs + hprev. */
inline void gru_step_bwd_at(int u, int m0, int N, int H, __global const T* W, int woff,
                           __global T* dGH, int dnext, int dcur, int has_next,
                           __global T* dGI, int dioff,
                           __global const T* go, int gooff, int gorow,
                           __global const T* acts, int aoff,
                           __global const T* hs, int hprev, __global T* carry, int coff)
{
    if (u * UW >= H || m0 >= N) return;
    __global const T* w = W + woff + u * 3 * H * UW;
    int d[RB];
    TV acc[RB][NU];
#pragma unroll
    for (int i = 0; i < RB; ++i) {
        d[i] = dnext + min(m0 + i, N - 1) * 3 * H;
#pragma unroll
        for (int v = 0; v < NU; ++v) acc[i][v] = (TV)(0);
    }
    if (has_next) {
        STEP_GEMM_BWD(acc, dGH, d, w, 3 * H)
    }
    for (int i = 0; i < RB && m0 + i < N; ++i) {
        const int row = m0 + i;
#pragma unroll
        for (int v = 0; v < NU; ++v) {
            const int j = u * UW + v * VW, nj = min(VW, H - j);
            if (nj <= 0) break;
            __global T* cr = carry + coff + row * H + j;
            const TV g = acc[i][v] + load_n(go + gooff + row * gorow + j, nj) + load_n(cr, nj);
            __global const T* ar = acts + aoff + row * 4 * H + j;
            const TV r = load_n(ar, nj), z = load_n(ar + H, nj);
            const TV n = load_n(ar + 2 * H, nj), hn = load_n(ar + 3 * H, nj);
            const TV hp = load_n(hs + hprev + row * H + j, nj);
            const TV dn = g * ((TV)1 - z) * ((TV)1 - n * n);
            const TV dz = g * (hp - n) * z * ((TV)1 - z);
            const TV dr = dn * hn * r * ((TV)1 - r);
            __global T* di = dGI + dioff + row * 3 * H + j;
            __global T* dh = dGH + dcur + row * 3 * H + j;
            store_n(di, dr, nj);
            store_n(di + H, dz, nj);
            store_n(di + 2 * H, dn, nj);
            store_n(dh, dr, nj);
            store_n(dh + H, dz, nj);
            store_n(dh + 2 * H, dn * r, nj);
            store_n(cr, g * z, nj);
        }
    }
}

__kernel void gru_step_bwd(int N, int H, __global const T* W, int woff,
                           __global T* dGH, int dnext, int dcur, int has_next,
                           __global T* dGI, int dioff,
                           __global const T* go, int gooff, int gorow,
                           __global const T* acts, int aoff,
                           __global const T* hs, int hprev, __global T* carry, int coff, int ub)
{
    /* unit blocks ub at a time: fewer, longer work-groups (PoCL pays per group) */
    const int m0 = get_global_id(1) * RB;
    for (int u = get_global_id(0) * ub; u < get_global_id(0) * ub + ub; ++u)
        gru_step_bwd_at(u, m0, N, H, W, woff, dGH, dnext, dcur, has_next, dGI, dioff, go, gooff,
                               gorow, acts, aoff, hs, hprev, carry, coff);
}
#endif /* RNN_STEP */
