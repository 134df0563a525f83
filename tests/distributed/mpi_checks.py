"""Run under ``mpiexec -n 2`` by test_mpi_checks.py: every check runs on both ranks, in the same
order (a collective needs every rank), and its outcome ("ok" or the traceback) goes to
``<out>/rank<r>.json``, which the tests read. One job runs them all, so PoCL's programs are
built once per process for the whole set."""
import datetime
import json
import sys
import traceback

import numpy as np

import clnet
import clnet.distributed as dist
from clnet import nn
from clnet.data import DataLoader, TensorDataset
from clnet.nn import functional as F
from clnet.nn.parallel import DistributedDataParallel as DDP
from clnet.utils.data.distributed import DistributedSampler

dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=60))
RANK, WORLD = dist.get_rank(), dist.get_world_size()
Op = dist.ReduceOp
DTYPES = ["float32", "int32", "int64", "bool"] + (
    ["float64"] if clnet.default_device().has_fp64 else [])
SIZES = [1, 7, 33]
CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def data(rank, n, dtype, seed=0):
    """Rank ``rank``'s input (every rank can compute every rank's, for the numpy oracle)."""
    rng = np.random.default_rng([seed, rank, n])
    if dtype == "bool":
        return rng.random(n) < 0.5
    if dtype.startswith("int"):
        return rng.integers(-5, 6, n).astype(dtype)
    return rng.standard_normal(n).astype(dtype)


def t(a):
    return clnet.tensor(a)


def same(got, want, what):
    got = got.numpy() if isinstance(got, clnet.Tensor) else got
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def reduced(op, arrays):
    if arrays[0].dtype == np.bool_:
        f = {"SUM": np.logical_or, "MAX": np.logical_or, "BOR": np.logical_or,
             "PRODUCT": np.logical_and, "MIN": np.logical_and, "BAND": np.logical_and,
             "BXOR": np.logical_xor}[op]
    else:
        f = {"SUM": np.add, "AVG": np.add, "PRODUCT": np.multiply, "MIN": np.minimum,
             "MAX": np.maximum, "BAND": np.bitwise_and, "BOR": np.bitwise_or,
             "BXOR": np.bitwise_xor}[op]
    out = arrays[0]
    for a in arrays[1:]:
        out = f(out, a)
    if op == "AVG":
        out = (out / len(arrays)).astype(arrays[0].dtype)
    return out


