"""Progress output: a live one-line bar on a terminal, plain log lines otherwise (CI logs)."""
import time


class Progress:
    def __init__(self, out, quiet=False):
        self.out = out
        self.quiet = quiet
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.total = 0
        self.epoch = 0
        self.epochs = 0
        self._last_plain = 0.0

    def start_epoch(self, epoch, epochs, steps, done=0):
        self.epoch, self.epochs, self.total = epoch, epochs, steps
        if self.tty and not self.quiet:
            self._bar(done, None, None, None)

    def update(self, done, loss, rate, lr):
        if self.quiet:
            return
        if self.tty:
            self._bar(done, loss, rate, lr)
        else:
            now = time.monotonic()
            if done == self.total or now - self._last_plain >= 2.0:
                self._last_plain = now
                self.out.write(f"epoch {self.epoch}/{self.epochs} step {done}/{self.total} "
                               f"loss {loss:.4f} {rate:,.0f} samples/s lr {lr:.3g}\n")
                self.out.flush()

    def _bar(self, done, loss, rate, lr, width=28):
        frac = done / self.total if self.total else 1.0
        filled = int(width * frac)
        bar = "#" * filled + "-" * (width - filled)
        extra = "" if loss is None else f" loss {loss:.4f} {rate:,.0f} samples/s lr {lr:.3g}"
        self.out.write(f"\repoch {self.epoch}/{self.epochs} [{bar}] {done}/{self.total}{extra}")
        self.out.flush()

    def epoch_line(self, row):
        if self.quiet:
            return
        if self.tty:
            self.out.write("\n")
        parts = [f"epoch {row['epoch']}/{self.epochs}"]
        for k, v in row.items():
            if k in ("epoch", "step", "lr"):
                continue
            parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
        self.out.write(" | ".join(parts) + "\n")
        self.out.flush()

    def message(self, text):
        if not self.quiet:
            self.out.write(text + "\n")
            self.out.flush()
