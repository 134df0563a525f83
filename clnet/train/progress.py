"""Progress output of ``clnet train``: tqdm bars on a terminal, plain log lines otherwise.

On a terminal each epoch has a bar (steps, steps/s, elapsed, ETA, the last loss read and the
learning rate), validation and test have their own short-lived bars, and the first step of a
process says that OpenCL kernels are being compiled when it takes a while (cold runs spend
seconds there). When the output is not a terminal (CI logs, a pipe) the same facts come as
plain lines, at most one per ``interval`` seconds plus one at the end of each epoch, never a
carriage return. ``quiet`` prints nothing.

Why tqdm rather than rich: one small pure-Python package without dependencies (rich brings
pygments and markdown-it), it writes to any file object (the Trainer's ``out``), and its
``update`` only looks at the clock every few calls, so advancing the bar every step costs
next to nothing.

The bar advances every step from host-side counts (steps, time); the loss it shows is the one
the Trainer last read from the device (every ``log_every`` steps), so the training path never
waits for the device to draw the bar.
"""
import os
import threading
import time

from tqdm import tqdm

COMPILE_NOTICE = "compiling OpenCL kernels for the first step (seconds on a cold cache; " \
                 "later runs reuse pyopencl's cache)"


def _bar_size(out):
    """tqdm's size arguments: follow the terminal, or 80x24 where it reports no size (a
    pseudo-terminal without one, where tqdm would hide every bar beyond row 0 of 0)."""
    try:
        size = os.get_terminal_size(out.fileno())
        cols, rows = size.columns, size.lines
    except (AttributeError, OSError, ValueError):     # no fileno (StringIO), not a terminal
        cols = rows = 0
    kw = {"dynamic_ncols": True} if cols > 0 else {"ncols": 80}
    if rows <= 0:
        kw["nrows"] = 24
    return kw


def _interval(seconds):
    return tqdm.format_interval(max(seconds, 0.0))


def _duration(seconds):
    """An epoch's time: tenths of a second under a minute (short epochs are common), else
    tqdm's [h:]mm:ss."""
    return f"{seconds:.1f} s" if seconds < 60 else _interval(seconds)


def _rate(n, seconds):
    if n <= 0 or seconds <= 0:
        return "? steps/s"
    r = n / seconds
    return f"{r:,.1f} steps/s" if r >= 1 else f"{1 / r:,.2f} s/step"


