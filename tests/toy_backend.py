"""A toy backend built only through the backend seam (theanine/link/backend.py):
its own dispatch table with no entries (every node runs its ``perform``), the
shared code generator, default fusion capabilities, and a rewrite contract that
refuses in-place rewrites.  Registered as the ``toy`` linker, so the op checker
runs every op through it too."""

from __future__ import annotations

from functools import singledispatch

from theanine.compile.mode import LINKERS, register_linker
from theanine.link.python.codegen import VMLinker
from theanine.link.python.dispatch import perform_thunk


@singledispatch
def toy_funcify(op, node):
    """How the toy backend runs each op: its NumPy reference, always."""
    return perform_thunk(op, node)


class ToyLinker(VMLinker):
    name = "toy"
    capabilities = None                  # the fusion pass's conservative defaults
    excluded_rewrites = ("inplace",)     # this engine never overwrites an input

    def __init__(self, allow_gc=None):
        super().__init__(allow_gc=allow_gc, funcify=toy_funcify)


if "toy" not in LINKERS:
    register_linker("toy", ToyLinker)
