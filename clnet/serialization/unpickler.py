"""The unpicklers of ``clnet.load``.

``WeightsUnpickler`` (``weights_only=True``, the default) is Python's own unpickler
(``pickle._Unpickler``, the pure-Python one, so each opcode can be checked) with an allow-list:
``find_class`` resolves only the globals of ``torch_names.allowed_globals()`` (what PyTorch's
``weights_only`` unpickler allows) and those the user added with ``add_safe_globals`` /
``safe_globals``; any other global, and every global of ``os``/``sys``/``posix``/``nt``, raises
``pickle.UnpicklingError`` naming it and how to allow it. As in PyTorch, only allowed functions
and classes may be called (REDUCE) or instantiated (NEWOBJ); state may be set (BUILD) only on an
OrderedDict or an instance of a user-allowed class; APPEND goes to lists, SETITEM to dicts,
ADDITEMS to sets; persistent ids must be storage records; INST/OBJ, extension codes and
out-of-band buffers are refused. So a file can never run code it names.

``FullUnpickler`` (``weights_only=False``) is the standard unpickler with the same torch names
mapped to clnet's: it imports and calls whatever the file names, so it may run any code. Load
such files only from a source you trust, as with ``torch.load(weights_only=False)``.
"""
import pickle
from collections import Counter, OrderedDict

from ..tensor import Tensor
from . import torch_names
from .parameter_type import parameter_class
from .safe_globals import BLOCKED_MODULES, user_allowed
from .torch_names import FileFault

_P = pickle  # the opcodes


def _display(full):
    """A global as the allow-list is spelt in PyTorch's message (builtins without prefix)."""
    return full[len("builtins."):] if full.startswith("builtins.") else full


def unsupported_global(full):
    name = _display(full)
    return pickle.UnpicklingError(
        f"Unsupported global: GLOBAL {name} was not an allowed global by default. Please use "
        f"`clnet.serialization.add_safe_globals([{name}])` or the "
        f"`clnet.serialization.safe_globals([{name}])` context manager to allowlist this "
        "global if you trust this class/function.")


def _refuse(what):
    def load_refused(self):
        raise pickle.UnpicklingError(f"the {what} opcode is not allowed in a weights_only load")
    return load_refused


