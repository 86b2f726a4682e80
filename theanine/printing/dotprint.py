"""``pydotprint``: a picture of a graph drawn by Graphviz.

The graph is written in Graphviz's DOT language here (no Python binding is
needed) and rendered by Graphviz's ``dot`` program (``config.graphviz_dot``).
Apply nodes are ellipses coloured by op kind, Variables are boxes coloured by
role (input, shared, constant, output); edges carry the input index and turn
blue where the op returns a view of that input and red where it overwrites it.
A compiled function also shows its update edges (dashed) into shared variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from theanine.config import config
from theanine.graph.basic import Constant, Variable, io_toposort
from theanine.ifelse import IfElse
from theanine.printing.common import (
    branch_name,
    graph_view,
    inner_graphs,
    inner_input_labels,
    is_shared,
    short_type,
    truncate,
    variable_text,
)
from theanine.printing.debugprint import node_ids, op_label
from theanine.scalar.basic import ScalarOp
from theanine.scan.op import Scan
from theanine.tensor.basic import MakeVector
from theanine.tensor.blas import Gemm, Gemv, Ger
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise
from theanine.tensor.math import Dot
from theanine.tensor.shape import Reshape, Shape, ShapeI, SpecifyShape

FORMATS = ("png", "svg", "pdf", "dot")

VARIABLE_COLOURS = {"input": "#99e699", "shared": "#ffd966", "constant": "#d9d9d9",
                    "output": "#8fc4ff", "intermediate": "#ffffff"}
OP_COLOURS = {"elemwise": "#ffb98a", "reduce": "#f2a0c8", "shape": "#a8e0e6", "dot": "#e0c9a6",
              "scan": "#c6a6ff", "ifelse": "#ff8f8f", "other": "#ffffff"}
EDGE_COLOURS = {"view": "blue", "destroy": "red", "update": "#8a2be2", "inner": "grey50"}

_SHAPE_OPS = (Shape, ShapeI, Reshape, SpecifyShape, DimShuffle, MakeVector)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not where config says)."""


def op_kind(op) -> str:
    """Colour family of an op: elemwise, reduce, dot, shape, scan, ifelse or other."""
    if isinstance(op, Scan):
        return "scan"
    if isinstance(op, IfElse):
        return "ifelse"
    if isinstance(op, (Elemwise, ScalarOp)) or hasattr(op, "scalar_op"):
        return "elemwise"
    if isinstance(op, CAReduce):
        return "reduce"
    if isinstance(op, (Dot, Gemm, Gemv, Ger)):
        return "dot"
    if isinstance(op, _SHAPE_OPS):
        return "shape"
    return "other"


def input_label(node, pos: int) -> str | None:
    """An edge's label: the input index, or ``cond`` / ``then`` / ``else`` into an ifelse."""
    if isinstance(node.op, IfElse):
        n = node.op.n_outs
        if pos == 0:
            return "cond"
        branch = "then" if pos <= n else "else"
        return branch if n == 1 else f"{branch} {(pos - 1) % n}"
    return str(pos) if len(node.inputs) > 1 else None


