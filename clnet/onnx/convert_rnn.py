"""nn.LSTM, nn.GRU and nn.RNN as ONNX's LSTM, GRU and RNN operators, one per layer.

PyTorch stacks an LSTM's gates as (i, f, g, o) and a GRU's as (r, z, n); ONNX wants (i, o, f, c)
and (z, r, h), so the weights and biases are re-stacked (in numpy when they are constants of the
graph, with Split/Concat nodes when they are graph inputs). PyTorch's GRU applies the reset gate
after the hidden projection: ONNX's ``linear_before_reset=1``."""
import numpy as np

from ..nn.modules.rnn import GRU, LSTM, RNN
from .tracer import converts_module

_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}
_OP = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}


def _restack(ctx, tensors, order, hidden):
    """[D tensors of (G*H, ...)] with their gate blocks put in ONNX's order, stacked to
    (D, G*H, ...)."""
    if not any(ctx.b.is_traced(t) for t in tensors):
        blocks = []
        for t in tensors:
            a = t.detach().numpy()
            blocks.append(np.concatenate([a[g * hidden:(g + 1) * hidden] for g in order]))
        return ctx.b.initializer(np.stack(blocks))
    parts = []
    for t in tensors:
        gates = ctx.node("Split", [ctx.name(t), ctx.b.const([hidden] * len(order))],
                         n_out=len(order), axis=0)
        gates = gates if isinstance(gates, list) else [gates]
        joined = ctx.node("Concat", [gates[g] for g in order], axis=0)
        parts.append(ctx.node("Unsqueeze", [joined, ctx.b.const([0])]))
    return parts[0] if len(parts) == 1 else ctx.node("Concat", parts, axis=0)


def _bias(ctx, ws, order, hidden):
    """(D, 2*G*H): each direction's W bias then R bias, as ONNX's B input."""
    if not any(ctx.b.is_traced(t) for t in ws):
        rows = []
        for b_ih, b_hh in ws:
            a = [b.detach().numpy() for b in (b_ih, b_hh)]
            rows.append(np.concatenate([np.concatenate([x[g * hidden:(g + 1) * hidden]
                                                        for g in order]) for x in a]))
        return ctx.b.initializer(np.stack(rows))
    per_dir = [ctx.node("Concat", [_restack(ctx, [b_ih], order, hidden),
                                   _restack(ctx, [b_hh], order, hidden)], axis=1)
               for b_ih, b_hh in ws]
    return per_dir[0] if len(per_dir) == 1 else ctx.node("Concat", per_dir, axis=0)


def _layer_state(ctx, state, layer, D, num_layers):
    if state is None:
        return ""
    name = ctx.name(state)
    if num_layers == 1:
        return name
    return ctx.node("Slice", [name, ctx.b.const([layer * D]), ctx.b.const([(layer + 1) * D]),
                              ctx.b.const([0])])


@converts_module(LSTM, GRU, RNN)
def _rnn(ctx, m, out, args, kwargs):
    if m.proj_size:
        ctx.unsupported("LSTM with proj_size")
    x = args[0] if args else kwargs["input"]
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    lstm = m.mode == "LSTM"
    h0, c0 = (hx if hx is not None else (None, None)) if lstm else (hx, None)
    batched = x.dim() == 3
    D = 2 if m.bidirectional else 1
    H, order = m.hidden_size, _ORDER[m.mode]
    batch_axis = 0 if m.batch_first else 1

    seq = ctx.name(x)
    if not batched:
        seq = ctx.node("Unsqueeze", [seq, ctx.b.const([1])])
    elif m.batch_first:
        seq = ctx.node("Transpose", [seq], perm=[1, 0, 2])

    def state(s, layer):
        if s is None:
            return ""
        nm = _layer_state(ctx, s, layer, D, m.num_layers)
        return nm if batched else ctx.node("Unsqueeze", [nm, ctx.b.const([1])])

    h_last, c_last = [], []
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if m.mode == "GRU":
        attrs["linear_before_reset"] = 1
    if m.mode in ("RNN_TANH", "RNN_RELU"):
        attrs["activations"] = ["Tanh" if m.mode == "RNN_TANH" else "Relu"] * D
    for layer in range(m.num_layers):
        names = m._all_weights[layer * D:(layer + 1) * D]
        w = [{n.split("_l")[0]: getattr(m, n) for n in ns} for ns in names]
        ins = [seq, _restack(ctx, [d["weight_ih"] for d in w], order, H),
               _restack(ctx, [d["weight_hh"] for d in w], order, H)]
        ins.append(_bias(ctx, [(d["bias_ih"], d["bias_hh"]) for d in w], order, H)
                   if m.bias else "")
        ins += ["", state(h0, layer)]
        if lstm:
            ins.append(state(c0, layer))
        while ins and ins[-1] == "":
            ins.pop()
        outs = ctx.node(_OP[m.mode], ins, n_out=3 if lstm else 2, **attrs)
        y, h_last_l = outs[0], outs[1]
        h_last.append(h_last_l)
        if lstm:
            c_last.append(outs[2])
        if D == 1:
            seq = ctx.node("Squeeze", [y, ctx.b.const([1])])
        else:      # (T, D, N, H) -> (T, N, D*H), PyTorch's layout of both directions
            seq = ctx.node("Reshape", [ctx.node("Transpose", [y], perm=[0, 2, 1, 3]),
                                       ctx.b.const([0, 0, -1])])

    x_dyn = ctx.dyn(x)
    if not batched:
        seq = ctx.node("Squeeze", [seq, ctx.b.const([1])])
    elif m.batch_first:
        seq = ctx.node("Transpose", [seq], perm=[1, 0, 2])
    out_dyn = {a for a in x_dyn if a != x.dim() - 1}
    state_dyn = {1} if batched and (batch_axis in x_dyn or any(
        1 in ctx.dyn(s) for s in (h0, c0) if s is not None)) else set()

    def final(parts):
        r = parts[0] if len(parts) == 1 else ctx.node("Concat", parts, axis=0)
        return r if batched else ctx.node("Squeeze", [r, ctx.b.const([1])])

    output, states = out
    ctx.out(output, seq, dyn=out_dyn)
    if lstm:
        ctx.out(states[0], final(h_last), dyn=state_dyn)
        ctx.out(states[1], final(c_last), dyn=state_dyn)
    else:
        ctx.out(states, final(h_last), dyn=state_dyn)
