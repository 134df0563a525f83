"""Build each kernel family (one ``cl_kernels/<family>.cl`` file) once per (device, defines).

Programs are kept for the life of the process in ``Device.programs``; across processes pyopencl's
binary cache (keyed on source, included headers, options, device, driver and platform version)
makes a second start fast, and where the driver caches builds itself pyopencl leaves it to the
driver. Kernel objects are created once per program and launched through pyopencl's invoker with
their scalar argument types set once.
"""
import importlib.util
import os
import re
import threading

import numpy as np
import pyopencl as cl

from ..errors import KernelBuildError

_source_cache = {}
_build_lock = threading.Lock()


def kernel_dir():
    """The folder holding the ``.cl`` files: ``clnet/cl_kernels`` when installed, else the repo's."""
    spec = importlib.util.find_spec("clnet.cl_kernels")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if os.path.isdir(loc):
                return loc
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(here, "cl_kernels")


def _source(family):
    src = _source_cache.get(family)
    if src is None:
        path = os.path.join(kernel_dir(), family + ".cl")
        try:
            with open(path, encoding="utf-8") as f:
                src = f.read()
        except FileNotFoundError:
            raise KernelBuildError(family, {}, f"kernel source {path} not found "
                                   "(is clnet installed with its cl_kernels?)") from None
        _source_cache[family] = src
    return src


def build_options(dev, defines):
    major, minor = dev.opencl_c_version
    # Our kernels are OpenCL C 1.2; ask for the device's own version up to 1.2 (2.x/3.0 compilers
    # accept CL1.2, and 1.1-only devices get CL1.1).
    std = "CL1.2" if (major, minor) >= (1, 2) else f"CL{major}.{minor}"
    # -cl-kernel-arg-info: Program.kernel reads which arguments are structs passed by value
    opts = [f"-cl-std={std}", "-cl-kernel-arg-info", "-I", kernel_dir()]
    if dev.has_fp64:
        opts.append("-DHAS_FP64=1")
    for k, v in defines:
        opts.append(f"-D{k}" if v is None else f"-D{k}={v}")
    return opts


class Program:
    """A built program plus its kernels, each created once with its argument types set once."""

    __slots__ = ("device", "family", "defines", "cl_program", "_kernels")

    def __init__(self, dev, family, defines, cl_program):
        self.device = dev
        self.family = family
        self.defines = defines
        self.cl_program = cl_program
        self._kernels = {}

    def kernel(self, name, arg_types):
        """The ``cl.Kernel`` ``name``; ``arg_types`` lists numpy scalar types, None for buffers."""
        k = self._kernels.get(name)
        if k is None:
            try:
                k = cl.Kernel(self.cl_program, name)
            except cl.Error as e:
                raise KernelBuildError(self.family, dict(self.defines),
                                       f"kernel {name!r} is not in the program: {e}",
                                       self.device.name) from None
            arg_types = _struct_types(k, arg_types)
            k.set_scalar_arg_dtypes(arg_types)
            # a captured launch (clnet.graphs) gets a kernel object of its own: it needs the types
            k.clnet_arg_types = tuple(arg_types)
            self._kernels[name] = k
        return k


# A by-value struct argument (the Strided, ConvGeom, PoolGeom structs, packed in numpy arrays):
# passed as raw bytes. Left as None, pyopencl's generic argument path tries the types it knows
# first and takes ~9 us per launch for such an array, against ~0.3 us for the bytes.
STRUCT = np.dtype("V4")


def _struct_types(kernel, arg_types):
    """``arg_types`` with the by-value struct arguments among its None entries (buffers, local
    memory or structs) marked ``STRUCT``, read from the kernel's argument info (the program is
    built with -cl-kernel-arg-info); unchanged where the driver gives no argument info."""
    if None not in arg_types:
        return arg_types
    types = list(arg_types)
    try:
        for i, t in enumerate(types):
            if t is None and kernel.get_arg_info(
                    i, cl.kernel_arg_info.ADDRESS_QUALIFIER) == \
                    cl.kernel_arg_address_qualifier.PRIVATE and \
                    "*" not in kernel.get_arg_info(i, cl.kernel_arg_info.TYPE_NAME):
                types[i] = STRUCT
    except cl.Error:
        return arg_types
    return types


def get_program(dev, family, defines=()):
    """The built program of ``family`` for ``dev`` with ``defines`` (a tuple of (name, value))."""
    key = (family, defines)
    prg = dev.programs.get(key)
    if prg is not None:
        return prg
    with _build_lock:
        prg = dev.programs.get(key)
        if prg is not None:
            return prg
        src = _source(family)
        opts = build_options(dev, defines)
        try:
            built = cl.Program(dev.context, src).build(options=opts)
        except cl.Error as e:
            # pyopencl's message carries the compiler's build log
            raise KernelBuildError(family, dict(defines), str(e), dev.name) from None
        prg = Program(dev, family, defines, built)
        dev.programs[key] = prg
    return prg


# numpy scalar types for kernel arguments, by OpenCL C name
CL_SCALAR = {"int": np.int32, "uint": np.uint32, "long": np.int64, "float": np.float32,
             "double": np.float64, "uchar": np.uint8}


class ProgramCache:
    """The programs of one kernel family, one per (device, variant), built on first use.

    A family's defines usually follow from a short variant (the dtype, a device-tuned local size):
    ``ProgramCache("softmax", lambda dev, dt, ls: (("T", dt.cl), ("LS", ls)))`` then
    ``programs(dev, dt, ls)`` finds the program with one dict lookup on a small key and builds the
    defines tuple only on the first call (``get_program`` would hash the whole defines tuple on
    every launch). ``defines`` is called with the device and the variant; left out, the family
    takes no defines. The cache lives in ``dev.programs`` beside ``get_program``'s, keyed by this
    object and the variant, so two families (or two caches of one family) never collide.
    """

    __slots__ = ("family", "defines")

    def __init__(self, family, defines=None):
        self.family = family
        self.defines = defines

    def __call__(self, dev, *variant):
        key = (self, variant)
        prg = dev.programs.get(key)
        if prg is None:
            defines = self.defines(dev, *variant) if self.defines is not None else ()
            prg = dev.programs[key] = get_program(dev, self.family, defines)
        return prg

    def __repr__(self):
        return f"ProgramCache({self.family!r})"


def kernel_params(family, kernel):
    """``[(type, name)]`` of ``kernel``'s parameters as written in ``cl_kernels/<family>.cl``.

    ``kernel`` is the name as the source spells it (``"adam_##T"`` for a kernel stamped out by a
    macro per type). Launchers that pass arguments by name read the order from here, so the
    Python side and the kernel cannot drift apart silently."""
    src = _source(family).replace("\\\n", "\n")
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    match = re.search(r"__kernel\s+void\s+" + re.escape(kernel) + r"\s*\(([^)]*)\)", src)
    if match is None:
        raise KernelBuildError(family, {}, f"kernel {kernel!r} is not in cl_kernels/{family}.cl")
    params = []
    for decl in match.group(1).split(","):
        words = decl.replace("*", " * ").split()
        params.append((" ".join(words[:-1]), words[-1]))
    return params
