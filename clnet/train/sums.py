"""The loss and correct-prediction sums of a training epoch: kept on the device while training,
stored as numbers in a checkpoint, and added up over the ranks of an MPI job."""


class EpochSums:
    """Loss and correct-prediction sums of an epoch, kept on the device while training; a
    checkpoint stores them as numbers so a resumed epoch reports the same totals."""

    def __init__(self, loss=0.0, n=0, correct=None):
        self.loss, self.n = loss, n          # loss: a device tensor or a float
        self.correct = dict(correct or {})
        self._n_at_start = n

    def add(self, loss, n, counts):
        self.loss = self.loss + loss * n
        self.n += n
        for k, v in counts.items():
            self.correct[k] = self.correct[k] + v if k in self.correct else v

    def seen_this_run(self):
        return self.n - self._n_at_start

    def _num(self, v):
        return float(v.item()) if hasattr(v, "item") else float(v)

    def result(self):
        if not self.n:
            return {"loss": float("nan")}
        out = {"loss": self._num(self.loss) / self.n}
        out.update({k: self._num(v) / self.n for k, v in self.correct.items()})
        return out

    def to_host(self):
        return {"loss": self._num(self.loss), "n": self.n,
                "correct": {k: self._num(v) for k, v in self.correct.items()}}

    @classmethod
    def total(cls, parts):
        """The sums of several ranks' ``to_host()`` dicts."""
        loss = sum(p["loss"] for p in parts)
        n = sum(p["n"] for p in parts)
        correct = {}
        for p in parts:
            for k, v in p["correct"].items():
                correct[k] = correct.get(k, 0.0) + v
        return cls(loss, n, correct)

    @classmethod
    def from_host(cls, d):
        if not d:
            return cls()
        return cls(float(d["loss"]), int(d["n"]), {k: float(v) for k, v in d["correct"].items()})
