/* One reduction op's kernels; reduce.cl includes this file once per op (see the list there).
 *
 * The including file defines, besides the dtype macros (T, IS_FLOAT, PA):
 *   NAME            kernel name prefix: NAME_cols, NAME_colsv, NAME_rows (NAME = r_<op>: plain
 *                 "max", "min", "all", "any" are builtin names that PoCL renames by macro)
 *   ACC             accumulator type; it is also the output type
 *   ACC_FLOAT       1 when ACC is float/double (enables the post transforms)
 *   OVW             vector width of this op's loads: 1 (scalar only), 8 or 16
 *   IDENT           identity of COMB
 *   COMB(a, b)      associative combine, valid for scalars and ACC vectors
 *   LOAD_S(x)       one input element of type T -> mapped ACC value
 *   LOAD_V(v)       one OVW-vector of T -> mapped ACC vector (only when OVW > 1)
 * LOAD_S / LOAD_V may use `p_` (this output's parameter from `param`, e.g. the mean for var) and
 * `a_` (the scalar map argument, e.g. the p of a p-norm).
 *
 * Every kernel reads in[off + oo*so + oi*si + r*sr] for output o = oo*inner + oi and r in
 * [0, R), split into `chunks` chunks of chunk_len. With chunks == 1 it writes
 * out[o] = post(acc); otherwise it writes the raw accumulator to part[o*chunks + c] and the host
 * reduces those partials in a second launch.
 */

#if OVW > 1
#define TVEC CAT(T, OVW)
#define ACCV CAT(ACC, OVW)
#define LOADV_(v) LOAD_V(v)
#else
#define TVEC T
#define ACCV ACC
#define LOADV_(v) LOAD_S(v)
#endif

#define REDUCE_ARGS int n_out, int R, int inner, int chunks, int chunk_len,              \
                    __global const T* in, int off, int so, int si, int sr,               \
                    __global ACC* out, __global ACC* part, __global const ACC* param,     \
                    PA a_, int post, PA post_a

/* Final transform of a finished accumulator (mean, std, norms, logsumexp). */
inline ACC CAT(NAME, _post)(ACC acc, ACC p_, int post, PA a) {
#if ACC_FLOAT
    switch (post) {
        case 1: return acc * (ACC)a;              /* mean, var */
        case 2: return sqrt(acc * (ACC)a);        /* std */
        case 3: return sqrt(acc);                 /* 2-norm */
        case 4: return pow(acc, (ACC)a);          /* p-norm: (sum |x|^p)^(1/p) */
        case 5: return log(acc) + p_;             /* logsumexp: log(sum exp(x - m)) + m */
        case 6: return isinf(acc) ? (ACC)0 : acc; /* logsumexp's shift m: 0 where the max is inf */
        default: break;
    }
#endif
    return acc;
}

/* Work-item `lid` of `L`'s share of the contiguous elements in[lo..hi): scalar head up to the
 * first OVW-aligned element, aligned vector body, scalar tail. Body vectors go to work-items in
 * contiguous blocks (CPU: each thread streams its own block) or interleaved (GPU: coalesced). */
inline ACC CAT(NAME, _seg1)(__global const T* in, int lo, int hi, int lid, int L, int interleave,
                            ACC p_, PA a_) {
    ACC acc = IDENT;
#if OVW > 1
    int head = min(hi - lo, (OVW - lo % OVW) % OVW);
    int vlo = lo + head;
    int nv = (hi - vlo) / OVW;
    for (int k = lid; k < head; k += L) acc = COMB(acc, LOAD_S(in[lo + k]));
    for (int k = vlo + nv * OVW + lid; k < hi; k += L) acc = COMB(acc, LOAD_S(in[k]));
    int per = (nv + L - 1) / L;
    int first, step, cnt;
    if (interleave) {
        first = lid; step = L; cnt = lid < nv ? (nv - lid + L - 1) / L : 0;
    } else {
        first = lid * per; step = 1; cnt = clamp(nv - first, 0, per);
    }
    __global const TVEC* vp = (__global const TVEC*)(in + vlo) + first;
    ACCV a0 = (ACCV)(IDENT), a1 = a0, a2 = a0, a3 = a0;
    int k = 0;
    /* four independent accumulators: shorter dependency chains (speed) and shorter
       sequential sums (accuracy) */
    for (; k + 4 <= cnt; k += 4) {
        a0 = COMB(a0, LOAD_V(vp[0]));
        a1 = COMB(a1, LOAD_V(vp[step]));
        a2 = COMB(a2, LOAD_V(vp[2 * step]));
        a3 = COMB(a3, LOAD_V(vp[3 * step]));
        vp += 4 * step;
    }
    for (; k < cnt; ++k) {
        a0 = COMB(a0, LOAD_V(vp[0]));
        vp += step;
    }
    a0 = COMB(COMB(a0, a1), COMB(a2, a3));
    /* fold the lanes pairwise (halves), written out here: a helper function taking a 512-bit
       vector argument changes the x86 ABI without AVX-512 */
#if OVW == 16
    CAT(ACC, 8) f8 = COMB(a0.lo, a0.hi);
#else
    CAT(ACC, 8) f8 = a0;
#endif
    CAT(ACC, 4) f4 = COMB(f8.lo, f8.hi);
    CAT(ACC, 2) f2 = COMB(f4.lo, f4.hi);
    acc = COMB(acc, COMB(f2.x, f2.y));
#else
    int n = hi - lo;
    int per = (n + L - 1) / L;
    int first = interleave ? lo + lid : lo + lid * per;
    int step = interleave ? L : 1;
    int last = interleave ? hi : min(hi, first + per);
    ACC a1 = IDENT;
    int k = first;
    for (; k + step < last; k += 2 * step) {
        acc = COMB(acc, LOAD_S(in[k]));
        a1 = COMB(a1, LOAD_S(in[k + step]));
    }
    if (k < last) acc = COMB(acc, LOAD_S(in[k]));
    acc = COMB(acc, a1);
#endif
    return acc;
}

