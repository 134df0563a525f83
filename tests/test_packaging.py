"""A built wheel ships every kernel source inside clnet/, installs the CLI as clnet.cli (no top-level
``cli`` module), and its ``clnet`` command runs from the installed copy, not from the repo."""
import glob
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# what a source checkout may hold beside the sources; never part of a build
_NOT_SOURCES = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                      ".pytest_cache", ".hypothesis", "runs", ".venv", "venv",
                                      "*.whl", ".ci-venv")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the working tree (so builds never write into the repo)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_NOT_SOURCES)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = glob.glob(str(tmp / "dist" / "clnet-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel):
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_wheel_ships_every_kernel_source(wheel_names):
    sources = [os.path.basename(p) for ext in ("*.cl", "*.h")
               for p in glob.glob(os.path.join(REPO, "cl_kernels", ext))]
    assert "copy.cl" in sources and "common.h" in sources
    missing = [s for s in sources if f"clnet/cl_kernels/{s}" not in wheel_names]
    assert not missing, f"kernel sources missing from the wheel: {missing}"


def test_wheel_has_only_the_clnet_package_at_top_level(wheel_names):
    top = {n.split("/")[0] for n in wheel_names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"clnet"}, top
    assert not any(n.startswith("cli/") for n in wheel_names)


def test_wheel_ships_every_python_package(wheel_names):
    expected = {"clnet/cli/__init__.py", "clnet/cli/main.py"}
    for init in glob.glob(os.path.join(REPO, "clnet", "**", "__init__.py"), recursive=True):
        expected.add(os.path.relpath(init, REPO).replace(os.sep, "/"))
    for mod in glob.glob(os.path.join(REPO, "cli", "*.py")):
        expected.add("clnet/cli/" + os.path.basename(mod))
    missing = sorted(expected - wheel_names)
    assert not missing, f"missing from the wheel: {missing}"


def test_wheel_metadata(wheel, wheel_names):
    with zipfile.ZipFile(wheel) as z:
        info = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = z.read(info).decode()
        meta = z.read(next(n for n in wheel_names if n.endswith(".dist-info/METADATA"))).decode()
    assert "clnet = clnet.cli.main:main" in entry_points
    assert 'pocl-binary-distribution>=3.0; sys_platform == "linux" and platform_machine == ' \
           '"x86_64"' in meta
    for dep in ("numpy", "pyopencl", "click", "PyYAML"):
        assert f"Requires-Dist: {dep}" in meta


def test_installed_wheel_runs_clnet_devices(wheel, tmp_path):
    # Install without dependencies into a folder that goes first on sys.path: the dependencies
    # come from this environment, clnet itself only from the wheel.
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                        str(target), wheel], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (target / "cli").exists()
    env = dict(os.environ, PYTHONPATH=str(target))
    where = subprocess.run(
        [sys.executable, "-c", "import clnet, clnet.cli.main; from clnet.backend.programs import "
         "kernel_dir; print(clnet.__file__); print(kernel_dir())"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert where.returncode == 0, where.stderr
    module_file, kernels = where.stdout.split()
    assert module_file.startswith(str(target)) and kernels.startswith(str(target))

    script = target / "bin" / "clnet"
    assert script.exists(), "the console script was not installed"
    r = subprocess.run([sys.executable, str(script), "devices"], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stderr
    assert "cl:0" in r.stdout and "*" in r.stdout
    # and a kernel builds from the installed sources
    r = subprocess.run([sys.executable, "-c", "import clnet; print(clnet.arange(4)[::2].contiguous()"
                        ".tolist())"], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0, 2]"


def test_wheel_ships_the_py_typed_marker(wheel_names):
    # PEP 561: a user's type checker reads an installed package's hints only next to py.typed
    assert "clnet/py.typed" in wheel_names
