"""Full module backward hooks: the module's tensor inputs and outputs pass through identity
nodes (``BackwardHookFunctionBackward``, as in PyTorch), so the output node sees
``grad_output`` and the input node sees ``grad_input``; the user hooks run at the input node
with both, and may replace ``grad_input``."""
import warnings

from .. import graph
from ..tensor import Tensor


def _identity_through_node(tensors):
    """Aliases of ``tensors`` (same storage, a view each) whose grad_fn is one identity node
    with an edge to every input; the node is returned so hooks can be put on it."""
    outs = []
    for t in tensors:
        o = Tensor._make(t._storage, t._shape, t._stride, t._offset, t.dtype)
        o._base = t if t._base is None else t._base
        outs.append(o)
    graph.record("BackwardHookFunctionBackward", tuple(outs), tuple(tensors),
                 lambda *grads: grads)
    for o in outs:
        o._view_version = graph.FUNCTION_VIEW   # in-place on it is refused, like torch
    return tuple(outs), outs[0].grad_fn


def _pack_with_none(indices, values, size):
    res = [None] * size
    for idx, val in zip(indices, values):
        res[idx] = val
    return tuple(res)


class BackwardHook:
    """One module call's backward hook wiring (torch.utils.hooks.BackwardHook's protocol)."""

    def __init__(self, module, user_hooks, user_pre_hooks):
        self.module = module
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.grad_outputs = None
        self.n_inputs = -1
        self.input_tensors_index = None
        self.n_outputs = -1
        self.output_tensors_index = None

    def _apply_on_tensors(self, install, args):
        """Route the tensors of ``args`` that require grad through an identity node and call
        ``install(node)``; returns the new args and the positions of the routed tensors."""
        if not graph.mode.grad_enabled:
            return args, None
        index = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not index:
            return args, None
        new, node = _identity_through_node([args[i] for i in index])
        install(node)
        out = list(args)
        for i, t in zip(index, new):
            out[i] = t
        return tuple(out), index

    def setup_input_hook(self, args):
        def install(node):
            def hook(grad_input, _grad_output):
                if self.grad_outputs is None:
                    # the gradient reached the inputs without passing through the outputs
                    return None
                res = _pack_with_none(self.input_tensors_index, grad_input, self.n_inputs)
                for user_hook in self.user_hooks:
                    out = user_hook(self.module, res, self.grad_outputs)
                    if out is None:
                        continue
                    if len(out) != len(res):
                        raise RuntimeError("Backward hook returned an invalid number of "
                                           f"grad_input, got {len(out)}, but expected {len(res)}")
                    res = out
                self.grad_outputs = None
                return tuple(res[i] for i in self.input_tensors_index)
            node.register_hook(hook)

        res, self.input_tensors_index = self._apply_on_tensors(install, args)
        self.n_inputs = len(args)
        return res

    def setup_output_hook(self, result):
        def install(node):
            def hook(_grad_input, grad_output):
                self.grad_outputs = _pack_with_none(self.output_tensors_index, grad_output,
                                                    self.n_outputs)
                for pre_hook in self.user_pre_hooks:
                    new = pre_hook(self.module, self.grad_outputs)
                    if new is None:
                        continue
                    if len(new) != len(self.grad_outputs):
                        raise RuntimeError("Backward pre hook returned an invalid number of "
                                           f"grad_output, got {len(new)}, but expected "
                                           f"{len(self.grad_outputs)}")
                    self.grad_outputs = tuple(new)
                local = self.grad_outputs
                if self.input_tensors_index is None:
                    warnings.warn("Full backward hook is firing when gradients are computed with "
                                  "respect to module outputs since no inputs require gradients.",
                                  stacklevel=2)
                    grad_inputs = (None,) * self.n_inputs
                    for user_hook in self.user_hooks:
                        r = user_hook(self.module, grad_inputs, self.grad_outputs)
                        if r is not None and not (isinstance(r, tuple)
                                                  and all(el is None for el in r)):
                            raise RuntimeError("Backward hook for Modules where no input requires"
                                               " gradient should always return None or None for "
                                               "all gradients.")
                    self.grad_outputs = None
                return tuple(local[i] for i in self.output_tensors_index)
            node.register_hook(hook)

        single = not isinstance(result, tuple)
        outs = (result,) if single else result
        res, self.output_tensors_index = self._apply_on_tensors(install, outs)
        self.n_outputs = len(outs)
        return res[0] if single else res