/* Elements in[base + r*sr] for r in [r0, r1), any stride. */
inline ACC CAT(NAME, _segs)(__global const T* in, int base, int sr, int r0, int r1, ACC p_, PA a_) {
    ACC a0 = IDENT, a1 = IDENT;
    int r = r0;
    for (; r + 2 <= r1; r += 2) {
        a0 = COMB(a0, LOAD_S(in[base + r * sr]));
        a1 = COMB(a1, LOAD_S(in[base + (r + 1) * sr]));
    }
    if (r < r1) a0 = COMB(a0, LOAD_S(in[base + r * sr]));
    return COMB(a0, a1);
}

inline void CAT(NAME, _store)(__global ACC* out, __global ACC* part, int o, int c, int chunks,
                              ACC acc, ACC p_, int post, PA post_a) {
    if (chunks > 1) part[o * chunks + c] = acc;
    else out[o] = CAT(NAME, _post)(acc, p_, post, post_a);
}

/* One work-item per (output, chunk): walks r (vector loads when the row is contiguous). */
__kernel void CAT(NAME, _cols)(REDUCE_ARGS) {
    int gid = get_global_id(0);
    if (gid >= n_out * chunks) return;
    int o = gid / chunks, c = gid - o * chunks;
    int oo = o / inner, oi = o - oo * inner;
    int base = off + oo * so + oi * si;
    int r0 = c * chunk_len, r1 = min(R, r0 + chunk_len);
    ACC p_ = param ? param[o] : (ACC)0;
    ACC acc = sr == 1 ? CAT(NAME, _seg1)(in, base + r0, base + max(r0, r1), 0, 1, 0, p_, a_)
                      : CAT(NAME, _segs)(in, base, sr, r0, r1, p_, a_);
    CAT(NAME, _store)(out, part, o, c, chunks, acc, p_, post, post_a);
}

/* One work-item per (OVW adjacent outputs along inner, chunk), walking r with vector loads.
 * The host uses it when si == 1; `aligned` says off, so and sr are multiples of OVW (aligned
 * vector loads), else vectors are gathered lane by lane. A last partial group of outputs is
 * walked output by output. Only for ops with vector loads (OVW > 1): the host never picks it for
 * scalar ops (count, all, any), so those get no colsv kernel. */
#if OVW > 1
__kernel void CAT(NAME, _colsv)(REDUCE_ARGS, int aligned) {
    int outer = n_out / inner;
    int nvi = (inner + OVW - 1) / OVW;
    int gid = get_global_id(0);
    if (gid >= outer * nvi * chunks) return;
    int v = gid / chunks, c = gid - v * chunks;
    int oo = v / nvi, i0 = (v - oo * nvi) * OVW;
    int o0 = oo * inner + i0;
    int r0 = c * chunk_len, r1 = min(R, r0 + chunk_len);
    int base = off + oo * so + i0;
    if (i0 + OVW <= inner) {
        union { ACCV v; ACC s[OVW]; } pu, u;
        for (int j = 0; j < OVW; ++j) pu.s[j] = param ? param[o0 + j] : (ACC)0;
        ACCV p_ = pu.v;
        ACCV acc = (ACCV)(IDENT);
        if (aligned) {
            __global const TVEC* vp = (__global const TVEC*)(in + base + r0 * sr);
            int vstep = sr / OVW;
            for (int r = r0; r < r1; ++r) {
                acc = COMB(acc, LOADV_(vp[0]));
                vp += vstep;
            }
        } else {
            /* lane-by-lane loads into a vector: the compiler merges them into one unaligned
               vector load where the target has one */
            __global const T* q = in + base + r0 * sr;
            for (int r = r0; r < r1; ++r) {
                union { TVEC v; T s[OVW]; } x;
                for (int j = 0; j < OVW; ++j) x.s[j] = q[j];
                acc = COMB(acc, LOADV_(x.v));
                q += sr;
            }
        }
        u.v = acc;
        for (int j = 0; j < OVW; ++j)
            CAT(NAME, _store)(out, part, o0 + j, c, chunks, u.s[j], pu.s[j], post, post_a);
    } else {
        for (int j = 0; j < inner - i0; ++j) {
            ACC p_ = param ? param[o0 + j] : (ACC)0;
            ACC acc = CAT(NAME, _segs)(in, base + j, sr, r0, r1, p_, a_);
            CAT(NAME, _store)(out, part, o0 + j, c, chunks, acc, p_, post, post_a);
        }
    }
}
#endif

/* One work-group per (output, chunk) of a contiguous row (sr == 1): each work-item reduces its
 * share, then a tree in local memory (GPUs; long rows). */
__kernel void CAT(NAME, _rows)(REDUCE_ARGS, int interleave, __local ACC* scratch) {
    int lid = get_local_id(0), L = get_local_size(0);
    int g = get_group_id(0);
    int o = g / chunks, c = g - o * chunks;
    int oo = o / inner, oi = o - oo * inner;
    int base = off + oo * so + oi * si;
    int r0 = c * chunk_len, r1 = min(R, r0 + chunk_len);
    ACC p_ = param ? param[o] : (ACC)0;
    scratch[lid] = CAT(NAME, _seg1)(in, base + r0, base + max(r0, r1), lid, L, interleave, p_, a_);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L >> 1; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] = COMB(scratch[lid], scratch[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) CAT(NAME, _store)(out, part, o, c, chunks, scratch[0], p_, post, post_a);
}

#undef TVEC
#undef ACCV
#undef LOADV_
#undef REDUCE_ARGS
