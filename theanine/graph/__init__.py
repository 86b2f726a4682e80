"""Layer 1: the graph IR, its walks, FunctionGraph and the rewrite engine."""

from theanine.graph.basic import (
    Apply,
    Constant,
    Node,
    Variable,
    ancestors,
    applys_between,
    clone,
    clone_get_equiv,
    clone_replace,
    graph_inputs,
    io_toposort,
    toposort,
)
from theanine.graph.fg import Feature, FunctionGraph, InconsistencyError, MissingInputError
from theanine.graph.op import Op, as_op
from theanine.graph.shared import SharedVariable
from theanine.graph.type import Type, generic

__all__ = [
    "Apply", "Constant", "Node", "Variable", "ancestors", "applys_between", "clone",
    "clone_get_equiv", "clone_replace", "graph_inputs", "io_toposort", "toposort",
    "Feature", "FunctionGraph", "InconsistencyError", "MissingInputError", "Op", "as_op",
    "SharedVariable", "Type", "generic",
]
