"""nn.Module and containers against torch.nn on the same structures: names and order of
parameters/buffers/modules/state_dict keys, reprs, registration errors, load_state_dict
results and error texts, train/eval, conversion, forward hooks and full backward hooks."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch

import clnet
from tests.helpers import assert_close


def _as_clnet_text(text):
    """torch's messages/reprs with its type names spelled the clnet way."""
    return text.replace("torch.", "clnet.")


def affine_class(lib):
    nn = lib.nn

    class Affine(nn.Module):
        """x * w + b, with a persistent and a non-persistent buffer."""

        def __init__(self, n):
            super().__init__()
            self.w = nn.Parameter(lib.ones(n))
            self.b = nn.Parameter(lib.zeros(n))
            self.register_buffer("count", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(1), persistent=False)

        def forward(self, x):
            return x * self.w + self.b

        def extra_repr(self):
            return f"n={self.w.shape[0]}"
    return Affine


def build(lib):
    """A nested model with a shared sub-module, every container and a None parameter."""
    nn = lib.nn
    Affine = affine_class(lib)
    shared = Affine(3)
    m = nn.Sequential(OrderedDict(
        a=Affine(3),
        l=nn.ModuleList([shared, shared, Affine(4), nn.Sequential(Affine(2), nn.Identity())]),
        d=nn.ModuleDict({"y": nn.Flatten(), "x": nn.Unflatten(1, (2, 3))}),
        s=shared))
    m.add_module("pl", nn.ParameterList([nn.Parameter(lib.zeros(2, 3)), lib.ones(4)]))
    m.add_module("pd", nn.ParameterDict({"b": nn.Parameter(lib.zeros(2, 3)), "a": lib.ones(4)}))
    m.a.register_parameter("unused", None)
    return m


@pytest.fixture(scope="module")
def models():
    return build(torch), build(clnet)


def _names(it):
    return [n for n, _ in it]


def test_traversal_names_match_torch(models):
    t, c = models
    assert _names(c.named_parameters()) == _names(t.named_parameters())
    assert _names(c.named_parameters(remove_duplicate=False)) == \
        _names(t.named_parameters(remove_duplicate=False))
    assert _names(c.named_buffers()) == _names(t.named_buffers())
    assert _names(c.named_modules()) == _names(t.named_modules())
    assert _names(c.named_modules(remove_duplicate=False)) == \
        _names(t.named_modules(remove_duplicate=False))
    assert _names(c.named_children()) == _names(t.named_children())
    assert _names(c.l.named_parameters(prefix="pre", recurse=False)) == []
    assert _names(c.a.named_parameters(prefix="pre")) == _names(t.a.named_parameters(prefix="pre"))
    assert len(list(c.parameters())) == len(list(t.parameters()))
    assert len(list(c.modules())) == len(list(t.modules()))


def test_shared_parameters_listed_once(models):
    _, c = models
    params = list(c.parameters())
    assert len(params) == len({id(p) for p in params})
    assert c.s.w is c.l[0].w


def test_state_dict_keys_and_values(models):
    t, c = models
    sd = c.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == list(t.state_dict())
    assert "a.scratch" not in sd     # non-persistent buffers stay out
    assert "a.unused" not in sd      # None parameters too
    assert type(sd["a.w"]) is clnet.Tensor and not sd["a.w"].requires_grad
    assert sd["a.w"]._storage is c.a.w._storage       # detached, not copied
    kept = c.state_dict(keep_vars=True)
    assert kept["a.w"] is c.a.w
    assert list(c.state_dict(prefix="m.")) == list(t.state_dict(prefix="m."))


