"""The Parameter class, as the serialization layer sees it: registered from above.

``nn.Parameter`` is defined in clnet/nn/parameter.py, a layer above this package, yet loading a
checkpoint or a pickle must build Parameters. nn/parameter.py registers the class here when it
is imported (``import clnet`` imports nn, so it is registered before anything can be loaded),
and the loaders ask for it with ``parameter_class()``.
"""
_registered = None


def register_parameter_class(cls):
    """Called once by clnet/nn/parameter.py with ``Parameter``."""
    global _registered
    _registered = cls


def parameter_class():
    """``nn.Parameter``; a clear error if clnet.nn was never imported (it always is via clnet)."""
    if _registered is None:
        raise RuntimeError("clnet.serialization needs clnet.nn.parameter.Parameter, which is "
                           "registered when clnet.nn is imported: import clnet first")
    return _registered
