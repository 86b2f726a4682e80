"""Which nodes of a graph compile and which are call-outs (the one place that decides)."""

from __future__ import annotations

from theanine.ifelse import IfElse
from theanine.link.numba.compile import NumbaUnsupported
from theanine.link.numba.dispatch import numba_funcify
from theanine.link.python.dispatch import python_funcify


def node_functions(fgraph):
    """``(njit functions, call-outs)``: node -> function, for every node but lazy
    ``IfElse`` (emitted as a block)."""
    thunks, callouts = {}, {}
    for node in fgraph.toposort():
        if isinstance(node.op, IfElse):
            continue
        try:
            thunks[node] = numba_funcify(node.op, node)
        except NumbaUnsupported:
            callouts[node] = python_funcify(node.op, node)
    return thunks, callouts


__all__ = ["node_functions"]