def test_repr_matches_torch(models):
    t, c = models
    assert repr(c) == _as_clnet_text(repr(t))
    assert repr(clnet.nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert repr(clnet.nn.Sequential()) == repr(torch.nn.Sequential())


class Multiline(clnet.nn.Module):
    def extra_repr(self):
        return "first\nsecond"


def test_repr_multiline_extra_and_children():
    m = Multiline()
    m.child = clnet.nn.Flatten(0, 1)
    assert repr(m) == ("Multiline(\n  first\n  second\n  (child): Flatten(start_dim=0, "
                       "end_dim=1)\n)")


def test_attribute_registration_and_errors():
    for lib in (torch, clnet):
        m = lib.nn.Module()
        m.p = lib.nn.Parameter(lib.ones(2))
        m.register_buffer("buf", lib.zeros(2))
        m.sub = lib.nn.Identity()
        m.plain = 3
        assert set(m._parameters) == {"p"} and set(m._buffers) == {"buf"}
        assert set(m._modules) == {"sub"} and m.plain == 3
        m.p = None
        assert m.p is None and "p" in m._parameters
        m.buf = lib.ones(3)                       # a tensor assigned to a buffer name stays one
        assert tuple(m._buffers["buf"].shape) == (3,)
        del m.buf
        assert "buf" not in m._buffers
        m.sub = lib.nn.Flatten()
        m.sub = None
        assert m._modules["sub"] is None

    def errors(lib):
        out = []
        m = lib.nn.Module()
        m.w = lib.nn.Parameter(lib.ones(2))
        m.child = lib.nn.Identity()
        for action in (lambda: setattr(m, "w", lib.ones(2)),
                       lambda: setattr(m, "child", 3),
                       lambda: m.register_buffer("w", lib.ones(1)),
                       lambda: m.register_parameter("a.b", None),
                       lambda: m.register_parameter("x", lib.ones(1)),
                       lambda: m.add_module("", lib.nn.Identity()),
                       lambda: m.add_module("c", 3),
                       lambda: m.missing,
                       lambda: m.get_submodule("child.nothing"),
                       lambda: m.get_parameter("child"),
                       lambda: m.get_submodule("w")):
            with pytest.raises(Exception) as e:
                action()
            out.append((e.type, str(e.value)))
        return out
    t_err, c_err = errors(torch), errors(clnet)
    for (tt, tm), (ct, cm) in zip(t_err, c_err):
        assert ct is tt
        assert cm == tm.replace("torch.FloatTensor", "clnet.FloatTensor"), (cm, tm)
    # the messages that matter most, verbatim
    assert c_err[0][1] == ("cannot assign 'clnet.FloatTensor' as parameter 'w' "
                           "(torch.nn.Parameter or None expected)")
    assert c_err[7][1] == "'Module' object has no attribute 'missing'"


def test_before_init_errors():
    class Early(clnet.nn.Module):
        def __init__(self):
            self.w = clnet.nn.Parameter(clnet.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_get_submodule_and_parameter(models):
    _, c = models
    assert c.get_submodule("l.3.0") is c.l[3][0]
    assert c.get_parameter("l.3.0.w") is c.l[3][0].w
    assert c.get_submodule("") is c
    assert c.a.get_buffer("count") is c.a.count


def test_load_state_dict_copies_in_place(rng):
    src, dst = build(clnet), build(clnet)
    for p in src.parameters():
        p.data = clnet.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32))
    before = {n: p for n, p in dst.named_parameters()}
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for n, p in dst.named_parameters():
        assert p is before[n]                  # same Parameter objects: optimizers keep working
        assert_close(p.detach(), src.get_parameter(n).numpy())
        assert p.requires_grad


