"""float16 and bfloat16: the dtypes, PyTorch's promotion, 16-bit storage and the casts (every
layout of the layout sweep), creation, and the host side (numpy, tolist, item, printing).
Oracle: PyTorch CPU."""
import numpy as np
import pytest
import torch

import clnet

ALL = ["bool", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
HALF = ["float16", "bfloat16"]


def c(name):
    return getattr(clnet, name)


def tdt(name):
    return getattr(torch, name)


def _values(n=257, seed=0):
    """Values that exercise the rounding: random, ties, subnormals, overflow, inf, nan, -0."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(n).astype(np.float32) * 4
    special = np.array([0.0, -0.0, 1.0, 1.00390625, 1.01171875, 65504, 65520, 1e5, -1e5, 6e-8,
                        1e-40, 3.4e38, np.inf, -np.inf, np.nan, 2049, 2051, 0.1, 1 / 3],
                       np.float32)
    v[:special.size] = special
    return v


def to_clnet_values(t):
    """A clnet tensor's values as numpy float32/64 (bfloat16 through float32)."""
    return t.float().numpy() if t.dtype is clnet.bfloat16 else t.numpy()


def assert_same(got, want):
    """Bit-for-bit equality with a torch tensor (NaN equal to NaN)."""
    w = want.float().numpy() if want.dtype == torch.bfloat16 else want.numpy()
    g = to_clnet_values(got)
    assert g.shape == w.shape, (g.shape, w.shape)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1], (got.dtype,
                                                                              want.dtype)
    np.testing.assert_array_equal(g, w)


# ------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("a", ALL)
@pytest.mark.parametrize("b", ALL)
def test_promote_types_matches_torch(a, b):
    want = torch.promote_types(tdt(a), tdt(b))
    assert clnet.dtypes.promote_types(c(a), c(b)).name == str(want).split(".")[-1]


@pytest.mark.parametrize("a", ALL)
@pytest.mark.parametrize("b", ALL)
def test_result_type_of_tensors_and_0d_tensors_matches_torch(a, b):
    from clnet.ops.elementwise import result_type
    for shape_b in ((3,), ()):
        ta, tb = torch.zeros(3, dtype=tdt(a)), torch.zeros(shape_b, dtype=tdt(b))
        ca, cb = clnet.zeros(3, dtype=c(a)), clnet.zeros(shape_b, dtype=c(b))
        assert result_type(ca, cb).name == str(torch.result_type(ta, tb)).split(".")[-1]


@pytest.mark.parametrize("name", HALF)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_a_python_scalar_keeps_the_16_bit_dtype(name, scalar):
    t = clnet.ones(4, dtype=c(name))
    assert (t + scalar).dtype is c(name)
    assert (t * scalar).dtype is c(name)
    assert str((torch.ones(4, dtype=tdt(name)) + scalar).dtype) == f"torch.{name}"


def test_dtype_attributes_and_names():
    assert clnet.half is clnet.float16
    for name in HALF:
        d = c(name)
        assert d.is_floating_point and d.itemsize == 2 and repr(d) == f"clnet.{name}"
        assert clnet.zeros(2, dtype=d).is_floating_point()
        assert clnet.is_floating_point(clnet.zeros(2, dtype=d))
        assert clnet.dtypes.to_dtype(name) is d
    assert clnet.dtypes.to_dtype("half") is clnet.float16
    assert clnet.dtypes.to_dtype(np.float16) is clnet.float16
    import pickle
    assert pickle.loads(pickle.dumps(clnet.bfloat16)) is clnet.bfloat16


