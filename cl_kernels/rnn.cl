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
 */
#include "vector.h"

inline T sigm(T x) { return (T)1 / ((T)1 + exp(-x)); }
inline TV sigm_v(TV x) { return (TV)1 / ((TV)1 + exp(-x)); }

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