def test_load_state_dict_errors_match_torch():
    def attempt(lib, strict, edit):
        m = build(lib)
        sd = m.state_dict()
        edit(sd, lib)
        try:
            r = m.load_state_dict(sd, strict=strict)
            return "ok", list(r.missing_keys), list(r.unexpected_keys)
        except RuntimeError as e:
            return "error", str(e)

    def missing_and_unexpected(sd, lib):
        del sd["a.w"], sd["l.3.0.count"]
        sd["a.extra"] = lib.zeros(1)
        sd["nothere.w"] = lib.zeros(1)
        sd["l.9.w"] = lib.zeros(1)

    for strict in (True, False):
        assert attempt(clnet, strict, missing_and_unexpected) == \
            attempt(torch, strict, missing_and_unexpected)
    out = attempt(clnet, True, missing_and_unexpected)[1]
    assert out.startswith('Error(s) in loading state_dict for Sequential:\n\tMissing key(s) in '
                          'state_dict: "a.w", "l.3.0.count". \n\tUnexpected key(s) in state_dict:')

    def wrong_shape(sd, lib):
        sd["a.w"] = lib.zeros(4)
    c, t = attempt(clnet, True, wrong_shape), attempt(torch, True, wrong_shape)
    assert c[0] == t[0] == "error"
    assert c[1] == t[1].replace("torch.Size(", "").replace("])", "]")
    assert "size mismatch for a.w: copying a param with shape [4] from checkpoint, the shape " \
           "in current model is [3]." in c[1]

    def not_a_tensor(sd, lib):
        sd["a.b"] = 3
    c, t = attempt(clnet, True, not_a_tensor), attempt(torch, True, not_a_tensor)
    assert c[0] == t[0] == "error" and 'While copying the parameter named "a.b"' in c[1]


def test_load_state_dict_assign():
    m = clnet.nn.Sequential(affine_class(clnet)(2))
    new = OrderedDict([("0.w", clnet.full((2,), 5.0)), ("0.b", clnet.full((2,), 6.0)),
                       ("0.count", clnet.full((1,), 7.0))])
    m.load_state_dict(new, assign=True)
    assert isinstance(m[0].w, clnet.nn.Parameter) and m[0].w.requires_grad
    assert m[0].w._storage is new["0.w"]._storage
    assert m[0].count is new["0.count"]


def test_train_eval_propagate(models):
    t, c = models
    c.eval()
    assert all(not m.training for m in c.modules())
    c.l.train()
    assert c.training is False and all(m.training for m in c.l.modules())
    c.train()
    assert all(m.training for m in c.modules())
    with pytest.raises(ValueError, match="boolean"):
        c.train("yes")