def quote(text: str) -> str:
    """A DOT string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs) -> str:
    items = [f"{k}={quote(str(v))}" for k, v in attrs.items() if v is not None]
    return "[" + ", ".join(items) + "]"


class _DotWriter:
    """Collects DOT statements for one graph (plus inner graphs as clusters)."""

    def __init__(self, view, compact, with_ids, high_contrast, max_label_size,
                 scan_graphs, var_with_name_simple):
        self.view = view
        self.compact = compact
        self.ids = node_ids(view) if with_ids else {}     # the ids debugprint prints
        self.high_contrast = high_contrast
        self.max_label_size = max_label_size
        self.scan_graphs = scan_graphs
        self.simple_names = var_with_name_simple
        self.names: dict = {}
        self.lines: list[str] = []
        self.outputs = set(view.outputs)
        self.out_labels = {}
        for pos, out in enumerate(view.outputs):
            target = view.updates.get(pos)
            self.out_labels.setdefault(out, f"new {variable_text(target)}" if target is not None
                                       else f"output {pos}")

    def dot_name(self, key, prefix: str) -> str:
        name = self.names.get(key)
        if name is None:
            name = f"{prefix}{len(self.names)}"
            self.names[key] = name
        return name

    def style(self, colour: str) -> dict:
        if self.high_contrast:
            return {"style": "filled", "fillcolor": colour}
        return {"style": "solid", "color": colour if colour != "#ffffff" else "black",
                "penwidth": "2"}

    # -- variables ------------------------------------------------------------
    def role(self, var, inner_inputs) -> str:
        if var in self.outputs:
            return "output"
        if isinstance(var, Constant):
            return "constant"
        if is_shared(var):
            return "shared"
        if var.owner is None or var in inner_inputs:
            return "input"
        return "intermediate"

    def hidden(self, var, inner_inputs) -> bool:
        """Compact mode leaves out unnamed intermediate results (edges join ops)."""
        return (self.compact and var.owner is not None and var.name is None
                and var not in self.outputs and var not in inner_inputs)

    def var_label(self, var, labels) -> str:
        if var in labels:
            return labels[var]
        if var in self.out_labels and var.name is None and not isinstance(var, Constant):
            return f"{self.out_labels[var]}\n{short_type(var.type)}"
        text = variable_text(var)
        if isinstance(var, Constant) or (self.simple_names and var.name is not None):
            return text
        if var.name is None and not isinstance(var, Constant):
            return short_type(var.type)
        return f"{text}\n{short_type(var.type)}"

    def add_var(self, var, labels, indent) -> str:
        name = self.dot_name(var, "v")
        ident = self.ids.get(var)
        label = truncate(self.var_label(var, labels), self.max_label_size)
        if ident:
            label = f"[id {ident}] {label}"
        colour = VARIABLE_COLOURS[self.role(var, labels)]
        attrs = _attrs(label=label, shape="box", **self.style(colour),
                       **self.extra_attrs(var, name))
        self.lines.append(f"{indent}{name} {attrs};")
        return name

    # -- apply nodes ------------------------------------------------------------
    def add_apply(self, node, indent) -> str:
        name = self.dot_name(node, "a")
        label = truncate(op_label(node.op), self.max_label_size)
        ident = self.ids.get(node)
        if ident:
            label = f"[id {ident}] {label}"
        pos = self.view.order.get(node)
        if pos is not None:
            label += f"\nstep {pos}"
        lazy = self.view.lazy.get(node)
        if lazy is not None:
            ifelse_node, branch = lazy
            where = self.view.order[ifelse_node]
            label += f"\nonly in {branch_name(branch)} branch of step {where}"
        colour = self.apply_colour(node)
        attrs = _attrs(label=label, shape="ellipse", **self.style(colour),
                       **self.extra_attrs(node, name))
        self.lines.append(f"{indent}{name} {attrs};")
        return name

    def apply_colour(self, node) -> str:
        return OP_COLOURS[op_kind(node.op)]

    def extra_attrs(self, key, name: str) -> dict:
        """More DOT attributes for the node drawn for ``key`` (a subclass hook)."""
        return {}

    def edge(self, src, dst, indent, **attrs) -> None:
        text = _attrs(**attrs)
        self.lines.append(f"{indent}{src} -> {dst}{' ' + text if text != '[]' else ''};")

    def draw(self, inputs, outputs, labels, indent) -> list:
        """Draw the graph between inputs and outputs; return nodes with inner graphs."""
        drawn: dict = {}
        with_inner = []

        def source_of(var):
            """The DOT node an edge from ``var`` starts at (a box or, compacted, its op)."""
            if var in drawn:
                return drawn[var]
            if self.hidden(var, labels):
                return self.dot_name(var.owner, "a")
            drawn[var] = self.add_var(var, labels, indent)
            return drawn[var]

        for var in inputs:
            source_of(var)
        for node in io_toposort(list(inputs), list(outputs)):
            name = self.add_apply(node, indent)
            if inner_graphs(node.op):
                with_inner.append(node)
            destroy = {i for ins in getattr(node.op, "destroy_map", {}).values() for i in ins}
            view = {i for ins in getattr(node.op, "view_map", {}).values() for i in ins}
            for pos, inp in enumerate(node.inputs):
                attrs = {"label": input_label(node, pos)}
                if pos in destroy:
                    attrs.update(color=EDGE_COLOURS["destroy"], fontcolor=EDGE_COLOURS["destroy"])
                elif pos in view:
                    attrs.update(color=EDGE_COLOURS["view"], fontcolor=EDGE_COLOURS["view"])
                if self.hidden(inp, labels) and len(inp.owner.outputs) > 1:
                    attrs["taillabel"] = str(inp.index)
                self.edge(source_of(inp), name, indent, **attrs)
            for out in node.outputs:
                if not self.hidden(out, labels):
                    label = str(out.index) if len(node.outputs) > 1 else None
                    self.edge(name, source_of(out), indent, label=label)
        for var in outputs:
            source_of(var)
        return with_inner

    def draw_updates(self, indent) -> None:
        for pos, target in self.view.updates.items():
            out = self.view.outputs[pos]
            self.edge(self.names[out], self.dot_name(target, "v"), indent, style="dashed",
                      color=EDGE_COLOURS["update"], fontcolor=EDGE_COLOURS["update"],
                      label=f"update of {variable_text(target)}", constraint="false")

    def draw_inner(self, pending) -> None:
        """Each inner graph as a titled cluster, dashed edges from its op."""
        done = set()
        while pending:
            node = pending.pop(0)
            if node.op in done:
                continue
            done.add(node.op)
            for k, graph in enumerate(inner_graphs(node.op)):
                labels = inner_input_labels(graph)
                for var in graph.inputs:
                    labels.setdefault(var, variable_text(var))
                out_labels = graph.output_labels or [f"inner output {pos}"
                                                     for pos in range(len(graph.outputs))]
                for out, out_label in zip(graph.outputs, out_labels):
                    self.outputs.add(out)
                    self.out_labels.setdefault(out, out_label)
                cluster = f"cluster_{self.dot_name(node, 'a')}_{k}"
                title = truncate(f"{op_label(node.op)}: {graph.title}", self.max_label_size)
                self.lines.append(f"  subgraph {cluster} {{")
                self.lines.append(f"    label={quote(title)}; style=dashed; color=grey50;")
                pending.extend(self.draw(graph.inputs, graph.outputs, labels, "    "))
                self.lines.append("  }")
                for var in graph.inputs:
                    if var in self.names:
                        self.edge(self.names[node], self.names[var], "  ", style="dashed",
                                  color=EDGE_COLOURS["inner"], arrowhead="none")

    def source(self) -> str:
        self.lines = ["digraph theanine {", '  graph [rankdir="TB", ranksep="0.35"];',
                      '  node [fontsize="12"]; edge [fontsize="10"];']
        inputs = [v for v in self.view.inputs if v.owner is None]
        pending = self.draw(inputs, self.view.outputs, {}, "  ")
        self.draw_updates("  ")
        if self.scan_graphs:
            self.draw_inner(pending)
        self.lines.append("}")
        return "\n".join(self.lines) + "\n"


def dot_source(obj, compact=True, with_ids=False, high_contrast=True, max_label_size=70,
               scan_graphs=False, var_with_name_simple=False) -> str:
    """The DOT text ``pydotprint`` renders."""
    writer = _DotWriter(graph_view(obj), compact, with_ids, high_contrast, max_label_size,
                        scan_graphs, var_with_name_simple)
    return writer.source()


def find_dot() -> str:
    """Path of Graphviz's ``dot``, or a GraphvizNotFoundError saying how to install it."""
    found = shutil.which(config.graphviz_dot)
    if found is None:
        raise GraphvizNotFoundError(
            f"pydotprint needs Graphviz's 'dot' program, and {config.graphviz_dot!r} was not "
            "found. Install Graphviz: 'sudo apt-get install graphviz' (Debian/Ubuntu; "
            "'make system-deps' in this project does it), 'brew install graphviz' (macOS) "
            "or 'conda install graphviz'; or set the graphviz_dot flag to its full path. "
            "format='dot' writes the graph description without Graphviz."
        )
    return found


