"""Issue 15: the public API's type hints, checked by mypy.

setup.cfg's [mypy] section names the checked modules (Tensor, nn, optim, data, autograd, train,
the CLI's entry point); ``mypy`` with no arguments checks them, as .ci/run does. Here: that run
passes, user code typed against the API is accepted and misuse is caught, and every public
function of those modules carries annotations (so new ones cannot arrive without them).
"""
import ast
import inspect
import os
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the packages and modules whose every public function is annotated
ANNOTATED = ["clnet/tensor.py", "clnet/types.py", "clnet/nn", "clnet/optim", "clnet/data",
             "clnet/autograd"]
DUNDERS = ("__init__", "__call__", "__getitem__", "__setitem__", "__len__", "__iter__")


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    """Run mypy from the repository root (setup.cfg's config) with a cache of this test run's own,
    so no earlier run's cache can hide an error; the first run takes ~5 s of CPU."""
    cache = str(tmp_path_factory.mktemp("mypy_cache"))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", cache, *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    return run


def test_mypy_passes_on_the_checked_modules(mypy):
    r = mypy()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Success: no issues found" in r.stdout


USER_CODE = '''
import clnet
import clnet.nn as nn
import clnet.optim as optim
from clnet.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
same: nn.Sequential = model.train()         # self-returning methods keep the subclass
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
sched = optim.lr_scheduler.StepLR(opt, step_size=1)
x = clnet.Tensor(16, 4)
loader = DataLoader(TensorDataset(x, clnet.zeros(16, dtype=clnet.long)), batch_size=4)
for xb, yb in loader:
    out: clnet.Tensor = model(xb)
    loss = nn.functional.cross_entropy(out, yb)
    loss.backward()
    opt.step()
    opt.zero_grad()
sched.step()
rows: int = x.size(0) + 1                   # size(dim) is an int, size() a Size
shape: clnet.Size = x.size()
lrs: list = sched.get_last_lr()
'''

MISUSE = '''
import clnet
import clnet.nn as nn
import clnet.optim as optim

layer = nn.Linear("4", 8)
opt = optim.SGD(layer.parameters(), lr="fast")
n: str = clnet.Tensor(2).size(0)
layer.load_state_dict(3)
'''


def test_code_typed_against_the_api_is_accepted(mypy, tmp_path):
    path = tmp_path / "user_code.py"
    path.write_text(USER_CODE)
    r = mypy(str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_misuse_of_the_api_is_caught(mypy, tmp_path):
    path = tmp_path / "misuse.py"
    path.write_text(MISUSE)
    r = mypy(str(path))
    assert r.returncode == 1, r.stdout + r.stderr
    for line, expected in ((6, 'Argument 1 to "Linear" has incompatible type "str"; expected "int"'),
                           (7, 'Argument "lr" to "SGD" has incompatible type "str"'),
                           (8, 'Incompatible types in assignment (expression has type "int"'),
                           (9, 'Argument 1 to "load_state_dict" of "Module" has incompatible '
                               'type "int"')):
        assert f"misuse.py:{line}: error: {expected}" in r.stdout, r.stdout


def _public_defs(path):
    """(qualified name, ast node) of the module's public functions and the public methods of
    its public classes (nested helpers are not API)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_")
                                                          or item.name in DUNDERS):
                    yield f"{node.name}.{item.name}", item


def _annotated(fn):
    a = fn.args
    params = a.posonlyargs + a.args + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p]
    return fn.returns is not None or any(p.annotation is not None for p in params)


def _api_files():
    for entry in ANNOTATED:
        full = os.path.join(ROOT, entry)
        if entry.endswith(".py"):
            yield full
            continue
        for folder, _, files in os.walk(full):
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)
                private = any(part.startswith("_") and part != "__init__.py"
                              for part in rel.split(os.sep))
                if name.endswith(".py") and not private:
                    yield os.path.join(folder, name)


def test_every_public_function_of_the_checked_packages_is_annotated():
    missing = [f"{os.path.relpath(path, ROOT)}:{node.lineno}: {name}"
               for path in _api_files() for name, node in _public_defs(path)
               if not _annotated(node)]
    assert not missing, "public functions without type hints:\n" + "\n".join(missing)


def test_the_train_api_and_the_cli_entry_point_are_annotated():
    import clnet.train as train
    from clnet.cli.main import main
    missing = []
    for name in train.__all__:
        obj = getattr(train, name)
        if inspect.isfunction(obj) and not obj.__annotations__:
            missing.append(name)
        if inspect.isclass(obj):         # its methods, inherited ones included (Trainer's mixins)
            seen = set()                 # a name resolves to its first class in the MRO
            for klass in obj.__mro__:
                fresh = {a: m for a, m in vars(klass).items() if a not in seen}
                seen.update(fresh)
                if not klass.__module__.startswith("clnet.train"):
                    continue
                for attr, member in fresh.items():
                    fn = member.fget if isinstance(member, property) else member
                    fn = fn.__func__ if isinstance(fn, staticmethod) else fn
                    if inspect.isfunction(fn) and not fn.__annotations__ \
                            and (not attr.startswith("_") or attr == "__init__"):
                        missing.append(f"{name}.{attr} ({klass.__name__})")
    assert not missing, f"clnet.train API without type hints: {missing}"
    assert set(main.__annotations__) == {"argv", "return"}


def test_the_package_declares_its_type_hints():
    # PEP 561: without py.typed next to clnet/__init__.py, a user's mypy ignores the hints
    assert os.path.isfile(os.path.join(ROOT, "clnet", "py.typed"))
