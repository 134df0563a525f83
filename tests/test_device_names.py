"""torch's device-setup names on clnet's devices: an OpenCL GPU is "cuda" and the accelerator.

Each test runs both ways on any machine: the devices' kinds are set for the test, so "no GPU"
is every device reporting CPU (compared with the installed CPU-only torch, which answers the
same), and "a GPU" is the default device reporting GPU (its queue and memory are real)."""
import pytest
import torch

import clnet
from clnet.backend import devices as devmod


@pytest.fixture
def no_gpu(monkeypatch):
    for d in clnet.devices():
        if d.kind == "GPU":
            monkeypatch.setattr(d, "kind", "CPU")
    monkeypatch.setattr(devmod, "_current_gpu", 0)


@pytest.fixture
def gpu(monkeypatch):
    """The default device, reporting itself a GPU (and the only one)."""
    d = clnet.default_device()
    for other in clnet.devices():
        monkeypatch.setattr(other, "kind", "GPU" if other is d else "CPU")
    monkeypatch.setattr(devmod, "_current_gpu", 0)
    return d


# -- without a GPU: a CPU-only PyTorch's answers ---------------------------------------------------
def test_queries_answer_like_a_cpu_only_torch(no_gpu):
    assert torch.cuda.is_available() is False and clnet.cuda.is_available() is False
    assert clnet.cuda.device_count() == torch.cuda.device_count() == 0
    assert clnet.accelerator.is_available() is torch.accelerator.is_available() is False
    assert clnet.accelerator.current_accelerator() is None
    assert torch.accelerator.current_accelerator() is None
    assert clnet.accelerator.current_accelerator(check_available=True) is None
    assert clnet.accelerator.device_count() == torch.accelerator.device_count() == 0
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved"):
        assert getattr(clnet.cuda, name)() == getattr(torch.cuda, name)() == 0
    assert clnet.cuda.memory_stats() == {}
    assert clnet.cuda.is_bf16_supported() is torch.cuda.is_bf16_supported() is False
    clnet.cuda.empty_cache()
    clnet.cuda.reset_peak_memory_stats()
    clnet.cuda.manual_seed(3)
    clnet.cuda.manual_seed_all(3)
    x = clnet.zeros(2, 3)
    assert (x.is_cuda, x.is_xpu, x.is_mps) == (False, False, False)
    with clnet.accelerator.device_index(None):     # None switches nothing, as in torch
        pass


@pytest.mark.parametrize("call", [
    lambda: clnet.zeros(2).cuda(), lambda: clnet.zeros(2).cuda(0),
    lambda: clnet.zeros(2).to("cuda"),
    lambda: clnet.zeros(2).to("cuda:0"), lambda: clnet.zeros(2, device="cuda"),
    lambda: clnet.nn.Linear(2, 2).cuda(), lambda: clnet.nn.Linear(2, 2).to("cuda"),
    lambda: clnet.cuda.current_device(), lambda: clnet.cuda.get_device_name(),
    lambda: clnet.cuda.get_device_properties(0), lambda: clnet.cuda.synchronize(),
    lambda: clnet.cuda.set_device(0), lambda: clnet.device("cuda", 0),
])
def test_what_needs_a_gpu_raises_naming_the_missing_gpu(no_gpu, call):
    with pytest.raises(clnet.DeviceError) as info:
        call()
    msg = str(info.value)
    assert "no OpenCL GPU was found" in msg and "Torch not compiled with CUDA enabled" in msg, msg
    assert "available devices: cl:0" in msg


@pytest.mark.parametrize("name", ["current_device_index", "synchronize", "memory_allocated",
                                  "max_memory_allocated", "memory_reserved", "memory_stats",
                                  "reset_peak_memory_stats", "get_memory_info", "empty_cache"])
def test_accelerator_calls_raise_as_torch_without_one(no_gpu, name):
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is "
                                           "available"):
        getattr(torch.accelerator, name)()
    with pytest.raises(clnet.DeviceError, match="Cannot access accelerator device when none is "
                                                "available .*OpenCL GPU"):
        getattr(clnet.accelerator, name)()
    with pytest.raises(clnet.DeviceError, match="Cannot access accelerator device"):
        clnet.accelerator.set_device_index(0)


def test_the_usual_device_pick_lands_on_the_cpu(no_gpu):
    dev = clnet.device("cuda" if clnet.cuda.is_available() else "cpu")
    model = clnet.nn.Linear(3, 2).to(dev)
    assert model.weight.device is dev and dev.kind == "CPU"
    assert clnet.device("cpu", 0) is clnet.device("cpu:0") is dev
    with pytest.raises(clnet.DeviceError, match="no CPU OpenCL device with index 7"):
        clnet.device("cpu:7")
    with pytest.raises(TypeError, match="device type string without an index"):
        clnet.device("cpu:0", 0)


# -- with a GPU ------------------------------------------------------------------------------------
def test_cuda_names_the_gpu(gpu):
    assert clnet.cuda.is_available() and clnet.cuda.device_count() == 1
    assert clnet.device("cuda") is clnet.device("cuda:0") is clnet.device("cuda", 0) is gpu
    assert clnet.device("CUDA:0") is gpu
    with pytest.raises(clnet.DeviceError, match="no OpenCL GPU with index 1; there are 1"):
        clnet.device("cuda:1")
    x = clnet.arange(6.0).reshape(2, 3)
    for moved in (x.cuda(), x.cuda(0), x.cuda("cuda:0"), x.cuda(gpu), x.to("cuda"),
                  x.to("cuda:0")):
        assert moved.device is gpu and moved.is_cuda and not moved.is_cpu
        assert moved.tolist() == x.tolist()
    assert x.cuda() is x        # already there: the same tensor, as torch
    m = clnet.nn.Linear(3, 2).cuda()
    assert all(p.device is gpu and p.is_cuda for p in m.parameters())


