"""Chains of small elementwise ops, launched together (elementwise.cl's ``chain`` kernel).

An elementwise op on a small tensor costs its launch: a few microseconds of driver time for a
few nanoseconds of work. So the contiguous form of such an op (``launch_binary``/``launch_unary``
below ``clnet/ops/elementwise.py``, at most ``chain_limit(dev)`` elements) is not launched at
once: it joins the device's pending chain (``dev.pending``), and the chain is launched as one
kernel when anything else needs the device: any other launch (``backend/launch.py``), a copy to
or from the host, a synchronisation (``Device.queue``/``synchronize``), the start or end of a
capture (``Device.capture``), or when it is full (48 ops, or 16 buffers of inputs and live
results). Nothing else changes: the
output tensors exist at once with their buffers (allocated as before), and the device runs the
same ops in the same order, with the same op functions, so the results are the same bits.

A chain holds ops over one element count and one compute type. An op joins only if each of its
buffers is new to the chain or used there at the same element offset: then element i of every
op depends only on element i of earlier ops, and one work-item per element running the ops in
order is exactly the sequence of launches. Otherwise the chain is launched first.
``dev.tuning["elementwise.chain"]`` is the element limit (0 turns chains off).
"""
import re
import threading
import weakref

import numpy as np
from pyopencl import cltypes

from .. import dtypes
from ..backend.launch import enqueue
from ..backend.programs import _source

MAX_OPS = 48                # ops per launch (three int16 code vectors)
MAX_SLOTS = 16              # buffers per launch: inputs and the results stored
SCALAR = 127                # operand code: the op's scalar
STORE_NONE = 31             # result code: not stored
# elements: above it an op's own kernel beats the chain's per-element interpretation (~10 ns per
# element and op on a CPU, against a few us per launch; a GPU runs the elements in parallel)
DEFAULT_LIMIT = {"CPU": 512}
GPU_LIMIT = 16384
_I32 = np.int32
_lock = threading.Lock()    # a background thread reading through Device.queue flushes too


def _opcodes(kind):
    """{op name: opcode} of elementwise.cl's CHAIN_BINARY / CHAIN_UNARY list."""
    src = _source("elementwise").replace("\\\n", " ")
    line = re.search(r"#define CHAIN_" + kind + r"\(X\)(.*)", src).group(1)
    return {name: int(code) for code, name in re.findall(r"X\((\d+), (\w+)\)", line)}


BINARY_CODES = _opcodes("BINARY")
UNARY_CODES = _opcodes("UNARY")
CHAIN_TYPES = (dtypes.float32, dtypes.float64)


def chain_limit(dev):
    """The most elements an op may have to join a chain on ``dev`` (0: chains are off)."""
    limit = dev.tuning.get("elementwise.chain")
    if limit is None:
        limit = dev.tuning["elementwise.chain"] = DEFAULT_LIMIT.get(dev.kind, GPU_LIMIT)
    return limit