class WeightsUnpickler(pickle._Unpickler):
    """The allow-list unpickler (see the module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, persistent_load, *, encoding="utf-8", errors="strict"):
        super().__init__(file, encoding=encoding, errors=errors)
        self._persistent = persistent_load
        self._allowed = dict(torch_names.allowed_globals())
        self._user = user_allowed()
        self._user_values = list(self._user.values())
        self._callables = [v for v in self._allowed.values() if v is not _tensor_class()] + \
            self._user_values

    # ------------------------------------------------------------------ globals
    def find_class(self, module, name):
        if self.proto < 3 and self.fix_imports:     # Python 2 names, as pickle maps them
            import _compat_pickle  # only for protocol 0-2 pickles read with fix_imports
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        if module.split(".")[0] in BLOCKED_MODULES:
            raise pickle.UnpicklingError(f"Trying to load unsupported GLOBAL {full} whose "
                                         f"module {module} is blocked.")
        if full in self._allowed:
            return _resolved(self._allowed[full])
        if full in self._user:
            return self._user[full]
        raise unsupported_global(full)

    def persistent_load(self, pid):
        if type(pid) is not tuple or not pid or pid[0] not in ("storage", b"storage"):
            raise pickle.UnpicklingError(f"Only persistent_load of storage is allowed, but got "
                                         f"{pid!r:.80}")
        return self._persistent(pid)

    def _is(self, obj, candidates):
        return any(obj is c for c in candidates)

    # ------------------------------------------------------------------ checked opcodes
    def load_reduce(self):
        args = self.stack.pop()
        func = self.stack[-1]
        if not self._is(func, self._callables):
            raise pickle.UnpicklingError(f"Trying to call reduce for unrecognized function "
                                         f"{func!r:.100}")
        if type(args) is not tuple:
            raise pickle.UnpicklingError(f"REDUCE arguments must be a tuple, got "
                                         f"{type(args).__name__}")
        self.stack[-1] = func(*args)
    dispatch[_P.REDUCE[0]] = load_reduce

    def _new(self, cls, args, kwargs):
        Parameter = parameter_class()
        if type(args) is not tuple or type(kwargs) is not dict:
            raise pickle.UnpicklingError("NEWOBJ arguments must be a tuple and a dict")
        if cls is Parameter:
            return Parameter(*args, **kwargs)
        if isinstance(cls, type) and self._is(cls, self._callables):
            return cls.__new__(cls, *args, **kwargs)
        raise pickle.UnpicklingError("Can only create new object for nn.Parameter or classes "
                                     f"allowlisted via `add_safe_globals` but got {cls!r:.100}")

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, {}))
    dispatch[_P.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))
    dispatch[_P.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is OrderedDict:
            if not isinstance(state, dict):
                raise pickle.UnpicklingError("BUILD of an OrderedDict needs a dict state")
            inst.__dict__.update(state)
            return
        if not self._is(type(inst), self._user_values):
            raise pickle.UnpicklingError("Can only build Tensor, Parameter, OrderedDict or "
                                         "types allowlisted via `add_safe_globals`, but got "
                                         f"{type(inst)}")
        setstate = getattr(inst, "__setstate__", None)
        if setstate is not None:
            setstate(state)
            return
        slotstate = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slotstate = state
        if state:
            inst.__dict__.update(state)
        if slotstate:
            for k, v in slotstate.items():
                setattr(inst, k, v)
    dispatch[_P.BUILD[0]] = load_build

    def load_append(self):
        value = self.stack.pop()
        if type(self.stack[-1]) is not list:
            raise pickle.UnpicklingError(f"Can only append to lists, but got "
                                         f"{type(self.stack[-1])}")
        self.stack[-1].append(value)
    dispatch[_P.APPEND[0]] = load_append

    def load_appends(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not list:
            raise pickle.UnpicklingError(f"Can only extend lists, but got "
                                         f"{type(self.stack[-1])}")
        self.stack[-1].extend(items)
    dispatch[_P.APPENDS[0]] = load_appends

    def _mapping(self, opcode):
        if type(self.stack[-1]) not in (dict, OrderedDict, Counter):
            raise pickle.UnpicklingError(f"Can only {opcode} for dict, collections.OrderedDict, "
                                         f"collections.Counter, but got {type(self.stack[-1])}")
        return self.stack[-1]

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._mapping("SETITEM")[key] = value
    dispatch[_P.SETITEM[0]] = load_setitem

    def load_setitems(self):
        items = self.pop_mark()
        target = self._mapping("SETITEMS")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]
    dispatch[_P.SETITEMS[0]] = load_setitems

    def load_additems(self):
        items = self.pop_mark()
        if type(self.stack[-1]) is not set:
            raise pickle.UnpicklingError(f"Can only add items to sets, but got "
                                         f"{type(self.stack[-1])}")
        self.stack[-1].update(items)
    dispatch[_P.ADDITEMS[0]] = load_additems

    for _op, _what in ((_P.INST, "INST"), (_P.OBJ, "OBJ"), (_P.EXT1, "EXT1"),
                       (_P.EXT2, "EXT2"), (_P.EXT4, "EXT4"), (_P.PERSID, "PERSID"),
                       (_P.NEXT_BUFFER, "NEXT_BUFFER"), (_P.READONLY_BUFFER, "READONLY_BUFFER")):
        dispatch[_op[0]] = _refuse(_what)
    del _op, _what


def _resolved(value):
    if isinstance(value, torch_names.Refused):
        raise FileFault(value.problem)
    return value


def _tensor_class():
    return Tensor


def full_unpickler(base):
    """A subclass of ``base`` (``pickle.Unpickler`` or a ``pickle_module``'s) that maps the
    torch names of a file to clnet's and imports any other name (``weights_only=False``)."""

    class FullUnpickler(base):
        def __init__(self, file, persistent_load, **kwargs):
            super().__init__(file, **kwargs)
            self._persistent = persistent_load

        def find_class(self, module, name):
            full = f"{module}.{name}"
            table = torch_names.allowed_globals()
            if full in table:
                return _resolved(table[full])
            return super().find_class(module, name)

        def persistent_load(self, pid):
            if type(pid) is not tuple or not pid or pid[0] not in ("storage", b"storage"):
                raise FileFault(f"unknown persistent id {pid!r:.80} (a storage record was "
                                "expected)")
            return self._persistent(pid)

    return FullUnpickler