def ops_for(dtype):
    if dtype in ("float32", "float64"):
        return ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
    return ["SUM", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"]


# ---------------------------------------------------------------------- collectives
@check
def all_reduce_every_dtype_and_op():
    for dtype in DTYPES:
        for n in SIZES:
            for op in ops_for(dtype):
                x = t(data(RANK, n, dtype))
                dist.all_reduce(x, op=getattr(Op, op))
                same(x, reduced(op, [data(r, n, dtype) for r in range(WORLD)]),
                     f"all_reduce {op} {dtype} n={n}")


@check
def all_reduce_avg_refuses_integers():
    for dtype in ("int32", "int64", "bool"):
        try:
            dist.all_reduce(t(data(RANK, 3, dtype)), op=Op.AVG)
        except TypeError as e:
            assert "AVG" in str(e) and dtype in str(e), e
        else:
            raise AssertionError(f"AVG on {dtype} did not raise")


@check
def all_reduce_non_contiguous_view():
    base = clnet.tensor(np.arange(15, dtype=np.float32).reshape(3, 5) * (RANK + 1))
    view = base.t()                                  # (5, 3), not contiguous
    dist.all_reduce(view)
    want = sum(np.arange(15, dtype=np.float32).reshape(3, 5) * (r + 1) for r in range(WORLD))
    same(base, want, "all_reduce into a transposed view")


@check
def all_reduce_of_a_parameter():
    p = nn.Parameter(t(data(RANK, 7, "float32")))
    dist.all_reduce(p)
    same(p.detach(), reduced("SUM", [data(r, 7, "float32") for r in range(WORLD)]), "param")
    assert p.requires_grad and p.is_leaf


@check
def async_all_reduce_work():
    x = t(data(RANK, 33, "float32"))
    work = dist.all_reduce(x, async_op=True)
    assert work.wait() is True and work.is_completed() and work.is_success()
    same(x, reduced("SUM", [data(r, 33, "float32") for r in range(WORLD)]), "async")
    y = t(data(RANK, 7, "int64"))
    work = dist.broadcast(y, src=1, async_op=True)
    while not work.is_completed():
        pass
    same(y, data(1, 7, "int64"), "async broadcast polled with is_completed")


@check
def broadcast_every_dtype():
    for dtype in DTYPES:
        for n in SIZES:
            for src in range(WORLD):
                x = t(data(RANK, n, dtype))
                assert dist.broadcast(x, src=src) is None
                same(x, data(src, n, dtype), f"broadcast {dtype} n={n} src={src}")


@check
def reduce_every_dtype():
    for dtype in DTYPES:
        for n in SIZES:
            for op in ops_for(dtype):
                x = t(data(RANK, n, dtype))
                dist.reduce(x, dst=1, op=getattr(Op, op))
                want = reduced(op, [data(r, n, dtype) for r in range(WORLD)]) if RANK == 1 \
                    else data(RANK, n, dtype)
                same(x, want, f"reduce {op} {dtype} n={n}")


@check
def all_gather_every_dtype():
    for dtype in DTYPES:
        for n in SIZES:
            out = [t(np.zeros(n, dtype)) for _ in range(WORLD)]
            dist.all_gather(out, t(data(RANK, n, dtype)))
            for r in range(WORLD):
                same(out[r], data(r, n, dtype), f"all_gather {dtype} n={n} from {r}")


@check
def all_gather_into_tensor_cat_and_stack():
    for dtype in DTYPES:
        for n in SIZES:
            x = t(data(RANK, n, dtype).reshape(n, 1))
            cat = t(np.zeros((WORLD * n, 1), dtype))
            dist.all_gather_into_tensor(cat, x)
            same(cat, np.concatenate([data(r, n, dtype).reshape(n, 1) for r in range(WORLD)]),
                 f"all_gather_into_tensor cat {dtype} n={n}")
            stack = t(np.zeros((WORLD, n, 1), dtype))
            dist.all_gather_into_tensor(stack, x)
            same(stack, np.stack([data(r, n, dtype).reshape(n, 1) for r in range(WORLD)]),
                 f"all_gather_into_tensor stack {dtype} n={n}")


@check
def reduce_scatter_every_dtype():
    for dtype in DTYPES:
        for n in SIZES:
            for op in ops_for(dtype):
                inputs = [t(data(RANK, n, dtype, seed=j)) for j in range(WORLD)]
                out = t(np.zeros(n, dtype))
                dist.reduce_scatter(out, inputs, op=getattr(Op, op))
                same(out, reduced(op, [data(r, n, dtype, seed=RANK) for r in range(WORLD)]),
                     f"reduce_scatter {op} {dtype} n={n}")
                flat = t(np.concatenate([data(RANK, n, dtype, seed=j) for j in range(WORLD)]))
                out2 = t(np.zeros(n, dtype))
                dist.reduce_scatter_tensor(out2, flat, op=getattr(Op, op))
                same(out2, out.numpy(), f"reduce_scatter_tensor {op} {dtype} n={n}")


@check
def gather_and_scatter_every_dtype():
    for dtype in DTYPES:
        for n in SIZES:
            lst = [t(np.zeros(n, dtype)) for _ in range(WORLD)] if RANK == 0 else None
            dist.gather(t(data(RANK, n, dtype)), lst, dst=0)
            if RANK == 0:
                for r in range(WORLD):
                    same(lst[r], data(r, n, dtype), f"gather {dtype} n={n} from {r}")
            src_list = [t(data(1, n, dtype, seed=10 + j)) for j in range(WORLD)] \
                if RANK == 1 else None
            out = t(np.zeros(n, dtype))
            dist.scatter(out, src_list, src=1)
            same(out, data(1, n, dtype, seed=10 + RANK), f"scatter {dtype} n={n}")


@check
def objects():
    objs = [None] * WORLD
    dist.all_gather_object(objs, {"rank": RANK, "payload": list(range(RANK * 3))})
    assert objs == [{"rank": r, "payload": list(range(r * 3))} for r in range(WORLD)], objs
    lst = [f"from {RANK}", RANK, None] if RANK == 1 else [None, None, None]
    dist.broadcast_object_list(lst, src=1)
    assert lst == ["from 1", 1, None], lst
    got = [None] * WORLD if RANK == 0 else None
    dist.gather_object(("r", RANK), got, dst=0)
    assert RANK != 0 or got == [("r", r) for r in range(WORLD)], got


@check
def groups_and_barrier():
    assert dist.is_initialized() and dist.get_world_size() == WORLD
    alone = dist.new_group([1])
    pair = dist.new_group([0, 1])
    assert dist.get_world_size(alone) == 1 and dist.get_world_size(pair) == WORLD
    if RANK == 1:
        assert dist.get_rank(alone) == 0
        x = t(np.array([5.0], np.float32))
        dist.all_reduce(x, group=alone)
        same(x, np.array([5.0], np.float32), "all_reduce in a one-rank group")
    else:
        assert dist.get_rank(alone) == -1
        try:
            dist.all_reduce(t(np.ones(1, np.float32)), group=alone)
        except ValueError as e:
            assert "not a member" in str(e), e
        else:
            raise AssertionError("a non-member's collective did not raise")
    y = t(np.array([RANK + 1], np.int32))
    dist.all_reduce(y, group=pair)
    same(y, np.array([sum(range(1, WORLD + 1))], np.int32), "all_reduce in new_group([0, 1])")
    dist.broadcast(y, src=1, group=pair)
    dist.barrier()
    assert dist.barrier(async_op=True).wait()
    dist.destroy_process_group(alone)
    dist.destroy_process_group(pair)


# ---------------------------------------------------------------------- DDP
def mlp(seed):
    clnet.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def host_weights(module):
    return {k: v.numpy() for k, v in module.state_dict().items()}


def train_equivalence(make_opt):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((37, 6)).astype(np.float32)
    Y = rng.integers(0, 3, 37).astype(np.int64)
    ds = TensorDataset(clnet.tensor(X), clnet.tensor(Y))
    model = mlp(100 + RANK)                  # different on each rank: DDP takes rank 0's
    ddp = DDP(model, bucket_cap_mb=0.0002)   # small buckets: several Iallreduces per step
    assert len(ddp.bucket_parameter_names()) > 1
    ref = mlp(0)
    ref.load_state_dict(model.state_dict())
    init = host_weights(model)
    opt, ref_opt = make_opt(ddp.parameters()), make_opt(ref.parameters())
    sampler = DistributedSampler(ds, shuffle=True, seed=3)
    loader = DataLoader(ds, batch_size=5, sampler=sampler)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            opt.step()
        # the single process: each step on the union of the ranks' batches
        shards = []
        for r in range(WORLD):
            s = DistributedSampler(ds, num_replicas=WORLD, rank=r, shuffle=True, seed=3)
            s.set_epoch(epoch)
            idx = list(s)
            shards.append([idx[i:i + 5] for i in range(0, len(idx), 5)])
        for step in range(len(shards[0])):
            idx = [i for r in range(WORLD) for i in shards[r][step]]
            ref_opt.zero_grad()
            F.cross_entropy(ref(clnet.tensor(X[idx])), clnet.tensor(Y[idx])).backward()
            ref_opt.step()
    mine, want = host_weights(model), host_weights(ref)
    for k in want:
        assert not np.array_equal(mine[k], init[k]), f"{k} did not train"
        np.testing.assert_allclose(mine[k], want[k], rtol=1e-4, atol=1e-5, err_msg=k)
    everyone = [None] * WORLD
    dist.all_gather_object(everyone, {k: v.tobytes() for k, v in mine.items()})
    assert all(e == everyone[0] for e in everyone), "replicas are not bit-identical"


@check
def ddp_momentum_sgd_matches_one_process_on_the_union():
    train_equivalence(lambda ps: clnet.optim.SGD(ps, lr=0.1, momentum=0.9))


@check
def ddp_adam_matches_one_process_on_the_union():
    train_equivalence(lambda ps: clnet.optim.Adam(ps, lr=0.01))


def local_grads(model, batches):
    """Gradients of the sum of mean losses over ``batches`` on a private copy of ``model``."""
    copy = mlp(0)
    copy.load_state_dict(model.state_dict())
    for x, y in batches:
        F.cross_entropy(copy(x), y).backward()
    return {n: p.grad.numpy() for n, p in copy.named_parameters()}


@check
def ddp_no_sync_accumulates_then_reduces_the_sum():
    model = mlp(5)
    ddp = DDP(model)

    def batch(rank, k):
        rng = np.random.default_rng([rank, k])
        return (clnet.tensor(rng.standard_normal((4, 6)).astype(np.float32)),
                clnet.tensor(rng.integers(0, 3, 4).astype(np.int64)))
    mine = [batch(RANK, 0), batch(RANK, 1)]
    with ddp.no_sync():
        F.cross_entropy(ddp(mine[0][0]), mine[0][1]).backward()
    local = local_grads(model, mine[:1])
    for n, p in model.named_parameters():         # inside no_sync: this rank's own gradient
        np.testing.assert_allclose(p.grad.numpy(), local[n], rtol=1e-5, atol=1e-6, err_msg=n)
    F.cross_entropy(ddp(mine[1][0]), mine[1][1]).backward()
    per_rank = [local_grads(model, [batch(r, 0), batch(r, 1)]) for r in range(WORLD)]
    for n, p in model.named_parameters():
        want = sum(g[n] for g in per_rank) / WORLD
        np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-5, atol=1e-6, err_msg=n)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        clnet.manual_seed(11)
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 3)
        self.c = nn.Linear(4, 3)               # never used

    def forward(self, x, use_b):
        out = self.a(x)
        return out + self.b(x) if use_b else out


