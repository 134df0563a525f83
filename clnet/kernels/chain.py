"""Chains of small elementwise ops, launched together (elementwise.cl's ``chain`` kernel).

An elementwise op on a small tensor costs its launch: a few microseconds of driver time for a
few nanoseconds of work. So the contiguous form of such an op (``launch_binary``/``launch_unary``
below ``clnet/ops/elementwise.py``, at most ``chain_limit(dev)`` elements) is not launched at
once: it joins the device's pending chain (``dev.pending``), and the chain is launched as one
kernel when anything else needs the device: any other launch (``backend/launch.py``), a copy to
or from the host, a synchronisation (``Device.queue``/``synchronize``), the start or end of a
capture (``Device.capture``), or when it is full (16 ops, 16 buffers). Nothing else changes: the
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

import numpy as np
from pyopencl import cltypes

from .. import dtypes
from ..backend.launch import enqueue
from ..backend.programs import _source

MAX_OPS = 16
MAX_SLOTS = 16
SCALAR = 31                 # operand code: the op's scalar instead of a slot
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
    """The pending ops of one device over ``n`` elements of compute type ``ct``."""

    __slots__ = ("dev", "program", "ct", "n", "code", "sa", "sb", "bufs", "offs", "slot_of",
                 "written", "reads")

    def __init__(self, dev, program, ct, n):
        self.dev = dev
        self.program = program      # elementwise.cl's program for ct
        self.ct = ct
        self.n = n
        self.code = []
        self.sa = []
        self.sb = []
        self.bufs = []          # slot -> buffer (held, so an id is never reused while queued)
        self.offs = []          # slot -> element offset
        self.slot_of = {}       # (id(buffer), element offset) -> slot
        self.written = {}       # id(buffer) -> the element offset the chain writes it at
        self.reads = {}         # id(buffer) -> the offset the chain reads it at (-1: several)

    def add(self, opcode, a, aoff, b, boff, pa, pb, o, ooff):
        """Queue one op (``a``/``b`` None: the scalar ``pa``/``pb``); False when it cannot join
        (nothing is changed then): a buffer written in the chain used at another offset, the
        output's buffer used at another offset, or no slot left. (Written out without helper
        calls: this is the per-op host cost.)"""
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
        slot_of, bufs, offs = self.slot_of, self.bufs, self.offs
        nslots = len(bufs)
        ia = ib = SCALAR
        if ka is not None:
            ia = slot_of.get((ka, aoff))
            if ia is None:
                ia = slot_of[(ka, aoff)] = len(bufs)
                bufs.append(a)
                offs.append(aoff)
        if kb is not None:
            ib = slot_of.get((kb, boff))
            if ib is None:
                ib = slot_of[(kb, boff)] = len(bufs)
                bufs.append(b)
                offs.append(boff)
        io = slot_of.get((ko, ooff))
        if io is None:
            io = slot_of[(ko, ooff)] = len(bufs)
            bufs.append(o)
            offs.append(ooff)
        if len(bufs) > MAX_SLOTS:
            for buf, off in zip(bufs[nslots:], offs[nslots:]):    # undo this op's slots
                del slot_of[(id(buf), off)]
            del bufs[nslots:], offs[nslots:]
            return False
        if ka is not None:
            reads[ka] = aoff if reads.get(ka, aoff) == aoff else -1
        if kb is not None:
            reads[kb] = boff if reads.get(kb, boff) == boff else -1
        written[ko] = ooff
        self.code.append(opcode | ia << 8 | ib << 13 | io << 18)
        self.sa.append(pa)
        self.sb.append(pb)
        return True

    def flush(self):
        """Launch the queued ops as one kernel (and forget them)."""
        with _lock:
            if self.dev.pending is self:    # (else launched already, by another thread's read)
                self.dev.pending = None
                self._launch()

    def _launch(self):
        dev = self.dev
        nops = len(self.code)
        if not nops:
            return
        pad = MAX_OPS - nops
        st = self.ct.np
        code = np.array(self.code + [0] * pad, _I32)
        sa = np.array(self.sa + [0] * pad, st)
        sb = np.array(self.sb + [0] * pad, st)
        offs = np.array(self.offs + [0] * (MAX_SLOTS - len(self.offs)), _I32)
        bufs = self.bufs + [None] * (MAX_SLOTS - len(self.bufs))    # unused slots: NULL
        # the vector arguments (int16, T16) go as the bytes of numpy arrays of their 16 lanes
        kernel = self.program.kernel("chain", _ARG_TYPES[self.ct])
        local = min(_LOCAL, dev.max_work_group_size)
        enqueue(dev, kernel, (-(-self.n // local) * local,), (local,), _I32(self.n), _I32(nops),
                code, sa, sb, offs, *bufs)


_ARG_TYPES = {ct: [_I32, _I32, cltypes.int16, t16, t16, cltypes.int16] + [None] * MAX_SLOTS
              for ct, t16 in ((dtypes.float32, cltypes.float16), (dtypes.float64, cltypes.double16))}
_LOCAL = 64     # work-items per group: the ops of one element are a loop, groups stay small


def queue_op(dev, program, ct, n, opcode, a, aoff, b, boff, pa, pb, o, ooff):
    """Add one op to ``dev``'s pending chain (``program``: elementwise.cl's for ``ct``),
    launching the chain first when the op cannot join it (another element count or type, a
    buffer at another offset, no room). False, with nothing queued, for an op that cannot be
    chained even alone (its output overlaps an operand at another offset): the caller
    launches it itself."""
    with _lock:
        ch = dev.pending
        if ch is None or ch.n != n or ch.ct is not ct or not ch.add(
                opcode, a, aoff, b, boff, pa, pb, o, ooff):
            if ch is not None:
                dev.pending = None
                ch._launch()
            ch = Chain(dev, program, ct, n)
            if not ch.add(opcode, a, aoff, b, boff, pa, pb, o, ooff):
                return False
            dev.pending = ch
        if len(ch.code) == MAX_OPS:
            dev.pending = None
            ch._launch()
        return True
