"""Python's own ``pickle`` and ``copy.deepcopy`` of clnet tensors (``Tensor.__reduce_ex__``,
``Tensor.__deepcopy__``, ``Parameter``'s), with PyTorch's semantics.

A pickled tensor carries its whole storage's bytes, read through the host, and its device's
name; views pickled together share one storage again when loaded (the storage is pickled once,
through ``copyreg``), and a device that is gone loads as the default device. ``deepcopy``
copies a storage once per copy (on the device), so views stay views of the copy; a tensor keeps
``requires_grad`` and gets a copy of its ``.grad``, a Parameter stays a Parameter without its
grad (``Parameter.__deepcopy__``), and only graph leaves can be copied, as in PyTorch. ``clnet.save`` does not come here: it
writes tensors as ``torch.save`` does (``pickler``).
"""
import copyreg

import numpy as np
import pyopencl as cl

from ..autograd.grad_mode import no_grad
from ..backend.device_errors import check_device_errors
from ..backend.devices import default_device, device
from ..backend.launch import refuse_in_capture
from ..dtypes import to_dtype
from ..errors import DeviceError
from ..tensor import Storage, Tensor
from .parameter_type import parameter_class

_NOT_LEAF = ("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
             "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
             "because of a torch.nn.utils.weight_norm usage, see "
             "https://github.com/pytorch/pytorch/pull/103001")


def _storage_bytes(storage):
    refuse_in_capture(storage.device, "saving or copying a tensor to the host (torch.save, "
                      "pickle, deepcopy)")
    out = np.empty(storage.nbytes, np.uint8)
    if storage.nbytes:
        cl.enqueue_copy(storage.device.queue, out, storage.buffer, is_blocking=True)
    check_device_errors(storage.device)
    return out.tobytes()


def _rebuild_storage(data, device_name):
    try:
        dev = device(device_name)
    except DeviceError:
        dev = default_device()      # pickled on a device this machine does not have
    storage = Storage(dev, len(data))
    if data:
        host = np.frombuffer(data, np.uint8)
        # the buffer is new: a non-blocking write keeps ``host`` alive through its event
        cl.enqueue_copy(dev.queue, storage.buffer, host, is_blocking=False)
    return storage


def _reduce_storage(storage):
    return _rebuild_storage, (_storage_bytes(storage), str(storage.device))


copyreg.pickle(Storage, _reduce_storage)


def _rebuild_tensor(storage, offset, shape, stride, dtype_name, requires_grad):
    t = Tensor._make(storage, tuple(shape), tuple(stride), offset, to_dtype(dtype_name))
    t.requires_grad = requires_grad
    return t


def _rebuild_parameter(data, requires_grad):
    return parameter_class()(data, requires_grad)


def reduce_tensor(t):
    return _rebuild_tensor, (t._storage, t._offset, tuple(t._shape), tuple(t._stride),
                             t.dtype.name, bool(t.requires_grad))


def reduce_parameter(p):
    return _rebuild_parameter, (p.detach(), bool(p.requires_grad))


def deepcopy_tensor(t, memo):
    if not t.is_leaf:
        raise RuntimeError(_NOT_LEAF)
    if id(t) in memo:
        return memo[id(t)]
    storage = memo.get(id(t._storage))
    if storage is None:
        n = t._storage.nbytes // t.dtype.itemsize
        with no_grad():
            storage = Tensor._make(t._storage, (n,), (1,), 0, t.dtype).clone()._storage
        memo[id(t._storage)] = storage
    new = Tensor._make(storage, t._shape, t._stride, t._offset, t.dtype)
    new.requires_grad = t.requires_grad
    if t.grad is not None:
        new.grad = deepcopy_tensor(t.grad, memo)
    memo[id(t)] = new
    return new


def _tensor_reduce_ex(self, proto):
    # pickle.dumps: the storage's bytes through the host
    return reduce_tensor(self)


# Tensor's pickle and deepcopy protocols, installed from here: tensor.py sits below this layer
# and does not import it (serialization/__init__.py imports this module)
Tensor.__reduce_ex__ = _tensor_reduce_ex
Tensor.__deepcopy__ = deepcopy_tensor
