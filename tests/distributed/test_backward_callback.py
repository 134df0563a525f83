"""The autograd engine's end-of-backward callback (torch's
``Variable._execution_engine.queue_callback``), which DistributedDataParallel waits in, checked
against torch: it runs once the whole backward has finished, after every hook; callbacks may
queue callbacks; outside a backward it raises torch's error."""
import pytest
import torch

import clnet


def _events(lib):
    x = lib.ones(3, requires_grad=True)
    w = lib.ones(3, requires_grad=True)
    log = []

    def queue(fn):
        lib.autograd.Variable._execution_engine.queue_callback(fn)

    def on_x(p):
        log.append(("x", float(p.grad.sum())))
        queue(lambda: (log.append(("end", float(x.grad.sum()), float(w.grad.sum()))),
                       queue(lambda: log.append(("nested",)))))

    x.register_post_accumulate_grad_hook(on_x)
    w.register_post_accumulate_grad_hook(lambda p: log.append(("w", float(p.grad.sum()))))
    ((x * 2) * (w * 3)).sum().backward()
    return log


def test_callback_runs_after_the_whole_backward_like_torch():
    ours, theirs = _events(clnet), _events(torch)
    assert ours[-2:] == theirs[-2:] == [("end", 18.0, 18.0), ("nested",)]
    assert sorted(ours[:-2]) == sorted(theirs[:-2])


def test_outside_backward_raises_like_torch():
    with pytest.raises(RuntimeError, match="Final callbacks can only be installed during "
                                           "backward pass"):
        torch.autograd.Variable._execution_engine.queue_callback(lambda: None)
    with pytest.raises(RuntimeError, match="Final callbacks can only be installed during "
                                           "backward pass"):
        clnet.autograd.Variable._execution_engine.queue_callback(lambda: None)


def test_nested_backward_in_a_hook_keeps_its_own_callbacks():
    log = []
    a = clnet.ones(2, requires_grad=True)
    b = clnet.ones(2, requires_grad=True)

    def hook(p):
        clnet.autograd.Variable._execution_engine.queue_callback(lambda: log.append("outer"))
        with clnet.enable_grad():                 # a backward inside a hook: its own callbacks
            (b * 5).sum().backward()
        log.append("inner done")

    b.register_post_accumulate_grad_hook(
        lambda p: clnet.autograd.Variable._execution_engine.queue_callback(
            lambda: log.append("inner")))
    a.register_post_accumulate_grad_hook(hook)
    (a * 2).sum().backward()
    assert log == ["inner", "inner done", "outer"]