@check
def ddp_find_unused_parameters():
    model = TwoHeads()
    ddp = DDP(model, find_unused_parameters=True)
    x = clnet.tensor(np.full((2, 4), RANK + 1.0, np.float32))
    for _ in range(2):                         # twice: the per-iteration state resets
        model.zero_grad(set_to_none=True)
        ddp(x, use_b=RANK == 1).sum().backward()
        gb = np.full((3, 4), 2 * 2.0 / WORLD, np.float32)     # rank 1's d/dW of sum: 2 rows of 2
        np.testing.assert_allclose(model.b.weight.grad.numpy(), gb, rtol=1e-6)
        ga = np.full((3, 4), sum(2.0 * (r + 1) for r in range(WORLD)) / WORLD, np.float32)
        np.testing.assert_allclose(model.a.weight.grad.numpy(), ga, rtol=1e-6)
        assert model.c.weight.grad is None and model.c.bias.grad is None


@check
def ddp_unused_parameter_without_find_unused_is_an_error():
    model = TwoHeads()
    ddp = DDP(model)
    try:
        ddp(clnet.ones(2, 4), use_b=True).sum().backward()
    except RuntimeError as e:
        assert "c.weight" in str(e) and "find_unused_parameters=True" in str(e), e
    else:
        raise AssertionError("no error for a parameter without a gradient")