class Progress:
    """What the training loop shows. ``out``: a text stream; ``tty``: draw bars (default:
    ``out.isatty()``); ``interval``: seconds between plain lines; ``compile_notice_after``:
    seconds the first step of the process may take before the compile notice shows;
    ``programs``: a callable giving the number of kernel programs built so far (the notice's
    follow-up names how many the first step built)."""

    _first_step_seen = False     # per process: kernels are compiled by the first step only

    def __init__(self, out, quiet=False, tty=None, interval=2.0, compile_notice_after=1.0,
                 programs=None):
        self.out = out
        self.quiet = quiet
        self.tty = (hasattr(out, "isatty") and out.isatty()) if tty is None else tty
        self.interval = interval
        self.compile_notice_after = compile_notice_after
        self.programs = programs
        self.total = self.epoch = self.epochs = 0
        self.done = self.start_done = 0
        self.loss = self.lr = None
        self._bar = None
        self._in_epoch = False    # between start_epoch and epoch_line (validation's place)
        self._t0 = self._last_plain = 0.0
        self._lock = threading.Lock()
        self._timer = None
        self._notice_shown = False
        self._first_t0 = None
        self._programs0 = 0

    # ------------------------------------------------------------------ training epochs
    def start_epoch(self, epoch, epochs, steps, done=0):
        """Epoch ``epoch`` of ``epochs`` (1-based), ``steps`` batches, ``done`` of them already
        taken (a resumed epoch)."""
        self.close()
        self.epoch, self.epochs, self.total = epoch, epochs, steps
        self.done = self.start_done = done
        self._in_epoch = True
        self._t0 = self._last_plain = time.perf_counter()
        if self.quiet:
            return
        if self.tty:
            self._bar = tqdm(total=steps, initial=done, desc=f"epoch {epoch}/{epochs}",
                             unit="step", file=self.out, leave=False, mininterval=0.1,
                             smoothing=0.1, **_bar_size(self.out))
            self._set_postfix()
        if not Progress._first_step_seen:
            self._arm_compile_notice()

    def step(self, done):
        """Called after every optimizer step with the steps taken this epoch (host-side)."""
        if not Progress._first_step_seen:
            self._first_step_done()
        if self.quiet:
            return
        n = done - self.done
        self.done = done
        if self._bar is not None:
            if n > 0:
                self._bar.update(n)
        else:
            now = time.perf_counter()
            if done >= self.total or now - self._last_plain >= self.interval:
                self._last_plain = now
                self._write_line(self._plain_line(now))

    def set_loss(self, loss, lr=None):
        """The loss last read from the device (every ``log_every`` steps) and the current lr."""
        self.loss, self.lr = loss, lr
        if self._bar is not None:
            self._set_postfix()

    def update(self, done, loss, rate=None, lr=None):
        """A read of the loss together with the step count (``rate`` is computed here)."""
        self.set_loss(loss, lr)
        self.step(done)

    def elapsed(self):
        return time.perf_counter() - self._t0

    def _set_postfix(self):
        parts = []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        if self.lr is not None:
            parts.append(f"lr {self.lr:.3g}")
        self._bar.set_postfix_str(" ".join(parts), refresh=False)

    def _plain_line(self, now):
        elapsed = now - self._t0
        n = self.done - self.start_done
        left = (self.total - self.done) * elapsed / n if n > 0 else None
        text = (f"epoch {self.epoch}/{self.epochs} step {self.done}/{self.total} "
                f"[{_interval(elapsed)}<{'?' if left is None else _interval(left)}, "
                f"{_rate(n, elapsed)}]")
        if self.loss is not None:
            text += f" loss {self.loss:.4f}"
        if self.lr is not None:
            text += f" lr {self.lr:.3g}"
        return text

    def epoch_line(self, row):
        """The epoch's summary line from its metrics row (epoch, step, time_s, lr, metrics)."""
        self.close()
        self._in_epoch = False
        if self.quiet:
            return
        parts = [f"epoch {row['epoch']}/{self.epochs}"]
        if "time_s" in row:
            steps = self.done - self.start_done
            parts.append(f"{_duration(row['time_s'])}"
                         + (f", {_rate(steps, row['time_s'])}" if steps else ""))
        for k, v in row.items():
            if k in ("epoch", "step", "lr", "time_s"):
                continue
            parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
        self._write_line(" | ".join(parts))

    # ------------------------------------------------------------------ evaluation
    def track(self, iterable, split, total=None):
        """Yield from ``iterable`` (the batches of ``split``) with a bar on a terminal, and
        plain lines when it lasts longer than ``interval`` seconds otherwise."""
        if self.quiet:
            yield from iterable
            return
        if total is None:
            total = len(iterable) if hasattr(iterable, "__len__") else None
        label = f"epoch {self.epoch}/{self.epochs} {split}" if self._in_epoch else split
        if self.tty:
            bar = tqdm(total=total, desc=label, unit="batch", file=self.out, leave=False,
                       mininterval=0.1, **_bar_size(self.out))
            try:
                for item in iterable:
                    yield item
                    bar.update(1)
            finally:
                bar.close()
            return
        t0 = last = time.perf_counter()
        for i, item in enumerate(iterable, 1):
            yield item
            now = time.perf_counter()
            if now - last >= self.interval:
                last = now
                left = "?" if total is None else _interval((total - i) * (now - t0) / i)
                self._write_line(f"{label} batch {i}/{total if total is not None else '?'} "
                                 f"[{_interval(now - t0)}<{left}]")

    # ------------------------------------------------------------------ kernels compiling
    def _arm_compile_notice(self):
        self._first_t0 = time.perf_counter()
        self._programs0 = self._count_programs()
        if self.compile_notice_after is None:
            return
        self._timer = threading.Timer(self.compile_notice_after, self._show_compile_notice)
        self._timer.daemon = True
        self._timer.start()

    def _show_compile_notice(self):
        with self._lock:
            if Progress._first_step_seen or self._notice_shown:
                return
            self._notice_shown = True
            if self._bar is not None:
                self._bar.set_description_str(f"epoch {self.epoch}/{self.epochs} "
                                              "(compiling OpenCL kernels)", refresh=True)
        self._write_line(COMPILE_NOTICE)

    def _first_step_done(self):
        with self._lock:
            Progress._first_step_seen = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            shown = self._notice_shown
        if shown:
            built = self._count_programs() - self._programs0
            took = time.perf_counter() - (self._first_t0 or self._t0)
            what = f"{built} kernel programs" if self.programs is not None else "kernels"
            if self._bar is not None:
                self._bar.set_description_str(f"epoch {self.epoch}/{self.epochs}",
                                              refresh=False)
            self._write_line(f"first step took {took:.1f} s ({what} compiled)")

    def _count_programs(self):
        if self.programs is None:
            return 0
        try:
            return int(self.programs())
        except Exception:  # noqa: BLE001 - a count for a message must not stop training
            return 0

    # ------------------------------------------------------------------ lines
    def _write_line(self, text):
        if self.quiet:
            return
        if self._bar is not None:
            # above the bar, which tqdm redraws below the line
            self._bar.write(text, file=self.out)
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def message(self, text):
        """A line of its own (after closing the bar, so it starts on a fresh line)."""
        self.close()
        if not self.quiet:
            self.out.write(text.lstrip("\n") + "\n")
            self.out.flush()

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
