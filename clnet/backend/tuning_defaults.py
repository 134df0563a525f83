"""The kernels' default parameters per vendor, used where ``clnet tune`` has not measured a device.

Which entries are measured and which are guesses:

  pocl (and every CPU device)   MEASURED on PoCL 3.0 on a 2-core AMD EPYC (Zen 3, AVX2): the
                                CPU GEMM tile set (one work-item per 192x256 tile, 6x16
                                register block, 16-wide vectors), one work-item per softmax /
                                norm row, the streaming reduce layout. CPUs whose driver reports
                                16-wide native float vectors (AVX-512: 32 vector registers) get
                                an 8x32 register block instead, MEASURED on PoCL 3.0 on a 2-core
                                Xeon (Sapphire Rapids class): 5-25% less CPU time than 6x16 on
                                the training-step shapes of clnet bench train (the LSTM, MLP
                                and head products); `clnet tune` found 1.2-1.9x on a 2-core
                                Ice Lake with such blocks (benchmarks/RESULTS.md).
  nvidia, amd, intel, apple,    GUESSES, never run by clnet on such a GPU: the GEMM tiles are
  gpu (any other GPU)           CLBlast's published per-vendor default Xgemm parameters
                                (src/database/kernels/xgemm/xgemm_32.hpp) carried over to
                                gemm.cl's tiled kernel (MWG -> TM, NWG -> TN, KWG -> TK,
                                MWG/MDIMC -> WM, NWG/NDIMC -> WN, VWN -> VW); CLBlast's kernel
                                is not ours, so they are starting points, not optima. Row
                                layouts and reduce work-groups follow the vendors' guides: a
                                multiple of the SIMD width (NVIDIA warps of 32, AMD wavefronts
                                of 64, Intel sub-groups of 8-32, Apple SIMD-groups of 32) and
                                256 work-items for reductions. Apple has no CLBlast entry: its
                                table is CLBlast's vendor-independent default.

``tests/test_tuning.py`` runs every GPU table's GEMM on this machine's device
(forced into the GPU layout) against numpy, so a guess can be slow but never wrong. ``clnet tune``
replaces any of them on a device with measured values (clnet/backend/tuning.py).
"""


def _gpu(TM, TN, TK, WM, WN, VW):
    return dict(style="gpu", TM=TM, TN=TN, TK=TK, WM=WM, WN=WN, VW=VW)


# kind "CPU": the measured CPU tile sets (double: half the register block's width, as a vector
# register holds half as many doubles). Shrunk to the device's local memory by gemm.py.
CPU = {
    "source": "measured (PoCL 3.0, 2-core AMD EPYC, AVX2)",
    "gemm": {"float": dict(style="cpu", TM=192, TN=256, TK=256, WM=6, WN=16, VW=16),
             "double": dict(style="cpu", TM=192, TN=256, TK=128, WM=6, WN=8, VW=8)},
    "softmax.ls": 1, "norm.ls": 1,
}

# CPUs with AVX-512 (PoCL reports a native float vector width of 16): 16 accumulators of the 8x32
# block fit the 32 vector registers with the B vectors beside them.
CPU_WIDE = dict(CPU, source="measured (PoCL 3.0, 2-core Xeon, AVX-512)", gemm={
    "float": dict(style="cpu", TM=192, TN=256, TK=256, WM=8, WN=32, VW=16),
    "double": dict(style="cpu", TM=192, TN=256, TK=128, WM=8, WN=16, VW=8)})

# kind "GPU", by vendor; "gpu" is any other GPU (and every table's fallback for a key it lacks).
GPU = {
    "gpu": {"source": "guess (clnet's first GPU table: 64x64 tile, 4x4 per work-item)",
            "gemm": {"float": _gpu(64, 64, 16, 4, 4, 4), "double": _gpu(64, 64, 16, 4, 4, 4)},
            "softmax.ls": 64, "norm.ls": 64, "reduce.local": 256},
    "nvidia": {"source": "guess (CLBlast's NVIDIA default Xgemm: 32x64 tile, KWG 32, 4x2 "
                         "per work-item, float2)",
               "gemm": {"float": _gpu(32, 64, 32, 4, 2, 2), "double": _gpu(32, 64, 32, 4, 2, 2)},
               "softmax.ls": 64, "norm.ls": 64, "reduce.local": 256},
    "amd": {"source": "guess (CLBlast's AMD default Xgemm: 64x64 tile, KWG 32, 4x8 per "
                      "work-item, float4)",
            "gemm": {"float": _gpu(64, 64, 32, 4, 8, 4), "double": _gpu(64, 64, 32, 4, 8, 4)},
            "softmax.ls": 64, "norm.ls": 64, "reduce.local": 256},
    "intel": {"source": "guess (CLBlast's Intel GPU default Xgemm: 64x64 tile, KWG 32, 4x8 "
                        "per work-item, float4)",
              "gemm": {"float": _gpu(64, 64, 32, 4, 8, 4), "double": _gpu(64, 64, 32, 4, 8, 4)},
              "softmax.ls": 64, "norm.ls": 64, "reduce.local": 256},
    "apple": {"source": "guess (CLBlast's vendor-independent default Xgemm: 32x32 tile, "
                        "KWG 32, 4x2 per work-item, float2)",
              "gemm": {"float": _gpu(32, 32, 32, 4, 2, 2), "double": _gpu(32, 32, 32, 4, 2, 2)},
              "softmax.ls": 64, "norm.ls": 64, "reduce.local": 256},
}

# substrings of the platform vendor / platform name / device vendor, lower-cased
_VENDORS = (("nvidia", ("nvidia",)), ("amd", ("advanced micro devices", "amd")),
            ("intel", ("intel",)), ("apple", ("apple",)))


def vendor(dev):
    """'pocl', 'nvidia', 'amd', 'intel', 'apple' or 'other' for a device (or a test's stand-in
    with only ``kind``)."""
    words = " ".join(str(getattr(dev, a, "")) for a in ("platform_vendor", "platform_name")).lower()
    if "pocl" in words or "portable computing language" in words:
        return "pocl"
    cl_device = getattr(dev, "cl_device", None)
    words += " " + (cl_device.vendor.lower() if cl_device is not None else "")
    for name, keys in _VENDORS:
        if any(k in words for k in keys):
            return name
    return "other"


def table(dev):
    """The default table of ``dev``: the CPU table for every CPU device (the wide one for
    AVX-512 drivers), else its vendor's GPU table (keys it lacks come from the generic GPU
    table)."""
    if getattr(dev, "kind", "GPU") == "CPU":
        cl_device = getattr(dev, "cl_device", None)
        wide = cl_device is not None and cl_device.native_vector_width_float >= 16
        return CPU_WIDE if wide else CPU
    t = dict(GPU["gpu"])
    t.update(GPU.get(vendor(dev), {}))
    return t


def default(dev, key, fallback=None):
    """One default parameter of ``dev`` (a copy for the GEMM tables), or ``fallback``."""
    v = table(dev).get(key, fallback)
    if key == "gemm":
        return {dt: dict(cfg) for dt, cfg in v.items()}
    return v
