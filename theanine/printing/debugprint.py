"""``debugprint``: a graph as an indented tree, one line per Apply or leaf Variable.

Every node gets an id (``[id A]``) the first time it is printed; when it is met
again only its line (with the same id) is printed, not its subtree again.  A
compiled Function adds each node's position in the execution order (``#3``),
and readable markers on ops that overwrite an input or return a view of one.
Ops with inner graphs (fused kernels, ``ifelse``, ``scan``) have those graphs
printed after the outer graph under ``Inner graphs:``.  All walks are iterative.
"""

from __future__ import annotations

import sys

from theanine.printing.common import (
    GraphView,
    IdMaker,
    InnerGraph,
    branch_name,
    graph_view,
    inner_graphs,
    inner_input_labels,
    is_scalar_graph,
    node_io_markers,
    short_type,
    variable_text,
)
from theanine.printing.pprint import _exprs, atom
from theanine.tensor.elemwise import Elemwise


def kernel_text(graph: InnerGraph) -> str:
    """The expressions a scalar inner graph computes, inputs named ``i0, i1, ...``."""
    labels = inner_input_labels(graph)
    from_labels = {var: atom(text) for var, text in labels.items()}
    return ", ".join(e.render() for e in _exprs(graph.outputs, from_labels))


def _kernel_label(op) -> str | None:
    """``Composite{gt(sigmoid(i0 + i1), 0.5)}`` for an op whose inner graph is scalar."""
    graphs = inner_graphs(op)
    if len(graphs) == 1 and is_scalar_graph(graphs[0]):
        return f"{type(op).__name__}{{{kernel_text(graphs[0])}}}"
    return None


def op_label(op) -> str:
    """An op's name in a tree; fused kernels show the scalar expression they compute.

    An ``Elemwise`` is labelled by what it computes only: whether it works in
    place is shown by the printers' markers (``(overwrites input 0)``, red edges).
    """
    if isinstance(op, Elemwise):
        inner = _kernel_label(op.scalar_op) or op.name or str(op.scalar_op)
        return f"Elemwise{{{inner}}}"
    scalar_op = getattr(op, "scalar_op", None)
    if scalar_op is not None:       # e.g. a fused reduction, ``Sum{Composite{exp(i0)}}``
        kernel = _kernel_label(scalar_op)
        if kernel is not None:
            name = str(op)
            if str(scalar_op) in name:
                return name.replace(str(scalar_op), kernel)
            return f"{type(op).__name__}{{{kernel}}}"
    graphs = inner_graphs(op)
    if len(graphs) == 1 and is_scalar_graph(graphs[0]):
        return f"{type(op).__name__}{{{kernel_text(graphs[0])}}}"
    return str(op)


MAX_BARS = 50   # deeper lines show their depth instead of one bar per level


def tree_prefix(indent: str, level: int) -> str:
    """`` | | |`` for a line ``level`` deep; very deep lines say their depth instead,
    so a 100,000-node chain prints in linear rather than quadratic space."""
    if level <= MAX_BARS:
        return indent + " |" * level
    return f"{indent} |...({level} levels) |"


