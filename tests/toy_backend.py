"""A toy backend built only through the backend seam: ``Backend``
(theanine/link/backend.py) and the backend-neutral ``Emitter``
(theanine/link/emitter.py), no other backend's code.  Its dispatch table has no
entries, so every node runs its ``perform``; default fusion capabilities; a
rewrite contract that refuses in-place rewrites.  Registered as the ``toy``
linker, so the op checker runs every op through it too."""

from __future__ import annotations

from functools import singledispatch

from theanine.compile.mode import LINKERS, register_linker
from theanine.link.backend import Backend
from theanine.link.emitter import Emitter


@singledispatch
def toy_funcify(op, node):
    """How the toy backend runs an op: its NumPy reference ``perform``."""
    nout = len(node.outputs)

    def thunk(*args):
        storage = [[None] for _ in range(nout)]
        op.perform(node, list(args), storage)
        return storage[0][0] if nout == 1 else tuple(cell[0] for cell in storage)

    return thunk


class ToyLinker(Backend):
    name = "toy"
    capabilities = None                  # the fusion pass's conservative defaults
    excluded_rewrites = ("inplace",)     # this engine never overwrites an input

    def make_function(self, fgraph, spec):
        return Emitter(fgraph, spec, funcify=toy_funcify).compile()


if "toy" not in LINKERS:
    register_linker("toy", ToyLinker)