class Chain:
    """The pending ops of one device over ``n`` elements of compute type ``ct``.

    Operands are resolved as ops arrive: a (buffer, offset) an earlier op of the chain wrote is
    that op's register; any other is a slot (buffer + offset) the kernel loads from. Where each
    result goes is settled at launch: to its tensor's slot if the tensor (its storage) is still
    alive and no later op writes the same place, else nowhere. So ``y = y + 1`` a thousand times
    stores only the last ``y``, and the 16 slots bound the chain's inputs and live results, not
    its length."""

    __slots__ = ("dev", "program", "ct", "n", "code", "sa", "sb", "last", "bufs", "offs",
                 "slot_of", "reg_of", "written", "reads", "held", "owner")

    def __init__(self, dev, program, ct, n):
        self.dev = dev
        self.program = program      # elementwise.cl's program for ct
        self.ct = ct
        self.n = n
        self.code = []              # per op: opcode | a << 8 | b << 15 | o << 22 (o set at launch)
        self.sa = []
        self.sb = []
        # the ops whose result is the last write of its place, while its tensor may be alive:
        # op index -> (weakref to the result's storage, buffer, offset)
        self.last = {}
        self.bufs = []              # slot -> buffer (input slots; results' slots come at launch)
        self.offs = []              # slot -> element offset
        self.slot_of = {}           # (id(buffer), offset) -> input slot
        self.reg_of = {}            # (id(buffer), offset) -> the last op writing it
        self.written = {}           # id(buffer) -> the offset the chain writes it at
        self.reads = {}             # id(buffer) -> the offset the chain reads it at (-1: several)
        self.held = []              # every buffer named, so that no id() is reused while queued
        self.owner = threading.get_ident()  # the thread that queued the ops

    def _operand(self, buf, off):
        """The operand code of (buf, off): an earlier op's register, or a slot (-1: none left)."""
        key = (id(buf), off)
        r = self.reg_of.get(key)
        if r is not None:
            return 16 + r
        s = self.slot_of.get(key)
        if s is None:
            s = len(self.bufs)
            if s == MAX_SLOTS:
                return -1
            self.slot_of[key] = s
            self.bufs.append(buf)
            self.offs.append(off)
            self.held.append(buf)
        return s

    def add(self, opcode, a, aoff, b, boff, pa, pb, o, ooff, ostorage):
        """Queue one op (``a``/``b`` None: the scalar ``pa``/``pb``; ``ostorage``: the result's
        storage, watched to know whether the result must be stored); False when it cannot join
        (nothing is changed then): a buffer written in the chain used at another offset, the
        result's buffer used at another offset, or no slot left for inputs and live results."""
        written, reads = self.written, self.reads
        ka = kb = None
        if a is not None:
            ka = id(a)
            w = written.get(ka)
            if w is not None and w != aoff:
                return False
        if b is not None:
            kb = id(b)
            w = written.get(kb)
            if w is not None and w != boff:
                return False
        ko = id(o)
        w = written.get(ko)
        if w is not None and w != ooff:
            return False
        r = reads.get(ko)
        if r is not None and r != ooff:
            return False
        if (ka == ko and aoff != ooff) or (kb == ko and boff != ooff):
            return False
        nslots = len(self.bufs)
        ia = SCALAR if a is None else self._operand(a, aoff)
        ib = SCALAR if b is None else self._operand(b, boff)
        if ia < 0 or ib < 0 or not self._room(1):
            self._undo(nslots)
            return False
        if ka is not None:
            reads[ka] = aoff if reads.get(ka, aoff) == aoff else -1
        if kb is not None:
            reads[kb] = boff if reads.get(kb, boff) == boff else -1
        written[ko] = ooff
        k = len(self.code)
        prev = self.reg_of.get((ko, ooff))
        if prev is not None:        # an earlier op's result at this place is overwritten
            self.last.pop(prev, None)
        self.reg_of[(ko, ooff)] = k
        self.code.append(opcode | ia << 8 | ib << 15 | STORE_NONE << 22)
        self.sa.append(pa)
        self.sb.append(pb)
        self.last[k] = (weakref.ref(ostorage), o, ooff)
        self.held.append(o)
        return True

    def _undo(self, nslots):
        for buf, off in zip(self.bufs[nslots:], self.offs[nslots:]):
            del self.slot_of[(id(buf), off)]
        del self.bufs[nslots:], self.offs[nslots:]

    def _room(self, new):
        """Whether the input slots plus the results that may still need one, plus ``new``
        more, fit in the slots. When the quick bound says no, the results whose tensors are
        gone are dropped from ``last`` (a dead result stays dead) and the bound taken again."""
        if len(self.bufs) + len(self.last) + new <= MAX_SLOTS:
            return True
        for k in [k for k, (ref, _, _) in self.last.items() if ref() is None]:
            del self.last[k]
        return len(self.bufs) + len(self.last) + new <= MAX_SLOTS

    def flush(self):
        """Launch the queued ops as one kernel (and forget them). Another thread's flush while
        the owner captures a step leaves them: they belong to the capture (which records only
        its own thread's launches), and a capture runs nothing the other thread could wait on."""
        with _lock:
            if self.dev.pending is not self:
                return              # launched already (by another thread's read, say)
            if self.dev._capture is not None and threading.get_ident() != self.owner:
                return
            self.dev.pending = None
            self._launch()

    def _launch(self):
        dev = self.dev
        nops = len(self.code)
        if not nops:
            return
        # where each result goes: the last write of a live tensor's place, to its slot
        code = self.code
        bufs, offs, slot_of = self.bufs, self.offs, self.slot_of
        for k, (ref, o, ooff) in self.last.items():
            if ref() is not None:
                key = (id(o), ooff)
                store = slot_of.get(key)
                if store is None:
                    store = slot_of[key] = len(bufs)
                    bufs.append(o)
                    offs.append(ooff)
                code[k] ^= (STORE_NONE ^ store) << 22
        pad = MAX_OPS - nops
        st = self.ct.np
        code = np.array(code + [0] * pad, _I32)
        sa = np.array(self.sa + [0] * pad, st)
        sb = np.array(self.sb + [0] * pad, st)
        offs = np.array(offs + [0] * (MAX_SLOTS - len(offs)), _I32)
        slots = bufs + [None] * (MAX_SLOTS - len(bufs))    # unused slots: NULL
        # the vector arguments (int16, T16) go as the bytes of 16-lane slices of numpy arrays
        kernel = self.program.kernel("chain", _ARG_TYPES[self.ct])
        local = min(_LOCAL, dev.max_work_group_size)
        enqueue(dev, kernel, (-(-self.n // local) * local,), (local,), _I32(self.n), _I32(nops),
                code[:16], code[16:32], code[32:], sa[:16], sa[16:32], sa[32:], sb[:16],
                sb[16:32], sb[32:], offs, *slots)


_ARG_TYPES = {ct: [_I32, _I32] + [cltypes.int16] * 3 + [t16] * 6 + [cltypes.int16]
              + [None] * MAX_SLOTS
              for ct, t16 in ((dtypes.float32, cltypes.float16), (dtypes.float64, cltypes.double16))}
_LOCAL = 64     # work-items per group: the ops of one element are a loop, groups stay small


def queue_op(dev, program, ct, n, opcode, a, aoff, b, boff, pa, pb, o, ooff, ostorage):
    """Add one op to ``dev``'s pending chain (``program``: elementwise.cl's for ``ct``;
    ``ostorage``: the result's storage), launching the chain first when the op cannot join it
    (another element count or type, a buffer at another offset, no room). False, with nothing
    queued, for an op that cannot be chained even alone (its output overlaps an operand at
    another offset): the caller launches it itself."""
    cap = dev._capture
    if cap is not None and cap.thread != threading.get_ident():
        return False    # another thread's op during a capture runs eagerly (clnet.graphs)
    with _lock:
        ch = dev.pending
        if ch is None or ch.n != n or ch.ct is not ct or not ch.add(
                opcode, a, aoff, b, boff, pa, pb, o, ooff, ostorage):
            if ch is not None:
                dev.pending = None
                ch._launch()
            ch = Chain(dev, program, ct, n)
            if not ch.add(opcode, a, aoff, b, boff, pa, pb, o, ooff, ostorage):
                return False
            dev.pending = ch
        if len(ch.code) == MAX_OPS:
            dev.pending = None
            ch._launch()
        return True