class _TreePrinter:
    """Writes trees of Variables sharing one id table and one 'already printed' set."""

    def __init__(self, ids, depth, print_type, stop_on_name, markers, order, lazy=None):
        self.ids = IdMaker(ids)
        self.depth = depth
        self.print_type = print_type
        self.stop_on_name = stop_on_name
        self.markers = markers          # (show destroy markers, show view markers)
        self.order = order              # Apply -> execution position (compiled functions)
        self.lazy = lazy or {}          # Apply -> (IfElse Apply, branch) it runs inside
        self.done: set = set()
        self.with_inner: list = []      # Apply nodes whose inner graphs print later
        self.lines: list[str] = []

    def label(self, var, leaf_labels, level: int) -> tuple[str, bool]:
        """The line for ``var`` and whether its inputs should follow.

        A node counts as printed only once its inputs are shown, so a node cut
        off by ``depth`` is expanded where it appears higher up.
        """
        node = var.owner
        id_key = node if node is not None and var not in leaf_labels else var
        ident = self.ids(id_key)
        id_text = f" [id {ident}]" if ident else ""
        type_text = f" <{short_type(var.type)}>" if self.print_type else ""
        if node is None or var in leaf_labels:
            text = leaf_labels.get(var) or variable_text(var)
            return f"{text}{id_text}{type_text}", False
        head = op_label(node.op)
        if len(node.outputs) > 1:
            head += f".{var.index}"
        name = f" '{var.name}'" if var.name is not None else ""
        extra = []
        if node in self.order:
            extra.append(f"#{self.order[node]}")
        show_destroy, show_view = self.markers
        for kind, mark in node_io_markers(node.op):
            if (kind == "destroy" and show_destroy) or (kind == "view" and show_view):
                extra.append(f"({mark})")
        if node in self.lazy:
            extra.append(self.lazy_text(*self.lazy[node]))
        extra_text = " " + " ".join(extra) if extra else ""
        if inner_graphs(node.op) and node not in self.with_inner:
            self.with_inner.append(node)
        expand = id_key not in self.done and (self.depth < 0 or level + 1 < self.depth) \
            and not (self.stop_on_name and var.name is not None and level > 0)
        if expand:
            self.done.add(id_key)
        return f"{head}{id_text}{name}{type_text}{extra_text}", expand

    def lazy_text(self, ifelse_node, branch) -> str:
        """``(only in then branch of [id A])``: the node runs only when that branch is taken."""
        ident = self.ids(ifelse_node)
        where = f"[id {ident}]" if ident else op_label(ifelse_node.op)
        return f"(only in {branch_name(branch)} branch of {where})"

    def tree(self, root, indent: str = "", suffix: str = "", leaf_labels=None) -> None:
        leaf_labels = leaf_labels or {}
        stack = [(root, 0)]
        while stack:
            var, level = stack.pop()
            text, expand = self.label(var, leaf_labels, level)
            if level == 0:
                text += suffix
            self.lines.append(tree_prefix(indent, level) + text)
            if not expand:
                continue
            stack.extend((inp, level + 1) for inp in reversed(var.owner.inputs))

    def inner_sections(self) -> None:
        """Print the inner graphs of every collected node (and of nodes found inside)."""
        if not self.with_inner:
            return
        self.lines += ["", "Inner graphs:"]
        pos = 0
        first_with_op: dict = {}
        while pos < len(self.with_inner):
            node = self.with_inner[pos]
            pos += 1
            self.lines.append("")
            ident = self.ids(node)
            head = f"{op_label(node.op)}" + (f" [id {ident}]" if ident else "")
            same = first_with_op.setdefault(node.op, node)
            if same is not node:
                ref = f"[id {self.ids(same)}]" if ident else "above"
                self.lines.append(f"{head}: same inner graphs as {ref}")
                continue
            self.lines.append(head)
            for graph in inner_graphs(node.op):
                labels = inner_input_labels(graph)
                names = ", ".join(labels.get(v) or variable_text(v) for v in graph.inputs)
                self.lines.append(f" {graph.title} (inputs: {names or 'none'}):")
                out_labels = graph.output_labels or [""] * len(graph.outputs)
                for out, out_label in zip(graph.outputs, out_labels):
                    suffix = f" -> {out_label}" if out_label else ""
                    self.tree(out, indent="  ", suffix=suffix, leaf_labels=labels)


def _print_tree(view, ids="CHAR", depth=-1, print_type=False, stop_on_name=False,
                markers=(True, True)) -> _TreePrinter:
    printer = _TreePrinter(ids, depth, print_type, stop_on_name, markers, view.order, view.lazy)
    if view.backend not in (None, "vm", "cvm", "py"):       # say which engine runs it
        printer.lines.append(f"Compiled for the {view.backend} backend:")
    for pos, out in enumerate(view.outputs):
        target = view.updates.get(pos)
        suffix = f" (update of {variable_text(target)})" if target is not None else ""
        printer.tree(out, suffix=suffix)
    printer.inner_sections()
    return printer


def node_ids(obj, ids: str = "CHAR") -> dict:
    """``{Apply or leaf Variable: 'A'}``: the ids ``debugprint(obj)`` prints, so that
    every view of a graph (tree, picture, HTML) names a node the same way."""
    view = obj if isinstance(obj, GraphView) else graph_view(obj)
    return dict(_print_tree(view, ids).ids.ids)


def debugprint(obj, depth: int = -1, print_type: bool = False, file=None, ids: str = "CHAR",
               stop_on_name: bool = False, print_destroy_map: bool | None = None,
               print_view_map: bool | None = None):
    """Print ``obj`` (Variable, list, Apply, FunctionGraph or Function) as a tree.

    ``file=None`` prints to stdout, ``file='str'`` returns the text, any other
    value is a file to write to.  ``ids`` is 'CHAR' (A, B, ...), 'int', 'id'
    (Python ids) or '' (none).  In-place markers (``print_destroy_map``) show
    by default; view markers (``print_view_map``) by default for a compiled
    Function, which also shows execution positions and lazily run nodes.
    """
    view = graph_view(obj)
    markers = (True if print_destroy_map is None else print_destroy_map,
               view.compiled if print_view_map is None else print_view_map)
    printer = _print_tree(view, ids, depth, print_type, stop_on_name, markers)
    text = "\n".join(printer.lines) + "\n"
    if file == "str":
        return text
    (sys.stdout if file is None else file).write(text)
    return None


dprint = debugprint
