"""benchmarks/torch_coverage.py finds the torch names a program uses, statically and by running
it under real torch, and tells which ones a module map lacks."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import torch_coverage as tc  # noqa: E402


PROGRAM = '''
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.optim.lr_scheduler import StepLR
import torch.nn.parallel

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.name = "net"

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=1)

x = torch.randn(3, 4)
y = torch.matmul(x, x.t(), out=None)
h = x.unsqueeze_(0).detach()
sched = StepLR
w = torch.nn.functional.relu(x)
n = "a b".split()
grid = np.indices((2, 2), dtype=int)
'''


def test_static_scan_resolves_aliases_keywords_and_members(tmp_path):
    f = tmp_path / "prog.py"
    f.write_text(PROGRAM)
    names, kwargs, members = tc.scan([f])
    for expected in ["torch.nn.Module", "torch.nn.Linear", "torch.nn.functional.log_softmax",
                     "torch.optim.lr_scheduler.StepLR", "torch.nn.parallel", "torch.randn",
                     "torch.matmul", "torch.nn.functional.relu"]:
        assert expected in names, expected
    assert ("torch.matmul", "out") in kwargs
    assert ("torch.nn.functional.log_softmax", "dim") in kwargs
    member_names = {attr for attr, _ in members}
    assert {"unsqueeze_", "detach", "t", "split"} <= member_names
    assert "name" not in member_names  # assigned by the program: its own attribute
    assert "indices" not in member_names  # np.indices: numpy's, not a Tensor member
    assert ("indices", "dtype") not in members


def test_resolve_walks_attributes_then_submodules():
    import types
    top, sub = types.ModuleType("top"), types.ModuleType("top.sub")
    sub.f = lambda: None
    mods = {"torch": top, "torch.sub": sub}
    assert tc.resolve("torch.sub.f", mods) is sub.f   # found through the module map
    assert tc.resolve("torch.sub.g", mods) is tc._MISSING
    assert tc.resolve("torch.other", mods) is tc._MISSING


def test_static_report_on_the_corpus_lists_only_real_torch_names():
    report = tc.static_report(tc.corpus_files())
    import torch
    for row in report["missing_names"]:
        assert tc.resolve(row["name"], tc.torch_module_map()) is not tc._MISSING
        assert row["uses"]
    assert report["stats"]["torch_names_used"] > 100
    assert torch.nn.Linear  # the real torch stays importable after the report


def test_dynamic_record_sees_the_names_a_run_reaches():
    from corpus_list import PROGRAMS
    regression = [p for p in PROGRAMS if p.id == "regression"]
    rec, failures = tc.dynamic_record(regression)
    assert not failures
    assert {"torch.nn.Linear", "torch.nn.functional.smooth_l1_loss", "torch.randn",
            "torch.cat"} <= rec.names
    assert {"mm", "unsqueeze", "item", "add_", "grad", "data"} <= rec.members["Tensor"]
    assert {"zero_grad", "parameters"} <= rec.members["nn.Module"]
    # everything put back: torch's classes and modules are the real ones again
    import torch
    assert "__getattribute__" not in torch.Tensor.__dict__
    assert type(sys.modules["torch"]) is type(sys)
    assert sys.modules["torch"] is torch


@pytest.mark.slow
def test_report_runs_end_to_end():
    assert tc.main(["--only", "regression", "--run"]) == 0
