"""What the three printers share: what to print, ids, short labels, inner graphs.

A printer accepts a Variable, an Apply, a list of them, a FunctionGraph or a
compiled Function.  ``GraphView`` turns any of these into outputs plus what a
compiled function adds: the execution order and which outputs update which
shared variables.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from theanine.compile.function_module import Function
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.fg import FunctionGraph
from theanine.graph.shared import SharedVariable
from theanine.link.lazy import ELSE, THEN, branch_contexts
from theanine.scalar.basic import ScalarType


@dataclass
class GraphView:
    """Outputs to print, and for compiled functions their schedule and updates."""

    outputs: list
    compiled: bool = False
    order: dict = field(default_factory=dict)       # Apply -> position in execution order
    updates: dict = field(default_factory=dict)     # output index -> updated shared Variable
    inputs: list = field(default_factory=list)
    name: str | None = None
    lazy: dict = field(default_factory=dict)        # Apply -> (IfElse Apply, branch) it waits on
    backend: str | None = None                      # the linker that compiled it


def graph_view(obj) -> GraphView:
    """Normalise what a printer was given; raise TypeError naming it otherwise."""
    if isinstance(obj, Function):
        return _function_view(obj)
    if isinstance(obj, FunctionGraph):
        return GraphView(list(obj.outputs), inputs=list(obj.inputs))
    if isinstance(obj, Variable):
        return GraphView([obj])
    if isinstance(obj, Apply):
        return GraphView(list(obj.outputs))
    if isinstance(obj, (list, tuple)):
        outs = []
        for pos, item in enumerate(obj):
            if isinstance(item, Variable):
                outs.append(item)
            elif isinstance(item, Apply):
                outs.extend(item.outputs)
            else:
                raise TypeError(f"cannot print item {pos} of the list: expected a Variable "
                                f"or Apply, got {type(item).__name__} {item!r:.40}")
        return GraphView(outs)
    raise TypeError(f"cannot print a {type(obj).__name__}: expected a Variable, a list of "
                    "Variables, an Apply, a FunctionGraph or a compiled Function")


def _function_view(fn: Function) -> GraphView:
    fgraph = fn.maker.fgraph
    codegen = getattr(fn.fn, "codegen", None)
    schedule = getattr(codegen, "order", None) or fgraph.toposort()
    updates = {out: fgraph.inputs[inp] for out, inp in update_mapping(fn).items()}
    lazy = {}
    if getattr(codegen, "lazy", False):
        for node, context in branch_contexts(fgraph, schedule).items():
            if context:
                lazy[node] = context[-1]
    return GraphView(list(fgraph.outputs), compiled=True,
                     order={node: pos for pos, node in enumerate(schedule)},
                     updates=updates, inputs=list(fgraph.inputs), name=fn.name, lazy=lazy,
                     backend=getattr(fn.maker.linker, "name", None))


def update_mapping(fn: Function) -> dict[int, int]:
    """``{fgraph output index: fgraph input index}`` of the function's updates."""
    return dict(fn.maker.fgraph.update_mapping)


# -- ids -----------------------------------------------------------------------


