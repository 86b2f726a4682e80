"""The backend-neutral emitter: a scheduled FunctionGraph becomes one Python function.

Each Apply becomes one line calling its thunk, values live in locals, and a
``del`` after a value's last use frees it (the garbage collector).  Nodes needed
by one branch of an ``IfElse`` are emitted inside that branch's block (laziness
for free).  Errors are mapped back to the node by the line number of the
generated code, so the happy path pays nothing for good error messages.  What a
backend changes is listed in ``Emitter``'s docstring; the NumPy backend's
``Codegen`` (link/python/codegen.py) adds its fast paths on top.
"""

from __future__ import annotations

import itertools
import linecache

from theanine.config import config
from theanine.graph.basic import Constant
from theanine.ifelse import IfElse
from theanine.link.callspec import CallSpec, argument_locals, entry_source
from theanine.link.errors import failing_frame, reraise_with_node
from theanine.link.lazy import ELSE, THEN, branch_contexts, group_by_context

_counter = itertools.count()


def _arg_names(spec, fgraph):
    locals_ = argument_locals(spec)
    for var, source in zip(fgraph.inputs, spec.input_sources):
        yield (var, locals_[source[1]]) if source[0] == "arg" else None


class Emitter:
    """Writes and compiles the Python source of one FunctionGraph.

    The hooks a backend overrides: ``make_thunk``/``funcify`` (what runs each node),
    ``call_expr``/``emit_node`` (the code of one node), ``name_of`` (where values
    live), ``allow_gc`` (``del`` after last use), ``block_emitters`` (ops emitted
    as control flow, by op class; ``lazy = False`` emits every node as a call) and
    ``node_error`` (mapping a failing line back to its node).
    """

    indent = "    "
    lazy = True
    # op class -> method emitting it as a block (Python ``if`` for lazy IfElse)
    block_emitters: dict = {IfElse: "_emit_ifelse"}

    def __init__(self, fgraph, spec: CallSpec, funcify, allow_gc=None):
        self.fgraph = fgraph
        self.spec = spec
        self.funcify = funcify
        self.allow_gc = config.allow_gc if allow_gc is None else allow_gc
        self.ns: dict = {"__builtins__": __builtins__}
        self.names: dict = {}
        self.line_nodes: dict[int, tuple] = {}   # body line index -> (node, position)
        self.order: list = []
        # user arguments keep their own parameter names in the generated code
        for pair in _arg_names(spec, fgraph):
            if pair is not None:
                self.names[pair[0]] = pair[1]

    # -- naming ---------------------------------------------------------------
    def name_of(self, var) -> str:
        name = self.names.get(var)
        if name is not None:
            return name
        if isinstance(var, Constant):
            name = f"_k{len(self.names)}"
            self.ns[name] = var.data
        else:
            name = f"v{len(self.names)}"
        self.names[var] = name
        return name

    def make_thunk(self, node):
        return self.funcify(node.op, node)

    # -- emission -------------------------------------------------------------
    def schedule(self) -> list:
        return self.fgraph.toposort()

    def call_expr(self, node, pos: int) -> str:
        """The expression computing ``node``'s outputs: its thunk called on its inputs."""
        args = ", ".join(self.name_of(i) for i in node.inputs)
        self.ns[f"_f{pos}"] = self.make_thunk(node)
        return f"_f{pos}({args})"

    def assign_targets(self, node) -> str:
        outs = [self.name_of(o) for o in node.outputs]
        if len(outs) == 1:
            return outs[0]
        return ", ".join(outs) + ","

    def emit_node(self, node, pos: int) -> list[str]:
        return [f"{self.assign_targets(node)} = {self.call_expr(node, pos)}"]

    def body_lines(self) -> list[str]:
        """Emit every node; lazily-needed nodes go inside their branch's block."""
        order = self.schedule()
        self.order = order
        for inp in self.fgraph.inputs:
            self.name_of(inp)
        self.positions = {node: pos for pos, node in enumerate(order)}
        if self.lazy:
            contexts = branch_contexts(self.fgraph, order)
            groups = group_by_context(order, contexts)
        else:
            groups = {(): order}
        entries: list[tuple] = []   # (depth, text, node or None, reads)
        self._emit_group((), groups, 0, entries)
        return self._with_gc(entries)

    def _emit_group(self, context, groups, depth, entries) -> None:
        for node in groups.get(context, ()):
            pos = self.positions[node]
            block = self.block_emitters.get(type(node.op)) if self.lazy else None
            if block is not None:
                getattr(self, block)(node, pos, context, groups, depth, entries)
                continue
            reads = [i for i in node.inputs if not isinstance(i, Constant)]
            for line in self.emit_node(node, pos):
                entries.append((depth, line, node, reads))

    def _emit_ifelse(self, node, pos, context, groups, depth, entries) -> None:
        n = node.op.n_outs
        cond = node.inputs[0]
        entries.append((depth, f"if {self.name_of(cond)}:", node, []))
        for branch, values in ((THEN, node.inputs[1:1 + n]), (ELSE, node.inputs[1 + n:])):
            if branch == ELSE:
                entries.append((depth, "else:", node, []))
            inner = context + ((node, branch),)
            self._emit_group(inner, groups, depth + 1, entries)
            for out, value in zip(node.outputs, values):
                reads = [] if isinstance(value, Constant) else [value]
                entries.append((depth + 1, f"{self.name_of(out)} = {self.name_of(value)}",
                                node, reads))

    def _with_gc(self, entries) -> list[str]:
        """Indent the entries and add a ``del`` after each value's textually last read."""
        last_read: dict = {}
        for idx, (_, _, _, reads) in enumerate(entries):
            for var in reads:
                last_read[var] = idx
        keep = set(self.fgraph.outputs)
        dels: dict[int, list[str]] = {}
        if self.allow_gc:
            for var, idx in last_read.items():
                if var not in keep:
                    dels.setdefault(idx, []).append(self.names[var])
        lines: list[str] = []
        for idx, (depth, text, node, _) in enumerate(entries):
            pad = self.indent * depth
            if node is not None:
                self.line_nodes[len(lines)] = (node, self.positions[node])
            lines.append(pad + text)
            if idx in dels:
                lines.append(pad + f"del {', '.join(sorted(set(dels[idx])))}")
        return lines

    def source(self) -> str:
        body = self.body_lines()
        input_names = [self.name_of(i) for i in self.fgraph.inputs]
        output_names = [self.name_of(o) for o in self.fgraph.outputs]
        guarded = ["try:"] + [self.indent + b for b in body] + [
            "except Exception as _exc:",
            self.indent + "_node_error(_exc)",
            self.indent + "raise",
        ] if body else []
        def_line, lines = entry_source(self.spec, input_names, self.ns, guarded, output_names,
                                       self.indent)
        self._body_start = self._find_body_start(lines)
        return "\n".join([def_line, *lines]) + "\n"

    def _find_body_start(self, lines) -> int:
        for i, line in enumerate(lines):
            if line.strip() == "try:":
                return i + 2  # def line is line 1; body starts after "try:"
        return -1

    def compile(self):
        src = self.source()
        filename = f"<theanine-{self.spec.fn_name}-{next(_counter)}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        self.ns["_node_error"] = self.node_error
        code = compile(src, filename, "exec")
        exec(code, self.ns)
        fn = self.ns[self.spec.fn_name]
        self.code = fn.__code__
        fn.source = src
        return fn

    def node_error(self, exc) -> None:
        """Map the failing line of the generated code to its node and re-raise."""
        frame, frame_line = failing_frame(exc, self.code)
        if frame_line is None:
            return
        found = self.line_nodes.get(frame_line - 1 - self._body_start)
        if found is None:
            return
        node, pos = found
        values = [self._value_of(frame, i) for i in node.inputs]
        reraise_with_node(node, values, exc, pos)

    def _value_of(self, frame, var):
        if isinstance(var, Constant):
            return var.data
        return frame.f_locals.get(self.names.get(var))
