"""The import graph of clnet/ is a one-way stack: no cycle, no upward import.

The layers are read from the diagram in docs/architecture.md, so the document and the code
cannot disagree. Each line of that diagram that starts in column 0 is one layer, top first; its
first field (up to the first run of two spaces) names the layer's members as repo paths: a folder (``clnet/nn/``)
stands for every module under it, a file (``clnet/tensor.py``) for its module, and a bare name
after a path (``clnet/tensor.py, graph.py``) sits in the previous path's folder. A module belongs
to the layer of its most specific member path. A module may import its own layer or any layer
below it; the cycle check keeps imports within one layer one-way too.

The import graph comes from grimp (import-linter's engine), which counts every import statement,
including those inside functions: a function-level import is a real dependency that only hides
from the reader. Function-level imports are allowed where they buy start-up time or break no
cycle, and each must carry a comment saying why (on its line or the line above).
"""
import ast
import os
import re

import grimp  # the test extra's (setup.cfg): a missing grimp fails here instead of skipping
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURE = os.path.join(ROOT, "docs", "architecture.md")


def read_layers(path=ARCHITECTURE):
    """[(line_text, [member paths])] from the first fenced diagram of architecture.md."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^```\n(.*?)^```", text, re.S | re.M)
    assert match, f"{path}: no fenced layer diagram found"
    layers = []
    for line in match.group(1).splitlines():
        if not line or line[0].isspace():
            continue                       # a continuation line describes the layer above
        first_field = re.split(r"\s{2,}", line.strip())[0]
        members, folder = [], ""
        for token in re.split(r"[\s,]+", first_field):
            if not token:
                continue
            if "/" in token.rstrip("/"):
                folder = token.rstrip("/").rsplit("/", 1)[0] + "/"
                members.append(token)
            elif token.endswith("/") and not folder:
                members.append(token)      # a top-level folder such as cli/
            else:
                members.append(folder + token)
        layers.append((line.strip(), members))
    return layers


def module_of(path):
    """'clnet/ops/' -> ('clnet.ops', True); 'clnet/tensor.py' -> ('clnet.tensor', False)."""
    if path.endswith("/"):
        return path.rstrip("/").replace("/", "."), True
    name = path[:-3] if path.endswith(".py") else path
    name = name.replace("/", ".")
    if name.endswith(".__init__"):
        return name[: -len(".__init__")], False
    return name, False


def layer_index(module, layers):
    best, best_len = None, -1
    for i, (_, members) in enumerate(layers):
        for member in members:
            name, is_folder = module_of(member)
            hit = module == name or (is_folder and module.startswith(name + "."))
            if hit and len(name) + is_folder > best_len:
                best, best_len = i, len(name) + is_folder
    return best


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("clnet", include_external_packages=False, cache_dir=None)


def strongly_connected(modules, edges):
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_diagram_names_a_layer_for_every_module(graph):
    layers = read_layers()
    orphans = sorted(m for m in graph.modules if layer_index(m, layers) is None)
    assert not orphans, ("modules in no layer of docs/architecture.md's diagram: "
                         + ", ".join(orphans))


def test_no_import_cycle_counting_imports_inside_functions(graph):
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = strongly_connected(graph.modules, edges)
    report = []
    for component in cycles:
        inside = set(component)
        links = sorted(f"{a} -> {b}" for a in component for b in edges[a] & inside)
        report.append(f"{len(component)} modules: " + "; ".join(links))
    assert not cycles, "import cycles:\n" + "\n".join(report)


def test_no_upward_import(graph):
    layers = read_layers()
    upward = []
    for importer in sorted(graph.modules):
        mine = layer_index(importer, layers)
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            theirs = layer_index(imported, layers)
            if mine is not None and theirs is not None and theirs < mine:
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    upward.append(f"{importer}:{detail['line_number']} imports {imported} "
                                  f"({layers[mine][1][0]} is below "
                                  f"{layers[theirs][1][0]})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _python_files(top):
    for folder, _, files in os.walk(top):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def test_library_code_never_imports_the_cli():
    offenders = []
    for path in _python_files(os.path.join(ROOT, "clnet")):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "cli" or n.startswith(("cli.", "clnet.cli")) for n in names):
                offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not offenders, "library modules importing the CLI: " + ", ".join(offenders)


def test_every_import_inside_a_function_says_why():
    silent = []
    for path in _python_files(os.path.join(ROOT, "clnet")):
        with open(path, encoding="utf-8") as f:
            source = f.read()
        lines = source.splitlines()
        tree = ast.parse(source, path)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                here = lines[node.lineno - 1]
                above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
                if "#" not in here and not above.startswith("#"):
                    silent.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}: {here.strip()}")
    assert not silent, ("imports inside functions without a comment saying why:\n"
                        + "\n".join(sorted(set(silent))))


def test_the_layer_reader_understands_the_diagram_forms(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("x\n```\ncli/      top\nclnet/nn/ clnet/optim/   mid\n  more words\n"
                   "clnet/tensor.py, graph.py   floor\n```\n")
    layers = read_layers(str(doc))
    assert [m for _, m in layers] == [["cli/"], ["clnet/nn/", "clnet/optim/"],
                                      ["clnet/tensor.py", "clnet/graph.py"]]
    assert layer_index("clnet.graph", layers) == 2
    assert layer_index("clnet.nn.modules.conv", layers) == 1
    assert layer_index("clnet.data", layers) is None