def test_cuda_queries_describe_the_gpu(gpu):
    assert clnet.cuda.current_device() == 0
    assert clnet.cuda.get_device_name() == clnet.cuda.get_device_name(0) == gpu.name
    props = clnet.cuda.get_device_properties(0)
    assert props.name == gpu.name and props.total_memory == gpu.global_mem_size
    assert props.multi_processor_count == gpu.cl_device.max_compute_units >= 1
    assert gpu.name in repr(props)
    clnet.cuda.set_device(0)
    clnet.cuda.set_device("cuda:0")
    clnet.cuda.set_device(-1)               # negative: nothing, as in torch
    with clnet.cuda.device(0):
        assert clnet.cuda.current_device() == 0
    x = clnet.ones(1000, device="cuda")
    clnet.cuda.synchronize()
    assert clnet.cuda.memory_allocated() == clnet.memory_allocated(gpu) >= 4000
    assert clnet.cuda.memory_reserved(0) >= clnet.cuda.memory_allocated(0)
    assert clnet.cuda.max_memory_allocated("cuda") >= clnet.cuda.memory_allocated()
    stats = clnet.cuda.memory_stats()
    assert stats["allocated_bytes.all.current"] == clnet.cuda.memory_allocated()
    free, total = clnet.cuda.mem_get_info()
    assert total == gpu.global_mem_size and 0 <= free <= total
    del x


def test_cuda_functions_refuse_a_device_that_is_not_a_gpu(no_gpu):
    x = clnet.zeros(2)
    with pytest.raises(clnet.DeviceError, match="Invalid device, must be cuda device: cpu is a "
                                                "CPU OpenCL device"):
        x.cuda("cpu")
    with pytest.raises(clnet.DeviceError, match="torch.cuda functions take an OpenCL GPU"):
        clnet.cuda.get_device_name("cpu")


def test_accelerator_is_the_gpu(gpu):
    assert clnet.accelerator.is_available() and clnet.accelerator.device_count() == 1
    assert clnet.accelerator.current_accelerator() is gpu
    assert clnet.accelerator.current_accelerator(check_available=True) is gpu
    assert clnet.accelerator.current_device_index() == 0
    clnet.accelerator.set_device_index(0)
    clnet.accelerator.set_device_index(-1)
    with clnet.accelerator.device_index(0):
        assert clnet.accelerator.current_device_index() == 0
    with pytest.raises(TypeError, match="Expected a torch.device with a specified index"):
        clnet.accelerator.set_device_index(None)
    with pytest.raises(clnet.DeviceError, match="no OpenCL GPU with index 3"):
        clnet.accelerator.set_device_index(3)
    acc = clnet.accelerator.current_accelerator()
    y = clnet.randn(4, 3, device=acc) @ clnet.randn(3, 2).to(acc)
    clnet.accelerator.synchronize()
    assert y.device is gpu and y.is_cuda
    assert clnet.accelerator.memory_allocated() == clnet.memory_allocated(gpu)
    assert clnet.accelerator.memory_reserved(0) == clnet.memory_reserved(gpu)
    assert clnet.accelerator.max_memory_allocated() >= clnet.accelerator.memory_allocated()
    assert clnet.accelerator.get_memory_info()[1] == gpu.global_mem_size
    clnet.accelerator.reset_peak_memory_stats()
    assert clnet.accelerator.max_memory_allocated() == clnet.accelerator.memory_allocated()
    clnet.accelerator.empty_cache()


def test_a_failed_switch_keeps_the_current_gpu(gpu):
    with pytest.raises(clnet.DeviceError):
        with clnet.cuda.device(5):
            pass
    assert clnet.cuda.current_device() == 0


# -- torch.backends --------------------------------------------------------------------------------
def test_backend_flags_have_torchs_defaults_and_are_settable(monkeypatch):
    c, t = clnet.backends.cudnn, torch.backends.cudnn
    assert c.is_available() is t.is_available() is False
    assert c.version() is t.version() is None
    for flag in ("enabled", "benchmark", "deterministic", "allow_tf32"):
        assert getattr(c, flag) == getattr(t, flag), flag
        monkeypatch.setattr(c, flag, not getattr(c, flag))
    assert c.benchmark is True
    assert clnet.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert clnet.backends.mps.is_built() is False
    assert clnet.backends.cuda.is_built() is True
    m = clnet.backends.cuda.matmul
    assert m.allow_tf32 is torch.backends.cuda.matmul.allow_tf32 is False
    assert m.allow_fp16_reduced_precision_reduction is True
    monkeypatch.setattr(m, "allow_tf32", True)
    assert clnet.backends.cuda.matmul.allow_tf32 is True


def test_xpu_is_absent_like_a_pytorch_build_without_it():
    assert clnet.xpu.is_available() is False and clnet.xpu.device_count() == 0
    assert clnet.xpu.is_available() == torch.xpu.is_available()    # torch CPU build: no XPU
    clnet.xpu.manual_seed(0)                                       # ignored, as in torch
    with pytest.raises(clnet.DeviceError, match="no XPU device"):
        clnet.xpu.current_device()


def test_get_default_device_is_where_new_tensors_go():
    assert clnet.get_default_device() == clnet.zeros(1).device == clnet.default_device()