class WithBuffer(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("scale", clnet.full((2,), float(value)))

    def forward(self, x):
        out = self.lin(x) * self.scale
        with clnet.no_grad():
            self.scale.add_(1.0)               # a buffer the forward changes, like BN's stats
        return out


@check
def ddp_broadcasts_parameters_at_wrap_and_buffers_each_forward():
    clnet.manual_seed(RANK)
    model = WithBuffer(10 * RANK)
    ddp = DDP(model)
    w = [None] * WORLD
    dist.all_gather_object(w, model.lin.weight.numpy().tobytes())
    assert w[0] == w[1], "parameters differ after wrapping"
    same(model.scale, np.zeros(2, np.float32), "buffer taken from rank 0 at wrap")
    if RANK == 1:
        with clnet.no_grad():
            model.scale.fill_(99.0)
    ddp(clnet.ones(1, 3))
    same(model.scale, np.ones(2, np.float32), "buffer broadcast before the forward")
    quiet = DDP(WithBuffer(0), broadcast_buffers=False)
    if RANK == 1:
        with clnet.no_grad():
            quiet.module.scale.fill_(5.0)
    quiet(clnet.ones(1, 3))
    same(quiet.module.scale, np.full(2, 6.0 if RANK == 1 else 1.0, np.float32),
         "broadcast_buffers=False keeps each rank's buffers")


@check
def ddp_module_and_state_dict_names():
    model = mlp(1)
    ddp = clnet.nn.DistributedDataParallel(model)
    assert ddp.module is model
    assert list(ddp.state_dict()) == ["module." + k for k in model.state_dict()]
    names = ddp.bucket_parameter_names()
    assert names == [["2.bias", "2.weight", "0.bias", "0.weight"]], names
    small = DDP(mlp(1), bucket_cap_mb=16 * 4 / 2 ** 20)     # 64 bytes: buckets close early
    assert small.bucket_parameter_names()[0] == ["2.bias", "2.weight"], \
        small.bucket_parameter_names()
    assert small.bucket_parameter_names()[-1][-1] == "0.weight"


@check
def ddp_shape_mismatch_names_the_rank_and_parameter():
    clnet.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5 + RANK))
    try:
        DDP(model)
    except RuntimeError as e:
        msg = str(e)
        assert "rank 1" in msg and "'0.weight'" in msg and "[6, 4]" in msg, msg
    else:
        raise AssertionError("mismatched shapes were not detected")


