"""The fused optimizers pass their states and scalars by name, checked against the kernel's own
parameter list in cl_kernels/optim.cl (clnet/kernels/optim.py); multi_tensor.cl's kernels take
the same names in the same order."""
import os
import re

import pytest

import clnet
from clnet.backend.programs import kernel_dir, kernel_params
from clnet.kernels.optim import update_kernel
from clnet.optim import _fused


def test_the_names_come_from_the_kernel_source():
    k = update_kernel("adam")
    assert k.states == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    assert k.scalars == ("decay", "wd", "one_minus_beta1", "beta2", "one_minus_beta2",
                         "step_size", "bc2_sqrt", "eps")
    assert [n for _, n in kernel_params("optim", "sgd_##T")] == [
        "n", "param", "poff", "grad", "goff", "buf", "lr", "momentum", "one_minus_dampening",
        "wd", "flags"]


def _param():
    p = clnet.nn.Parameter(clnet.ones(5))
    p.grad = clnet.ones(5)
    return p


def test_a_scalar_the_kernel_does_not_take_is_refused_by_name():
    p = _param()
    with pytest.raises(TypeError, match=r"not taken \['learning_rate'\]") as e:
        _fused.fused_update("SGD", "sgd", p, dict(buf=None),
                            dict(learning_rate=0.1, momentum=0.0, one_minus_dampening=1.0,
                                 wd=0.0), 0)
    assert "missing ['lr']" in str(e.value) and "SGD" in str(e.value)
    assert p.numpy().tolist() == [1.0] * 5        # nothing was launched


def test_a_missing_state_is_refused_by_name():
    p = _param()
    with pytest.raises(TypeError, match=r"missing \['max_exp_avg_sq'\]"):
        _fused.fused_update("Adam", "adam", p,
                            dict(exp_avg=_fused.state_buffer(p),
                                 exp_avg_sq=_fused.state_buffer(p)),
                            dict(decay=1.0, wd=0.0, one_minus_beta1=0.1, beta2=0.999,
                                 one_minus_beta2=0.001, step_size=1e-3, bc2_sqrt=1.0,
                                 eps=1e-8), 0)


def test_named_scalars_reach_their_kernel_parameters():
    """SGD without momentum: p - lr * (g + wd * p), so lr and wd must land where the kernel
    reads them (swapping them by position would give another number)."""
    p = _param()
    _fused.fused_update("SGD", "sgd", p, dict(buf=None),
                        dict(lr=0.5, momentum=0.0, one_minus_dampening=1.0, wd=0.25), 0)
    assert p.numpy().tolist() == pytest.approx([1.0 - 0.5 * (1.0 + 0.25)] * 5)


def _multi_tensor_signature(name):
    """(lists, scalars) of multi_tensor.cl's mt_<name>, as its source writes them."""
    src = open(os.path.join(kernel_dir(), "multi_tensor.cl"), encoding="utf-8").read()
    head = re.search(r"__kernel void mt_" + name + r"\((.*?)\)\s*\{", src, flags=re.S).group(1)
    lists = re.findall(r"MT_ARGS(?:_RO)?\((\w+)\)", head)
    rest = re.sub(r"MTMeta\d+ m|MT_ARGS(?:_RO)?\(\w+\)", "", head)
    scalars = [d.split()[-1] for d in rest.split(",") if d.strip()]
    return lists, scalars


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad", "adadelta"])
def test_multi_tensor_kernels_take_the_single_tensor_kernels_names_in_order(name):
    """kernels/multi_tensor.py passes mt_<name>'s scalars in optim.cl's order (the names the
    optimizers give): the two sources must list the same states and scalars in the same order."""
    lists, scalars = _multi_tensor_signature(name)
    k = update_kernel(name)
    assert lists == ["param", "grad", *k.states]
    assert scalars == [*k.scalars, "flags"]