def test_requires_grad_zero_grad_apply():
    m = build(clnet)
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    for p in m.parameters():
        p.grad = clnet.ones(tuple(p.shape))
    m.zero_grad(set_to_none=False)
    assert all(float(np.abs(p.grad.numpy()).sum()) == 0.0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    visited_c, visited_t = [], []
    m.apply(lambda mod: visited_c.append(mod._get_name()))
    build(torch).apply(lambda mod: visited_t.append(mod._get_name()))
    assert visited_c == visited_t


def test_to_dtype_keeps_parameter_identity():
    m = clnet.nn.Sequential(affine_class(clnet)(3))
    m[0].register_buffer("steps", clnet.zeros(2, dtype=clnet.int64))
    w = m[0].w
    w.grad = clnet.ones(3)
    assert m.double() is m
    assert m[0].w is w and w.dtype is clnet.float64 and w.requires_grad
    assert w.grad.dtype is clnet.float64
    assert m[0].count.dtype is clnet.float64
    assert m[0].steps.dtype is clnet.int64           # integer tensors keep their dtype
    m.to(clnet.float32)
    assert m[0].w is w and w.dtype is clnet.float32
    m.to(clnet.default_device())
    m.to(clnet.default_device(), clnet.float64).float().cpu()
    assert m[0].w is w and w.dtype is clnet.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(clnet.int64)
    out = m(clnet.ones(3))
    assert_close(out, np.ones(3, np.float32))


# ------------------------------------------------------------------ containers
def test_sequential_api():
    for lib in (torch, clnet):
        nn = lib.nn
        layers = [nn.Identity(), nn.Flatten(), nn.Unflatten(1, (2, 2)), nn.Flatten(0, 1)]
        s = nn.Sequential(*layers)
        assert len(s) == 4 and s[-1] is layers[3] and list(s) == layers
        assert type(s[1:3]) is nn.Sequential and list(s[1:3]) == layers[1:3]
        with pytest.raises(IndexError):
            s[4]
        s.append(nn.Identity())
        s.insert(0, nn.Flatten())
        s.extend([nn.Identity()])
        assert list(s._modules) == [str(i) for i in range(7)]
        del s[0]
        del s[-2:]
        assert list(s) == layers and list(s._modules) == ["0", "1", "2", "3"]
        s[0] = nn.Flatten(2)
        assert s[0].start_dim == 2
        assert s.pop(0).start_dim == 2 and len(s) == 3
        assert len(s + s) == 6 and len(s * 2) == 6
        s[0] = layers[0]
    x = clnet.arange(8, dtype=clnet.float32).reshape(2, 4)
    s = clnet.nn.Sequential(clnet.nn.Unflatten(1, (2, 2)), clnet.nn.Flatten(0, 1))
    y = s(x)
    assert tuple(y.shape) == (4, 2) and y._storage is x._storage   # views, no copies
    assert_close(y, np.arange(8, dtype=np.float32).reshape(4, 2))


def test_module_list_and_dict_api():
    nn = clnet.nn
    a, b, c = nn.Identity(), nn.Flatten(), nn.Flatten(0)
    ml = nn.ModuleList([a, b])
    ml.append(c)
    ml.insert(1, nn.Identity())
    assert len(ml) == 4 and ml[0] is a and ml[-1] is c and ml.index(b) == 2
    assert type(ml[1:]) is nn.ModuleList and len(ml[1:]) == 3
    ml += [nn.Identity()]
    assert len(ml + ml) == 10
    del ml[1]
    assert list(ml._modules) == ["0", "1", "2", "3"] and ml[1] is b
    ml[0] = c
    assert ml[0] is c
    with pytest.raises(TypeError, match="iterable"):
        ml.extend(3)
    md = nn.ModuleDict({"z": a, "y": b})
    assert list(md.keys()) == ["z", "y"] and "z" in md and len(md) == 2
    md["x"] = c
    md.update([("w", nn.Identity())])
    assert list(md) == ["z", "y", "x", "w"]
    assert md.pop("z") is a and list(md.values())[0] is b
    with pytest.raises(ValueError, match="length 1; 2 is required"):
        md.update([("only",)])
    md.clear()
    assert len(md) == 0


def test_parameter_list_and_dict():
    nn = clnet.nn
    pl = nn.ParameterList([clnet.ones(2)])
    pl.append(nn.Parameter(clnet.zeros(3)))
    assert all(isinstance(p, nn.Parameter) for p in pl) and len(pl) == 2
    assert len(pl[0:1]) == 1 and pl[-1].shape == (3,)
    with pytest.raises(RuntimeError, match="should not be called"):
        pl()
    pd = nn.ParameterDict({"b": clnet.ones(1), "a": clnet.ones(2)})
    assert list(pd) == ["a", "b"]                    # plain dicts are sorted, as in torch
    pd["c"] = clnet.zeros(1)
    assert isinstance(pd["c"], nn.Parameter) and pd.get("zz") is None
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c"]
    assert pd.pop("a").shape == (2,) and list(pd.keys()) == ["b", "c"]
    assert list((pd | nn.ParameterDict(OrderedDict(d=clnet.ones(1)))).keys()) == ["b", "c", "d"]


# ------------------------------------------------------------------ hooks
def test_forward_hooks_order_results_and_removal():
    calls = []
    m = clnet.nn.Identity()

    def pre1(mod, args):
        calls.append("pre1")
        return (args[0] + 1,)

    def pre_kw(mod, args, kwargs):
        calls.append("pre_kw")
        return args, kwargs

    def fwd1(mod, args, out):
        calls.append("fwd1")
        return out * 2

    def fwd_kw(mod, args, kwargs, out):
        calls.append("fwd_kw")

    def first(mod, args, out):
        calls.append("first")

    handles = [m.register_forward_pre_hook(pre1),
               m.register_forward_pre_hook(pre_kw, with_kwargs=True),
               m.register_forward_hook(fwd1),
               m.register_forward_hook(fwd_kw, with_kwargs=True),
               m.register_forward_hook(first, prepend=True)]
    out = m(clnet.zeros(2))
    assert calls == ["pre1", "pre_kw", "first", "fwd1", "fwd_kw"]
    assert_close(out, np.full(2, 2.0, np.float32))        # (0 + 1) * 2
    for h in handles:
        h.remove()
    calls.clear()
    out = m(clnet.zeros(2))
    assert calls == [] and not m._forward_hooks_with_kwargs and not m._forward_pre_hooks
    with m.register_forward_hook(fwd1):
        assert_close(m(clnet.ones(2)), np.full(2, 2.0, np.float32))
    assert not m._forward_hooks


def _backward_hook_run(lib, x_np, w_np, b_np, g_np, replace=False):
    """Run the Affine module with full backward hooks in ``lib``; returns what the hooks saw
    and the resulting gradients, as numpy."""
    m = affine_class(lib)(len(w_np))
    with lib.no_grad():
        m.w.copy_(lib.tensor(w_np))
        m.b.copy_(lib.tensor(b_np))
    seen = []

    def hook(mod, grad_input, grad_output):
        seen.append(("hook", [None if g is None else g.detach().numpy() for g in grad_input],
                     [g.detach().numpy() for g in grad_output]))
        if replace:
            return tuple(None if g is None else g * 3 for g in grad_input)

    def pre_hook(mod, grad_output):
        seen.append(("pre", [g.detach().numpy() for g in grad_output]))

    handle = m.register_full_backward_hook(hook)
    m.register_full_backward_pre_hook(pre_hook)
    x = lib.tensor(x_np, requires_grad=True)
    out = m(x)
    out.backward(lib.tensor(g_np))
    result = (list(seen), *(np.array(t.grad.numpy()) for t in (x, m.w, m.b)))  # copies
    handle.remove()
    x.grad = None
    m(x).backward(lib.tensor(g_np))
    return result, len(seen)


@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hook_matches_torch(rng, replace):
    x, w, b, g = (rng.standard_normal(4).astype(np.float32) for _ in range(4))
    (c_seen, *c_grads), c_calls = _backward_hook_run(clnet, x, w, b, g, replace)
    (t_seen, *t_grads), t_calls = _backward_hook_run(torch, x, w, b, g, replace)
    assert [s[0] for s in c_seen] == [s[0] for s in t_seen] == ["pre", "hook"]
    np.testing.assert_allclose(c_seen[0][1][0], t_seen[0][1][0], rtol=1e-6)
    for got, want in zip(c_seen[1][1] + c_seen[1][2], t_seen[1][1] + t_seen[1][2]):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for got, want in zip(c_grads, t_grads):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert c_calls == t_calls == 3        # after removal only the pre-hook runs again


def test_backward_hook_non_tensor_args_and_mixing():
    class Scale(clnet.nn.Module):
        def forward(self, x, k, y):
            return x * k + y
    m = Scale()
    got = []
    m.register_full_backward_hook(lambda mod, gi, go: got.append(gi))
    x = clnet.ones(2, requires_grad=True)
    y = clnet.ones(2)                       # does not require grad: its grad_input is None
    m(x, 3.0, y).backward(clnet.ones(2))
    assert len(got) == 1 and len(got[0]) == 3 and got[0][1] is None and got[0][2] is None
    assert_close(got[0][0], np.full(2, 3.0, np.float32))
    with pytest.raises(RuntimeError, match="both regular backward hooks and full"):
        m.register_backward_hook(lambda *a: None)


def _two_output_run(lib, input_requires_grad):
    class Two(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = lib.nn.Parameter(lib.full((2,), 2.0))

        def forward(self, x):
            return x * self.w, x + self.w
    m = Two()
    seen = []
    m.register_full_backward_hook(lambda mod, gi, go: seen.append(
        ([None if g is None else g.tolist() for g in gi], [g.tolist() for g in go])))
    x = lib.ones(2, requires_grad=input_requires_grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a, b = m(x)
        (a * 3 + b).backward(lib.ones(2))
    messages = [str(w.message).split(" since")[0] for w in caught
                if "backward hook" in str(w.message)]
    return seen, m.w.grad.tolist(), messages


@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_backward_hook_two_outputs_matches_torch(input_requires_grad):
    assert _two_output_run(clnet, input_requires_grad) == \
        _two_output_run(torch, input_requires_grad)