def _rounded(a, name):
    """float32 values of ``a`` rounded to 16-bit dtype ``name`` (numpy's RNE, clnet's bf16)."""
    if name == "float16":
        return a.astype(np.float16).astype(np.float32)
    return clnet.dtypes.bfloat16_values(clnet.dtypes.bfloat16_bits(a))


@check
def collectives_of_16_bit_floats():
    """float16/bfloat16 travel and sum as float32 (MPI has no 16-bit float) and are rounded
    once into the tensor: all_reduce, broadcast, all_gather."""
    for name in ("float16", "bfloat16"):
        dt = getattr(clnet, name)
        ins = [_rounded(data(r, 33, "float32"), name) for r in range(WORLD)]
        x = clnet.tensor(ins[RANK], dtype=dt)
        dist.all_reduce(x)
        assert x.dtype is dt
        same(x.float(), _rounded(reduced("SUM", ins), name), f"all_reduce {name}")
        y = clnet.tensor(ins[RANK], dtype=dt)[::2]                    # a strided view
        dist.broadcast(y, src=1)
        same(y.float(), ins[1][::2], f"broadcast {name}")
        outs = [clnet.zeros(33, dtype=dt) for _ in range(WORLD)]
        dist.all_gather(outs, clnet.tensor(ins[RANK], dtype=dt))
        for r in range(WORLD):
            same(outs[r].float(), ins[r], f"all_gather {name} from rank {r}")


@check
def ddp_of_a_bfloat16_model():
    """bfloat16 gradients are averaged in float32 and rounded once: every rank's .grad is the
    bfloat16 rounding of the mean of the ranks' bfloat16 gradients."""
    model = mlp(0).bfloat16()
    ddp = DDP(model)
    rng = np.random.default_rng([11, RANK])
    x = clnet.tensor(rng.standard_normal((4, 6)).astype(np.float32), dtype=clnet.bfloat16)
    y = clnet.tensor(rng.integers(0, 3, 4))
    F.cross_entropy(ddp(x), y).backward()
    local = mlp(0).bfloat16()
    grads = []
    for r in range(WORLD):
        local.zero_grad()
        rr = np.random.default_rng([11, r])
        xr = clnet.tensor(rr.standard_normal((4, 6)).astype(np.float32), dtype=clnet.bfloat16)
        F.cross_entropy(local(xr), clnet.tensor(rr.integers(0, 3, 4))).backward()
        grads.append([p.grad.float().numpy() for p in local.parameters()])
    for k, p in enumerate(model.parameters()):
        assert p.grad.dtype is clnet.bfloat16
        want = _rounded((grads[0][k] + grads[1][k]) / WORLD, "bfloat16")
        same(p.grad.float(), want, f"DDP bfloat16 grad {k}")


def main(out_dir):
    results = {}
    for name, fn in CHECKS.items():
        try:
            fn()
            results[name] = "ok"
        except Exception:  # noqa: BLE001 - each check's outcome goes to the test
            results[name] = traceback.format_exc()
        dist.barrier()                          # the ranks start each check together
    with open(f"{out_dir}/rank{RANK}.json", "w") as f:
        json.dump(results, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
