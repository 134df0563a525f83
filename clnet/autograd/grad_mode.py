"""``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``: context managers that
also work as decorators (with or without parentheses), as in PyTorch."""
from __future__ import annotations

from typing import Any, Callable, Literal, Optional
import functools
import inspect

from .. import graph


class _GradModeContext:
    _target: Optional[bool] = None

    def __call__(self, fn: Optional[Callable[..., Any]] = None) -> Any:
        if fn is None:
            return self
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                gen = fn(*args, **kwargs)
                with self.__class__._clone(self):
                    response = gen.send(None)
                while True:
                    try:
                        with self.__class__._clone(self):
                            request = yield response
                            response = gen.send(request)
                    except StopIteration as e:
                        return e.value
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__._clone(self):
                return fn(*args, **kwargs)
        return wrapper

    @staticmethod
    def _clone(ctx):
        return ctx.__class__(*ctx._args())

    def _args(self):
        return ()

    def __enter__(self) -> _GradModeContext:
        self._prev = graph.set_grad_enabled_flag(self._target)
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        graph.set_grad_enabled_flag(self._prev)
        return False


class no_grad(_GradModeContext):
    """Ops inside record no graph (use for evaluation and hand-written parameter updates)."""

    _target = False

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        if callable(fn):            # used as a bare decorator: @no_grad
            return self(fn)
        return self

    def __init__(self, fn: Optional[Callable[..., Any]] = None) -> None:
        pass


class enable_grad(no_grad):
    """Re-enable recording inside a ``no_grad`` block."""

    _target = True


class inference_mode(_GradModeContext):
    def __init__(self, mode: bool = True) -> None:
        self._mode = mode
        self._target = not mode

    def _args(self):
        return (self._mode,)


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)``: sets the mode at once (like PyTorch), restores it on exit."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._target = self._mode
        self._prev = graph.set_grad_enabled_flag(self._mode)

    def _args(self):
        return (self._mode,)

    def __enter__(self) -> set_grad_enabled:
        graph.set_grad_enabled_flag(self._mode)
        return self

    def __call__(self, fn: Optional[Callable[..., Any]] = None) -> Any:
        graph.set_grad_enabled_flag(self._prev)   # as a decorator it must not change the mode now
        return super().__call__(fn)


def is_grad_enabled() -> bool:
    return graph.mode.grad_enabled


def is_inference_mode_enabled() -> bool:
    return False


class detect_anomaly:
    """Record where each op was created and fail on the first backward that makes NaN/Inf,
    naming the op (checks read values back from the device: slow, for debugging)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan

    def __enter__(self) -> detect_anomaly:
        self._prev = (graph.mode.anomaly, graph.mode.anomaly_check_nan)
        graph.mode.anomaly = True
        graph.mode.anomaly_check_nan = self.check_nan
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        graph.mode.anomaly, graph.mode.anomaly_check_nan = self._prev
        return False

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


def set_detect_anomaly(mode: bool, check_nan: bool = True) -> None:
    graph.mode.anomaly = bool(mode)
    graph.mode.anomaly_check_nan = check_nan


def is_anomaly_enabled() -> bool:
    return graph.mode.anomaly