def render(source: str, format: str) -> bytes:
    """Run ``dot -T<format>`` on DOT text and return the image bytes."""
    proc = subprocess.run([find_dot(), f"-T{format}"], input=source.encode(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed (exit {proc.returncode}) rendering "
                           f"{format}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def pydotprint(obj, outfile=None, format="png", compact=True, with_ids=False,
               high_contrast=True, max_label_size=70, scan_graphs=False,
               var_with_name_simple=False, return_image=False, print_output_file=True):
    """Draw ``obj`` (Variable, list, FunctionGraph or Function) with Graphviz.

    Writes ``outfile`` (default ``<compiledir>/theanine.pydotprint.<format>``) in
    ``format`` (png, svg, pdf or dot) and prints where; with ``return_image``
    returns the image instead (bytes, or str for svg/dot) and writes nothing.
    ``compact`` leaves out unnamed intermediate results; ``scan_graphs`` also
    draws the inner graphs of ops that have them (scan, ifelse, fused kernels).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    source = dot_source(obj, compact, with_ids, high_contrast, max_label_size, scan_graphs,
                        var_with_name_simple)
    image = source.encode() if format == "dot" else render(source, format)
    if return_image:
        return image.decode() if format in ("svg", "dot") else image
    if outfile is None:
        outfile = os.path.join(config.compiledir, f"theanine.pydotprint.{format}")
    outfile = os.fspath(outfile)
    folder = os.path.dirname(os.path.abspath(outfile))
    os.makedirs(folder, exist_ok=True)
    with open(outfile, "wb") as handle:
        handle.write(image)
    if print_output_file:
        print(f"The output file is available at {outfile}")
    return None


def pydotprint_variables(variables, outfile=None, format="png", **options):
    """Draw symbolic variables: the older Theano name the tutorial uses for
    ``pydotprint`` on variables (one Variable or a list); same options."""
    items = variables if isinstance(variables, (list, tuple)) else [variables]
    bad = [v for v in items if not isinstance(v, Variable)]
    if bad:
        raise TypeError(f"pydotprint_variables draws Variables; got {type(bad[0]).__name__} "
                        "(use pydotprint for a compiled Function)")
    return pydotprint(variables, outfile=outfile, format=format, **options)
