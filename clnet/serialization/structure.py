"""The saved object as JSON structure, and back: every tensor becomes a reference to its header
entry; containers, numbers, strings, bools, None and dtypes keep their types and order. Decoding
checks every node, so a damaged or forged structure is an error, never a surprise object."""
import itertools
import math
from collections import OrderedDict

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .layout import MAX_DEPTH, NAMED_DTYPES


class Encoder:
    """Turns the object into JSON-able structure and collects its tensors (each object once)."""

    def __init__(self):
        self.tensors = OrderedDict()   # name -> Tensor
        self.by_id = {}                # id(tensor) -> name, so a shared tensor is stored once

    def _name(self, path):
        base = "/".join(path) or "tensor"
        name, n = base, 1
        while name in self.tensors or name == "__metadata__":
            name, n = f"{base}#{n}", n + 1
        return name

    def encode(self, obj, path=(), depth=0):
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, np.integer)):
            return int(obj)
        if isinstance(obj, (float, np.floating)):
            obj = float(obj)
            return obj if math.isfinite(obj) else {"float": repr(obj)}
        if isinstance(obj, Tensor):
            name = self.by_id.get(id(obj))
            if name is None:
                name = self._name(path)
                self.tensors[name] = obj
                self.by_id[id(obj)] = name
            ref = {"tensor": name}
            if type(obj) is not Tensor:    # an nn.Parameter comes back as one
                ref["parameter"] = bool(obj.requires_grad)
            return ref
        if isinstance(obj, (dict, list, tuple)) and depth > MAX_DEPTH:
            where = "/".join(path)
            raise ValueError(f"clnet.serialization.save_safetensors: the object is nested "
                             f"deeper than {MAX_DEPTH} levels at {where[:200]}; clnet.load "
                             f"reads at most {MAX_DEPTH}")
        if isinstance(obj, dict):
            kind = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {kind: [[self.encode_key(k, path, depth + 1),
                            self.encode(v, path + (str(k),), depth + 1)]
                           for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [self.encode(v, path + (str(i),), depth + 1)
                           for i, v in enumerate(obj)]}
        if isinstance(obj, dtypes.dtype):
            return {"dtype": obj.name}
        where = "/".join(path) or "<root>"
        raise TypeError(f"clnet.serialization.save_safetensors: cannot save an object of type "
                        f"{type(obj).__name__} at {where}; checkpoints hold tensors, numbers, "
                        "strings, bools, None and dicts/lists/tuples of them (clnet.save "
                        "pickles any object)")

    def encode_key(self, key, path, depth):
        if isinstance(key, Tensor) or isinstance(key, (dict, list)):
            raise TypeError(f"clnet.serialization.save_safetensors: dict key {key!r} at "
                            f"{'/'.join(path) or '<root>'} "
                            "is not a number, string, bool, None or tuple of them")
        return self.encode(key, path, depth)


def brief(value, depth=2):
    """A short repr of a JSON value from a file, at bounded cost however big or deep it is."""
    if isinstance(value, (list, dict)):
        if depth == 0:
            return "[...]" if isinstance(value, list) else "{...}"
        if isinstance(value, list):
            items = [brief(v, depth - 1) for v in value[:6]]
        else:
            items = [f"{brief(k)}: {brief(v, depth - 1)}"
                     for k, v in itertools.islice(value.items(), 6)]
        items += ["..."] if len(value) > 6 else []
        return ("[%s]" if isinstance(value, list) else "{%s}") % ", ".join(items)
    text = repr(value[:60] if isinstance(value, str) else value)
    return text if len(text) <= 60 else text[:60] + "..."


def decode(node, get, fail, depth=0):
    """The object a JSON structure ``node`` stands for, checking every node: ``get(name,
    parameter)`` gives the tensor an entry refers to, ``fail(problem)`` the error to raise."""
    if node is None or isinstance(node, (bool, str, int, float)):
        return node
    if isinstance(node, dict) and "tensor" in node:
        name, parameter = node["tensor"], node.get("parameter")
        if isinstance(name, str) and node.keys() <= {"tensor", "parameter"} and \
                (parameter is None or isinstance(parameter, bool)):
            return get(name, parameter)
    elif isinstance(node, dict) and len(node) == 1:
        (kind, items), = node.items()
        if kind in ("dict", "odict", "list", "tuple") and isinstance(items, list):
            if depth > MAX_DEPTH:
                raise fail(f"the structure is nested deeper than {MAX_DEPTH} levels, more "
                           "than clnet.save writes")
            if kind == "list":
                return [decode(v, get, fail, depth + 1) for v in items]
            if kind == "tuple":
                return tuple(decode(v, get, fail, depth + 1) for v in items)
            if all(isinstance(kv, list) and len(kv) == 2 for kv in items):
                out = OrderedDict() if kind == "odict" else {}
                for k, v in items:
                    key = decode_key(k, get, fail, depth + 1)
                    if key in out:
                        raise fail(f"the structure lists dict key {brief(key)} twice")
                    out[key] = decode(v, get, fail, depth + 1)
                return out
        elif kind == "float" and items in ("inf", "-inf", "nan"):
            return float(items)
        elif kind == "dtype" and isinstance(items, str) and items in NAMED_DTYPES:
            return NAMED_DTYPES[items]
    raise fail(f"unrecognised entry in the checkpoint structure: {brief(node)}")


def decode_key(node, get, fail, depth):
    problem = f"{brief(node)} cannot be a dict key (clnet.save writes none like it)"
    if isinstance(node, dict) and ("tensor" in node or node.keys() & {"dict", "odict", "list"}):
        raise fail(problem)
    key = decode(node, get, fail, depth)
    try:
        hash(key)
    except TypeError:
        raise fail(problem) from None
    return key
