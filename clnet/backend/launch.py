"""The one door every kernel launch passes through.

``enqueue(dev, kernel, gsize, lsize, *args)`` enqueues ``kernel`` on ``dev``'s in-order queue, or,
while a step is being captured on ``dev`` (``clnet.graphs``), hands it to the capture instead:
the capture keeps the kernel and its arguments and enqueues them again at every replay without
running the Python that produced them. It also counts launches per device (``dev.launches``,
what ``clnet bench train`` reports per step).

Two more entry points exist for work whose arguments depend on host state that changes from run
to run (an optimizer's step count, a generator's offset), so a replay must recompute them rather
than reuse the values seen at capture:

- ``enqueue_dynamic(dev, kernel, gsize, lsize, make_args)``: ``make_args()`` returns the argument
  tuple; eager runs call it once now, a capture records it and calls it at every replay.
- ``host_step(dev, fn)``: host-side bookkeeping (``step += 1``) that belongs to the step: run now,
  or recorded and run at every replay, in order with the launches around it.

Host reads (``.item()``, ``.numpy()``, a read-back that sizes an output) call
``refuse_in_capture(dev, what)`` first: a captured step cannot depend on device values, because
a replay would not run the Python that looked at them.
"""


def enqueue(dev, kernel, gsize, lsize, *args):
    """Enqueue ``kernel`` over ``gsize`` work-items in groups of ``lsize`` (None: the driver's
    choice) with ``args`` (numpy scalars or buffers, in the kernel's parameter order)."""
    pending = dev.pending   # read once: another thread may launch it meanwhile
    if pending is not None:     # small ops queued before this one run first
        pending.flush()
    dev.launches += 1
    cap = dev._capture
    if cap is None:
        kernel(dev._queue or dev.queue, gsize, lsize, *args)
    else:
        cap.record(kernel, gsize, lsize, args)


def enqueue_dynamic(dev, kernel, gsize, lsize, make_args):
    """``enqueue`` with arguments computed by ``make_args()`` at each run (see the module note)."""
    pending = dev.pending   # read once: another thread may launch it meanwhile
    if pending is not None:
        pending.flush()
    dev.launches += 1
    cap = dev._capture
    if cap is None:
        kernel(dev._queue or dev.queue, gsize, lsize, *make_args())
    else:
        cap.record_dynamic(kernel, gsize, lsize, make_args)


def host_step(dev, fn):
    """Run ``fn()`` now, or, while capturing on ``dev``, at every replay (see the module note)."""
    cap = dev._capture
    if cap is None:
        fn()
    else:
        cap.record_host(fn)


def refuse_in_capture(dev, what):
    """Raise the capture's error naming ``what`` when ``dev`` is capturing a step."""
    cap = dev.capture
    if cap is not None:
        err = cap.refusal(what)     # None: another thread's read, which its capture mode allows
        if err is not None:
            raise err
