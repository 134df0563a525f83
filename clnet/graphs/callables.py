"""``make_graphed_callables``: graphed forward and backward of modules and functions, as
torch.cuda's."""
from __future__ import annotations

from typing import Any, Optional

from ..autograd import Function, grad as _autograd_grad
from ..autograd.grad_mode import no_grad
from ..nn.module import Module
from ..ops.copy import clone, copy_into
from ..ops.creation import ones_like
from ..tensor import Tensor
from .graph import Graph, GraphCaptureError, PoolHandle, graph

def _params_of(c):
    return tuple(c.parameters()) if isinstance(c, Module) else ()


def _graph_callable(func, args, params, warmup, allow_unused):
    """Capture ``func``'s forward on ``args`` and its backward (autograd.grad of its outputs
    with respect to the inputs that require grad and ``params``); returns the graphed
    function."""
    surface = tuple(args) + tuple(params)
    needs = [t for t in surface if isinstance(t, Tensor) and t.requires_grad]
    for _ in range(warmup):     # eager warm-up (program builds, lazily made state)
        outs = func(*args)
        flat = [o for o in (outs if isinstance(outs, (tuple, list)) else (outs,))]
        diff = [o for o in flat if isinstance(o, Tensor) and o.requires_grad]
        if diff and needs:
            _autograd_grad(diff, needs, grad_outputs=[ones_like(o) for o in diff],
                           allow_unused=allow_unused)
        del outs, flat, diff
    fwd, bwd = Graph(), Graph()
    with graph(fwd):
        outs = func(*args)
    single = isinstance(outs, Tensor)
    flat_outs = (outs,) if single else tuple(outs)
    for i, o in enumerate(flat_outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"make_graphed_callables: output {i} is a {type(o).__name__}; "
                            "graphed callables return tensors (or tuples of them)")
    diff_outs = [o for o in flat_outs if o.requires_grad]
    with no_grad():
        static_grad_outputs = [clone(o.detach()) if o.requires_grad else None
                               for o in flat_outs]
    with graph(bwd):
        grads = _autograd_grad(diff_outs, needs,
                               grad_outputs=[g for g in static_grad_outputs if g is not None],
                               allow_unused=allow_unused) if diff_outs and needs else ()
    it = iter(grads)
    static_grad_inputs = tuple(next(it) if isinstance(t, Tensor) and t.requires_grad else None
                               for t in surface)
    static_outputs = tuple(o.detach() for o in flat_outs)
    fwd.watch(*[t for t in surface if isinstance(t, Tensor)])
    n_args = len(args)

    class Graphed(Function):
        @staticmethod
        def forward(ctx, *inputs):
            for i in range(n_args):
                if isinstance(surface[i], Tensor) and inputs[i] is not surface[i]:
                    if inputs[i]._shape != surface[i]._shape:
                        raise GraphCaptureError(
                            f"graphed callable: input {i} has shape {list(inputs[i]._shape)}, "
                            f"the graph was captured for {list(surface[i]._shape)}; make "
                            "another graphed callable for that shape")
                    copy_into(surface[i], inputs[i])
            fwd.replay()
            return tuple(o.detach() for o in static_outputs)

        @staticmethod
        def backward(ctx, *grad_outs):
            for g, s in zip(grad_outs, static_grad_outputs):
                if s is not None and g is not None and g is not s:
                    copy_into(s, g)
            bwd.replay()
            return tuple(None if g is None else g.detach() for g in static_grad_inputs)

    def functionalized(*user_args):
        out = Graphed.apply(*(tuple(user_args) + tuple(params)))
        return out[0] if single else out

    functionalized._graphs = (fwd, bwd)
    return functionalized


def make_graphed_callables(callables: Any, sample_args: Any, num_warmup_iters: int = 3,
                           allow_unused_input: bool = False, pool: Optional[PoolHandle] = None
                           ) -> Any:
    """Graphed versions of ``callables`` (modules or functions; one, or a tuple with a tuple of
    sample argument tuples), as ``torch.cuda.make_graphed_callables``: each one's forward and
    its backward are captured once (after ``num_warmup_iters`` eager runs) and replayed at each
    call. A module comes back as itself with ``forward`` replaced (the graph runs while
    ``module.training`` is what it was at capture, the original forward otherwise); a function
    comes back as a graphed function. Inputs must have the sample arguments' shapes and dtypes;
    the sample arguments become the static inputs."""
    just_one = not isinstance(callables, tuple)
    if just_one:
        callables, sample_args = (callables,), (sample_args,)
    if len(callables) != len(sample_args):
        raise ValueError(f"make_graphed_callables: {len(callables)} callables but "
                         f"{len(sample_args)} sample argument tuples")
    out = []
    for c, args in zip(callables, sample_args):
        args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
        for i, a in enumerate(args):
            if not isinstance(a, Tensor):
                raise TypeError(f"make_graphed_callables: sample argument {i} is a "
                                f"{type(a).__name__}; sample_args hold tensors only")
        if isinstance(c, Module):
            if c._forward_hooks or c._forward_pre_hooks or c._backward_hooks:
                raise GraphCaptureError("make_graphed_callables: modules with hooks are not "
                                        "graphed (a replay would not run them); remove them")
            params = _params_of(c)
            for p in params:
                if not p.requires_grad:
                    raise GraphCaptureError("make_graphed_callables: every parameter of a "
                                            "graphed module must require grad")
            graphed = _graph_callable(c.forward, args, params, num_warmup_iters,
                                      allow_unused_input)
            c.forward = _module_forward(c, c.forward, graphed, c.training)
            out.append(c)
        else:
            out.append(_graph_callable(c, args, (), num_warmup_iters, allow_unused_input))
    return out[0] if just_one else tuple(out)


def _module_forward(module, orig, graphed, training):
    def forward(*args):
        if module.training == training:
            return graphed(*args)
        return orig(*args)
    return forward
