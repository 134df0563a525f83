"""A griffe extension for the API pages (mkdocs.yml: mkdocstrings' ``extensions``).

The pages are rendered from live objects (``force_inspection``: most ``Tensor`` methods and many
``clnet.*`` functions are attached when the op families are registered at import, so reading the
source would miss them). Inspection also lists what every class carries (``__dict__``,
``__module__``, ``__weakref__``, ``__eq__``...); this drops a class's members whose names start
with ``_`` except ``__init__`` (its signature becomes the class's), so a class shows its public API.
"""
import griffe


class PublicClassMembers(griffe.Extension):
    def on_class_members(self, *, cls, **kwargs):
        for name in [n for n in cls.members if n.startswith("_") and n != "__init__"]:
            cls.del_member(name)

    def on_module_members(self, *, mod, **kwargs):
        # a module without __all__ would list __file__, __cached__, __path__... as public
        for name in [n for n in mod.members if n.startswith("__") and n.endswith("__")]:
            mod.del_member(name)
