"""The user's additions to the ``weights_only`` allow-list, with ``torch.serialization``'s API:
``add_safe_globals``, ``get_safe_globals``, ``clear_safe_globals`` and the ``safe_globals``
context manager. An entry is a class or function, named in a pickle as
``{__module__}.{__qualname__}``, or a ``(callable, "full.path")`` pair for a pickle that names
it by another path."""

# never allowed, even when a user adds a global from them (PyTorch's rule)
BLOCKED_MODULES = ("sys", "os", "posix", "nt")

_marked = set()


def add_safe_globals(safe_globals):
    """Mark the given globals as safe for a ``weights_only`` load: ``clnet.load`` may then
    call these functions and create (and set the state of) instances of these classes while
    unpickling. Each item is a function/class or a ``(function/class, "module.name")`` tuple."""
    global _marked
    _marked = _marked | set(safe_globals)


def get_safe_globals():
    """The list of user-added globals that are safe for a ``weights_only`` load."""
    return list(_marked)


def clear_safe_globals():
    """Clear the list of globals that are safe for a ``weights_only`` load."""
    global _marked
    _marked = set()


def _remove_safe_globals(safe_globals):
    global _marked
    _marked = _marked - set(safe_globals)


class safe_globals:
    """Context manager that adds ``safe_globals`` to the ``weights_only`` allow-list inside its
    block (and removes them after it)::

        with clnet.serialization.safe_globals([MyConfig]):
            clnet.load("ckpt.pt")
    """

    def __init__(self, safe_globals):
        self.safe_globals = safe_globals

    def __enter__(self):
        add_safe_globals(self.safe_globals)

    def __exit__(self, exc_type, exc_value, tb):
        _remove_safe_globals(self.safe_globals)


def user_allowed():
    """``{"module.name": object}`` of the user's additions, read at each load (so additions
    made between two loads count, as in PyTorch)."""
    out = {}
    for entry in _marked:
        if isinstance(entry, tuple):
            if len(entry) != 2:
                raise ValueError("Expected tuple of length 2 (global, str of callable full "
                                 f"path), but got tuple of length: {len(entry)}")
            if type(entry[1]) is not str:
                raise TypeError("Expected second item in tuple to be str of callable full "
                                f"path, but got: {type(entry[1])}")
            out[entry[1]] = entry[0]
        else:
            out[f"{entry.__module__}.{entry.__qualname__}"] = entry
    return out