def char_id(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> BA, ... (spreadsheet-like, shortest first)."""
    letters = string.ascii_uppercase
    text = letters[n % 26]
    n //= 26
    while n:
        text = letters[n % 26] + text
        n //= 26
    return text


class IdMaker:
    """Stable ids by order of first appearance: ``ids`` is 'CHAR', 'int', 'id' or ''."""

    def __init__(self, ids: str = "CHAR"):
        if ids not in ("CHAR", "int", "id", ""):
            raise ValueError(f"ids must be 'CHAR', 'int', 'id' or '', got {ids!r}")
        self.kind = ids
        self.ids: dict = {}

    def __call__(self, key) -> str:
        if not self.kind:
            return ""
        found = self.ids.get(key)
        if found is None:
            n = len(self.ids)
            found = char_id(n) if self.kind == "CHAR" else str(n) if self.kind == "int" \
                else str(id(key))
            self.ids[key] = found
        return found


# -- labels --------------------------------------------------------------------


def short_type(type_) -> str:
    """``float64 (?, 3)`` for tensors, ``str(type)`` otherwise."""
    shape = getattr(type_, "shape", None)
    dtype = getattr(type_, "dtype", None)
    if dtype is None or shape is None:
        return str(type_)
    dims = ", ".join("?" if s is None else str(s) for s in shape)
    if len(shape) == 1:
        dims += ","
    return f"{dtype} ({dims})"


def number_text(value) -> str:
    """A number the way a person writes it: 1, 0.5, -3, True."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        return np.format_float_positional(value.item(), trim="-")
    return str(value.item())


def constant_text(const: Constant, limit: int = 40, broadcast_scalars: bool = False) -> str:
    """A constant by value: ``0.5``, ``[[1]]``, ``[1. 2.]``, ``float64 (100,) constant``.

    With ``broadcast_scalars`` a one-element constant prints as its number (as in
    math, where broadcasting is implicit).
    """
    if const.name is not None:
        return const.name
    data = np.asarray(const.data)
    if data.size == 1:
        text = number_text(data.reshape(()))
        if broadcast_scalars or data.ndim == 0:
            return text
        return "[" * data.ndim + text + "]" * data.ndim
    text = np.array2string(data, threshold=8, max_line_width=10_000, separator=" ")
    text = " ".join(text.split())
    if len(text) > limit:
        return f"{short_type(const.type)} constant"
    return text


def variable_text(var: Variable) -> str:
    """A leaf's label: its name, its value for a constant, else ``<type>``."""
    if isinstance(var, Constant):
        return constant_text(var)
    if var.name is not None:
        return var.name
    return f"<{short_type(var.type)}>"


def truncate(text: str, size: int) -> str:
    if size > 3 and len(text) > size:
        return text[: size - 3] + "..."
    return text


# -- inner graphs ----------------------------------------------------------------


@dataclass
class InnerGraph:
    """One inner graph of an op, normalised: a title, inputs, outputs and what each
    output means (``output_labels``, e.g. ``out0[t]``; None when unlabelled)."""

    title: str
    inputs: list
    outputs: list
    output_labels: list | None = None


def inner_graphs(op) -> list[InnerGraph]:
    """The op's inner graphs (see docs/printing.md for the convention).

    Looks at ``op.inner_graphs()`` and, for wrappers such as ``Elemwise``, at the
    wrapped ``op.scalar_op.inner_graphs()``.
    """
    entries = list(getattr(op, "inner_graphs", list)() or ())
    scalar_op = getattr(op, "scalar_op", None)
    if not entries and scalar_op is not None and hasattr(scalar_op, "inner_graphs"):
        entries = list(scalar_op.inner_graphs() or ())
    result = []
    for pos, entry in enumerate(entries):
        result.append(_normalise_entry(op, pos, entry, len(entries)))
    return result


def _normalise_entry(op, pos: int, entry, count: int) -> InnerGraph:
    def untitled(inputs, outputs) -> InnerGraph:
        graph = InnerGraph("inner graph" if count == 1 else f"inner graph {pos}",
                           inputs, outputs)
        if count == 1 and is_scalar_graph(graph):
            graph.title = "fused kernel"         # a scalar graph is one elementwise loop
        return graph

    if isinstance(entry, FunctionGraph) or (
            hasattr(entry, "inputs") and hasattr(entry, "outputs")
            and not isinstance(entry, (tuple, list))):
        return untitled(list(entry.inputs), list(entry.outputs))
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        return untitled(_var_list(op, entry[0]), _var_list(op, entry[1]))
    if isinstance(entry, (tuple, list)) and len(entry) == 3 and isinstance(entry[0], str):
        return InnerGraph(entry[0], _var_list(op, entry[1]), _var_list(op, entry[2]))
    if isinstance(entry, (tuple, list)) and len(entry) == 4 and isinstance(entry[0], str):
        outputs = _var_list(op, entry[2])
        labels = [str(label) for label in entry[3]]
        if len(labels) != len(outputs):
            raise TypeError(f"{op}.inner_graphs() entry {pos}: {len(labels)} output labels "
                            f"for {len(outputs)} outputs")
        return InnerGraph(entry[0], _var_list(op, entry[1]), outputs, labels)
    raise TypeError(f"{op}.inner_graphs() entry {pos} must be a FunctionGraph, an "
                    f"(inputs, outputs) pair, a (title, inputs, outputs) triple or a "
                    f"(title, inputs, outputs, output_labels) quadruple; got "
                    f"{type(entry).__name__} {entry!r:.60}")


def _var_list(op, items) -> list:
    items = list(items) if isinstance(items, Sequence) else [items]
    for item in items:
        if not isinstance(item, Variable):
            raise TypeError(f"{op}.inner_graphs(): expected Variables, got "
                            f"{type(item).__name__} {item!r:.40}")
    return items


def inner_input_labels(graph: InnerGraph) -> dict:
    """Labels of the inner inputs: their own names, else ``i0``, ``i1``, ..."""
    return {var: var.name if var.name is not None else f"i{k}"
            for k, var in enumerate(graph.inputs) if not isinstance(var, Constant)}


def is_scalar_graph(graph: InnerGraph) -> bool:
    """Does the inner graph compute on scalars only (a fused elementwise kernel)?"""
    return all(isinstance(v.type, ScalarType) for v in list(graph.inputs) + list(graph.outputs))


def destroy_and_view(op) -> tuple[dict, dict]:
    """The op's ``destroy_map`` and ``view_map`` (empty dicts when absent)."""
    return dict(getattr(op, "destroy_map", {}) or {}), dict(getattr(op, "view_map", {}) or {})


def node_io_markers(op) -> list[tuple[str, str]]:
    """``(kind, text)`` pairs: ``('destroy', 'overwrites input 1')``, ``('view', ...)``."""
    destroy, view = destroy_and_view(op)
    marks = []
    for kind, mapping, verb in (("destroy", destroy, "overwrites input"),
                                ("view", view, "view of input")):
        for out, ins in sorted(mapping.items()):
            prefix = f"output {out} " if len(mapping) > 1 or out else ""
            marks.append((kind, f"{prefix}{verb} {', '.join(map(str, ins))}"))
    return marks


def branch_name(branch: int) -> str:
    """``then`` or ``else``: the IfElse branch a lazily run node belongs to."""
    return {THEN: "then", ELSE: "else"}[branch]


def is_shared(var) -> bool:
    return isinstance(var, SharedVariable) or getattr(var, "is_shared", False)
