"""MultiheadAttention against torch.nn.MultiheadAttention: torch's weights are loaded into the
clnet module, then attention outputs, attention weights, input gradients and every parameter
gradient are compared for a random upstream gradient. Both modules stay in training mode with
dropout 0 (torch's fused inference fast path is not taken).

float32 tolerances: rtol 1e-4 / atol 1e-5 (two GEMMs, a softmax and a GEMM per head).
"""
import numpy as np
import pytest
import torch

import clnet

TOL = dict(rtol=1e-4, atol=1e-5)
E, NH = 8, 2


def _close(name, got, want):
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), err_msg=name, **TOL)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _twins(*args, **kw):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(*args, **kw)
    cm = clnet.nn.MultiheadAttention(*args, **kw)
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    with torch.no_grad():        # non-zero biases, so their gradients and placement are tested
        for n, p in tm.named_parameters():
            if "bias" in n:
                p.copy_(torch.randn(p.shape) * 0.3)
    cm.load_state_dict({k: clnet.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


def _mask(m, a):
    if a is None:
        return None
    return clnet.tensor(a) if m is clnet else torch.tensor(a)


def _run(cm, tm, q, k=None, v=None, seed=1, **kw):
    """k / v None: self-attention (the same tensor passed three times); k given, v None: key is
    value. ``kw`` masks are numpy arrays."""
    rng = np.random.default_rng(seed)
    res = {}
    for m, mod in ((clnet, cm), (torch, tm)):
        def leaf(a):
            return (clnet.tensor(a) if m is clnet else torch.tensor(a)).requires_grad_(True)
        cq = leaf(q)
        ck = cq if k is None else leaf(k)
        cv = ck if v is None else leaf(v)
        args = {n: (_mask(m, a) if n.endswith("mask") else a) for n, a in kw.items()}
        out, w = mod(cq, ck, cv, **args)
        res[m] = (out, w, [t for t in {id(t): t for t in (cq, ck, cv)}.values()])
    (co, cw, cins), (to, tw, tins) = res[clnet], res[torch]
    _close("attn_output", co, to)
    if tw is None:
        assert cw is None
    else:
        assert tuple(cw.shape) == tuple(tw.shape)
        _close("attn_weights", cw, tw)
    up = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    co.backward(clnet.tensor(up))
    to.backward(torch.tensor(up))
    for i, (a, b) in enumerate(zip(cins, tins)):
        _close(f"grad of input {i}", a.grad, b.grad)
    for (name, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        _close(f"grad of {name}", cp.grad, tp.grad)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_self_attention(need_weights, average):
    cm, tm = _twins(E, NH)
    _run(cm, tm, _x(5, 3, E), need_weights=need_weights, average_attn_weights=average)


def test_cross_attention_and_key_is_value():
    cm, tm = _twins(E, NH)
    _run(cm, tm, _x(4, 2, E), _x(6, 2, E, seed=1), _x(6, 2, E, seed=2))
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(4, 2, E), _x(6, 2, E, seed=1))


def test_kdim_vdim_batch_first_no_bias():
    cm, tm = _twins(E, 4, kdim=3, vdim=5, batch_first=True, bias=False)
    assert cm.in_proj_weight is None and tuple(cm.k_proj_weight.shape) == (E, 3)
    _run(cm, tm, _x(2, 4, E), _x(2, 6, 3, seed=1), _x(2, 6, 5, seed=2))


def test_unbatched():
    cm, tm = _twins(E, NH)
    _run(cm, tm, _x(4, E), average_attn_weights=False)
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(4, E), key_padding_mask=np.array([False, True, False, False]))


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_bool_and_float_masks():
    L, N = 5, 3
    cm, tm = _twins(E, NH)
    causal = np.triu(np.ones((L, L), bool), 1)            # True = not allowed
    _run(cm, tm, _x(L, N, E), attn_mask=causal)
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(L, N, E), attn_mask=causal, is_causal=True, need_weights=False)
    cm.zero_grad(), tm.zero_grad()
    kpm = np.zeros((N, L), bool)
    kpm[0, 3:] = True
    kpm[2, 0] = True
    _run(cm, tm, _x(L, N, E), attn_mask=_x(L, L, seed=3), key_padding_mask=kpm)
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(L, N, E), key_padding_mask=_x(N, L, seed=4))
    cm.zero_grad(), tm.zero_grad()
    per_head = np.random.default_rng(5).random((N * NH, L, L)) < 0.3
    per_head[:, :, 0] = False                              # every row keeps a key
    _run(cm, tm, _x(L, N, E), attn_mask=per_head, key_padding_mask=np.zeros((N, L), bool),
         average_attn_weights=False)