@pytest.mark.parametrize("name", HALF + ["float32", "float64"])
def test_finfo_matches_torch(name):
    got, want = clnet.finfo(c(name)), torch.finfo(tdt(name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
        assert getattr(got, field) == getattr(want, field), field


# ------------------------------------------------------------------------------- casts
@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", HALF)
def test_casts_to_16_bit_round_as_torch(src, dst):
    v = _values()
    if src == "bool":
        v = v > 0
    elif src.startswith("int"):
        v = np.nan_to_num(v, posinf=1e6, neginf=-1e6).clip(-1e6, 1e6).astype(np.int64) * 37
    want_src = torch.tensor(v).to(tdt(src))
    got_src = clnet.tensor(v).to(c(src)) if src not in HALF else clnet.tensor(
        want_src.float().numpy(), dtype=c(src))
    assert_same(got_src.to(c(dst)), want_src.to(tdt(dst)))


@pytest.mark.parametrize("src", HALF)
@pytest.mark.parametrize("dst", ALL)
def test_casts_from_16_bit_as_torch(src, dst):
    v = _values(seed=1)
    if dst.startswith("int"):     # float -> int of inf/nan/out-of-range is undefined in C
        v = v[np.isfinite(v) & (np.abs(v) < 1e9)]
    want = torch.tensor(v).to(tdt(src))
    got = clnet.tensor(v, dtype=c(src))
    assert_same(got, want)
    assert_same(got.to(c(dst)), want.to(tdt(dst)))


@pytest.mark.parametrize("name", HALF)
def test_casts_of_every_sweep_layout(name):
    """Offset, transposed, stepped and expanded sources and destinations (the _n kernels)."""
    a = np.random.default_rng(3).standard_normal((6, 8)).astype(np.float32)
    ta, ca = torch.tensor(a), clnet.tensor(a)
    cases = [(lambda x: x[1:, 2:]), (lambda x: x.t()), (lambda x: x[::2, ::3]),
             (lambda x: x[:1].expand(5, 8))]
    for view in cases:
        assert_same(view(ca).to(c(name)), view(ta).to(tdt(name)))
        h = view(ca).to(c(name))
        assert_same(h.t().float(), view(ta).to(tdt(name)).t().float())
        # a 16-bit strided source to a 16-bit strided destination: the bits move
        dst = clnet.zeros(8, 6, dtype=c(name)).t()
        dst.copy_(ca.to(c(name)))
        assert_same(dst, ta.to(tdt(name)))


@pytest.mark.parametrize("name", HALF)
def test_half_and_bfloat16_methods_and_type(name):
    t = clnet.randn(3, 4)
    h = t.half() if name == "float16" else t.bfloat16()
    assert h.dtype is c(name) and h.shape == (3, 4)
    assert h.type() == {"float16": "clnet.HalfTensor", "bfloat16": "clnet.BFloat16Tensor"}[name]
    legacy = {"float16": "torch.HalfTensor", "bfloat16": "torch.BFloat16Tensor"}[name]
    assert t.type(legacy).dtype is c(name)
    assert t.to(c(name)).dtype is c(name) and t.to(dtype=c(name)).dtype is c(name)
    assert h.float().dtype is clnet.float32


def test_cast_is_differentiable_in_the_source_dtype():
    for name in HALF:
        x = clnet.randn(5, requires_grad=True)
        y = x.to(c(name))
        assert y.grad_fn is not None
        y.float().sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.ones(5, np.float32))


# ------------------------------------------------------------------------------- creation
@pytest.mark.parametrize("name", HALF)
def test_creation_functions(name):
    d, td = c(name), tdt(name)
    assert_same(clnet.zeros(2, 3, dtype=d), torch.zeros(2, 3, dtype=td))
    assert_same(clnet.ones(4, dtype=d), torch.ones(4, dtype=td))
    assert_same(clnet.full((3,), 1.1, dtype=d), torch.full((3,), 1.1, dtype=td))
    assert_same(clnet.full((3,), float("nan"), dtype=d), torch.full((3,), float("nan"), dtype=td))
    assert_same(clnet.arange(0, 5, 0.5, dtype=d), torch.arange(0, 5, 0.5, dtype=td))
    assert_same(clnet.arange(300, dtype=d), torch.arange(300, dtype=td))
    assert_same(clnet.linspace(-1, 1, 9, dtype=d), torch.linspace(-1, 1, 9, dtype=td))
    assert_same(clnet.eye(3, 4, dtype=d), torch.eye(3, 4, dtype=td))
    assert_same(clnet.tensor([[0.1, 2.0], [3e38, -7.0]], dtype=d),
                torch.tensor([[0.1, 2.0], [3e38, -7.0]], dtype=td))
    x = clnet.ones(2, 2)
    for fn in ("zeros_like", "ones_like", "empty_like"):
        assert getattr(clnet, fn)(x, dtype=d).dtype is d
    assert clnet.full_like(x, 2.5, dtype=d).dtype is d
    assert clnet.empty(3, dtype=d).dtype is d
    assert x.new_zeros(2, dtype=d).dtype is d
    for fn in (clnet.rand, clnet.randn):
        r = fn(1000, dtype=d)
        assert r.dtype is d and abs(float(r.float().mean())) < 0.6
    assert clnet.zeros(2, dtype=d, requires_grad=True).requires_grad


def test_from_numpy_float16_keeps_its_dtype_and_bits():
    a = np.array([0.1, -2.5, 65504, np.inf], np.float16)
    t = clnet.from_numpy(a)
    assert t.dtype is clnet.float16
    np.testing.assert_array_equal(t.numpy().view(np.uint16), a.view(np.uint16))
    assert t.numpy().dtype == np.float16
    assert clnet.tensor(a).dtype is clnet.float16


# ------------------------------------------------------------------------------- host side
def test_bfloat16_numpy_raises_like_torch_and_tolist_item_work():
    t = clnet.tensor([1.5, -2.0, 0.1], dtype=clnet.bfloat16)
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        t.numpy()
    with pytest.raises(TypeError, match="Got unsupported ScalarType BFloat16"):
        torch.tensor([1.0], dtype=torch.bfloat16).numpy()
    want = torch.tensor([1.5, -2.0, 0.1], dtype=torch.bfloat16)
    assert t.tolist() == want.tolist()
    assert t[2].item() == want[2].item()
    assert float(t[0]) == 1.5


@pytest.mark.parametrize("name", HALF)
def test_printing_matches_torch(name):
    v = [[0.1, -2.5, 1000.0], [float("nan"), float("inf"), 3.0]]
    got = repr(clnet.tensor(v, dtype=c(name)))
    want = repr(torch.tensor(v, dtype=tdt(name)))
    assert got == want.replace("torch.", "clnet.")
    assert repr(clnet.tensor([1.0, 2.0], dtype=c(name))) == f"tensor([1., 2.], dtype=clnet.{name})"


@pytest.mark.parametrize("name", HALF)
def test_a_16_bit_default_dtype_as_torch(name):
    """set_default_dtype(bfloat16): creation, random draws, integer -> float ops and new layers
    give the 16-bit dtype; explicit float32 stays float32; an op's values as torch's."""
    got, want = {}, {}
    for lib, res in ((clnet, got), (torch, want)):
        lib.set_default_dtype(getattr(lib, name))
        try:
            a = lib.arange(6)
            res["randn"] = lib.randn(3).dtype
            res["rand"] = lib.rand(2, 2).dtype
            res["tensor"] = lib.tensor([1.5]).dtype
            res["div"] = (a / 3).dtype
            res["div_values"] = (a / 3).tolist()
            res["exp"] = a.exp().tolist()
            res["sum"] = a.sum().dtype
            res["linear"] = lib.nn.Linear(2, 3).weight.dtype
            res["float32"] = lib.ones(2, dtype=lib.float32).sum().dtype
            res["mixed"] = (lib.ones(2, dtype=lib.float32) + a[:2]).dtype
        finally:
            lib.set_default_dtype(lib.float32)
    norm = {k: (str(v).split(".")[-1] if not isinstance(v, list) else v) for k, v in got.items()}
    assert norm == {k: (str(v).split(".")[-1] if not isinstance(v, list) else v)
                    for k, v in want.items()}
    assert clnet.get_default_dtype() is clnet.float32


def test_data_loader_batches_of_16_bit_tensors():
    """float16 samples batch as float16 (numpy has float16); bfloat16 ones are refused with a
    clear error (numpy has no bfloat16 for the host batches)."""
    from clnet.data import DataLoader, TensorDataset
    x = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float16)
    xb, = next(iter(DataLoader(TensorDataset(clnet.tensor(x)), batch_size=4)))
    assert xb.dtype is clnet.float16
    np.testing.assert_array_equal(xb.numpy(), x[:4])
    loader = DataLoader(TensorDataset(clnet.tensor(x).bfloat16()), batch_size=4)
    with pytest.raises(TypeError, match="bfloat16.*float32"):
        next(iter(loader))
    samples = [clnet.ones(2, dtype=clnet.bfloat16) for _ in range(3)]
    with pytest.raises(TypeError, match="bfloat16.*float32"):
        next(iter(DataLoader(samples, batch_size=3)))
