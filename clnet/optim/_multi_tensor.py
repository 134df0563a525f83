"""One optimizer step of a param group: one multi-tensor launch per bucket of parameters, or one
fused launch per parameter (PyTorch's ``foreach``/``fused`` choice; see ``uses_multi_tensor``).

A bucket holds the group's parameters of one device, dtype, step count and per-parameter flags
(SGD's first step), in group order, as torch's ``_group_tensors_by_device_and_dtype`` splits a
mixed group; kernels/multi_tensor.py cuts a bucket into chunks of K tensors. A parameter the
multi-tensor kernels cannot address in place (non-contiguous, or a state that is not a
contiguous run) takes the single-tensor path, whose launcher copies as needed (``_fused.py``).

Capture safety (``clnet.graphs`` records launches and replays them): the step count increments
run through ``host_step`` and the kernels' scalars (learning rate, bias corrections) through
``enqueue_dynamic``'s ``make_args``, so both are recomputed at every replay from the group's
current hyper-parameters; state creation refuses inside a capture (``_fused.state_buffer``).
"""
from ..backend.launch import host_step
from ..kernels import multi_tensor
from ..ops.copy import contiguous
from . import _fused


def uses_multi_tensor(group):
    """PyTorch's switches: ``foreach=False`` (without ``fused=True``) runs the per-parameter loop;
    the default (None), ``foreach=True`` and ``fused=True`` run the multi-tensor kernels (clnet's
    fused path: one launch updates many parameters and their states)."""
    if group.get("foreach") and group.get("fused"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    return group.get("foreach") is not False or bool(group.get("fused"))


def _addressable(p, states):
    """Whether the multi-tensor kernels update ``p`` and ``states`` in place."""
    return p.is_contiguous() and all(s is None or s.is_contiguous() for s in states)


def step_group(opt, opt_name, kernel, group, params, states, scalars, flags, counts_steps=True):
    """Update ``params`` (the group's parameters with a gradient, their states created).

    ``states(p)``: the kernel's state tensors of ``p`` in its order (None where unused);
    ``scalars(step)``: the kernel's scalars for a parameter at ``step`` (after the increment),
    read from ``group`` when called, at each run; ``flags(p)``: its flag bits;
    ``counts_steps``: whether ``state['step']`` counts steps (not SGD's)."""
    state = opt.state
    buckets, singles = {}, []
    multi = uses_multi_tensor(group)
    for p in params:
        st = states(p)
        if multi and _addressable(p, st):
            key = (p._storage.device, p.dtype, state[p].get("step"), flags(p))
            buckets.setdefault(key, []).append((p, st))
        else:
            singles.append((p, st))
    for (dev, _, _, bucket_flags), entries in buckets.items():
        ps = [p for p, _ in entries]
        if counts_steps:
            host_step(dev, lambda ps=ps: _count_step(state, ps))
        grads = [p.grad if p.grad.is_contiguous() else contiguous(p.grad) for p in ps]
        lists = [ps, grads] + [None if entries[0][1][i] is None else [st[i] for _, st in entries]
                               for i in range(len(entries[0][1]))]
        first = ps[0]
        multi_tensor.update(opt_name, kernel, lists,
                            lambda first=first: scalars(state[first].get("step")), bucket_flags,
                            contiguous_checked=True)
        for p, st in entries:
            p._bump_version()
            _bump_states(st)
    names = _fused.update_kernel(kernel).states
    for p, st in singles:
        if counts_steps:
            host_step(p._storage.device, lambda p=p: _count_step(state, [p]))
        _fused.fused_update(opt_name, kernel, p, dict(zip(names, st)),
                            lambda p=p: scalars(state[p].get("step")), flags(p))
        _bump_states(st)      # fused_update bumps the parameter's version


def _count_step(state, params):
    for p in params:
        state[p]["step"] += 1.0


def _bump_states(states):
    for s in states:
        if s is not None:
            s._bump_version()