def test_is_causal_hint_as_torch():
    """is_causal=True with no key_padding_mask and need_weights=False: torch does not read
    attn_mask and applies the causal mask (here a random mask would give other values); with
    need_weights=True or a key_padding_mask the given mask is used."""
    L, N = 5, 3
    cm, tm = _twins(E, NH)
    _run(cm, tm, _x(L, N, E), attn_mask=_x(L, L, seed=3), is_causal=True, need_weights=False)
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(L, N, E), attn_mask=_x(L, L, seed=3), is_causal=True, need_weights=True)
    cm.zero_grad(), tm.zero_grad()
    _run(cm, tm, _x(L, N, E), attn_mask=_x(L, L, seed=3), is_causal=True, need_weights=False,
         key_padding_mask=np.zeros((N, L), np.float32))
    cm.zero_grad(), tm.zero_grad()
    # bias_kv appends a key column: the causal mask covers it like SDPA's is_causal (top-left)
    cm, tm = _twins(E, NH, add_bias_kv=True)
    _run(cm, tm, _x(L, N, E), attn_mask=_x(L, L, seed=3), is_causal=True,
         need_weights=False)


def test_mismatched_mask_kinds_warn():
    m = clnet.nn.MultiheadAttention(E, NH)
    x = clnet.zeros(3, 2, E)
    with pytest.warns(UserWarning, match="Support for mismatched key_padding_mask and attn_mask "
                                         "is deprecated"):
        m(x, x, x, attn_mask=clnet.zeros(3, 3), key_padding_mask=clnet.zeros(2, 3,
                                                                            dtype=clnet.bool))


def test_bias_kv_and_zero_attn():
    cm, tm = _twins(E, NH, add_bias_kv=True, add_zero_attn=True)
    kpm = np.zeros((2, 6), bool)
    kpm[1, 2] = True
    _run(cm, tm, _x(4, 2, E), _x(6, 2, E, seed=1), _x(6, 2, E, seed=2), key_padding_mask=kpm,
         attn_mask=np.triu(np.ones((4, 6), bool), 3))


def test_init_matches_torch_rules():
    m = clnet.nn.MultiheadAttention(16, 4)
    w = m.in_proj_weight.detach().numpy()
    bound = np.sqrt(6.0 / (16 + 48))                       # xavier_uniform on (48, 16)
    assert w.shape == (48, 16) and np.abs(w).max() <= bound
    assert np.all(m.in_proj_bias.detach().numpy() == 0)
    assert np.all(m.out_proj.bias.detach().numpy() == 0)
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(m.out_proj, clnet.nn.Linear)


def test_dropout_only_in_training():
    cm, tm = _twins(E, NH, dropout=0.5)
    x = clnet.tensor(_x(5, 2, E))
    _, w_train = cm(x, x, x, average_attn_weights=False)
    w_train = w_train.numpy()
    cm.eval(), tm.eval()
    w_eval = cm(x, x, x, average_attn_weights=False)[1].numpy()
    kept = w_train != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(w_train[kept], 2 * w_eval[kept], **TOL)   # scaled by 1 / (1 - p)
    out, w = cm(x, x, x)
    tx = torch.tensor(_x(5, 2, E))
    t_out, t_w = tm(tx, tx, tx)
    _close("eval output", out, t_out)
    _close("eval weights", w, t_w)


def test_errors():
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        clnet.nn.MultiheadAttention(6, 4)
    m = clnet.nn.MultiheadAttention(E, NH)
    x = clnet.zeros(3, 2, E)
    with pytest.raises(ValueError, match="was expecting embedding dimension of 8, but got 4"):
        m(clnet.zeros(3, 2, 4), x, x)
    with pytest.raises(ValueError, match="query should be unbatched 2D or batched 3D"):
        m(clnet.zeros(3, 2, 1, E), x, x)
    with pytest.raises(ValueError, match=r"key shape \[3, 2, 8\] does not match value shape"):
        m(x, x, clnet.zeros(4, 2, E))
    with pytest.raises(ValueError, match=r"The shape of the 2D attn_mask is \[3, 4\], but "
                                         r"should be \[3, 3\]"):
        m(x, x, x, attn_mask=clnet.zeros(3, 4, dtype=clnet.bool))
    with pytest.raises(ValueError, match=r"The shape of the 3D attn_mask is"):
        m(x, x, x, attn_mask=clnet.zeros(2, 3, 3))
    with pytest.raises(ValueError, match=r"expecting key_padding_mask shape of \[2, 3\]"):
        m(x, x, x, key_padding_mask=clnet.zeros(3, 2, dtype=clnet.bool))
    with pytest.raises(ValueError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=clnet.zeros(3, 3, dtype=clnet.int64))
