"""``clnet.layout``: the memory layout of a tensor, with torch's two most used values
(``clnet.strided`` for dense tensors, ``clnet.sparse_coo`` for SparseCOOTensor)."""


class layout:
    """A tensor layout; compare by identity (``t.layout is clnet.sparse_coo``), as in torch."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"clnet.{self.name}"

    def __reduce__(self):       # copy / deepcopy / pickle keep the singleton
        return self.name


strided = layout("strided")
sparse_coo = layout("sparse_coo")
