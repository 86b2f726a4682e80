"""The code-generating linker: one Python function per compiled graph.

Each Apply becomes one line calling its thunk, values live in locals, and a
``del`` after a value's last use frees it (the garbage collector).  Errors are
mapped back to the node by the line number of the generated code, so the happy
path pays nothing for good error messages.
"""

from __future__ import annotations

import itertools
import linecache

import numpy as np

from theanine.config import config
from theanine.graph.basic import Constant
from theanine.ifelse import IfElse
from theanine.link.backend import Backend
from theanine.link.callspec import CallSpec, argument_locals, entry_source
from theanine.link.errors import failing_frame, reraise_with_node
from theanine.link.python.dispatch import perform_thunk, python_funcify
from theanine.link.python.dispatch_fused import KERNEL_CAPABILITIES
from theanine.link.python.lazy import ELSE, THEN, branch_contexts, group_by_context

_counter = itertools.count()


class Codegen:
    """Writes and compiles the Python source of one FunctionGraph.

    Subclasses (profiling, lazy control flow) override ``schedule`` or
    ``emit_node`` to change what each node's code looks like.
    """

    indent = "    "
    lazy = True

    def __init__(self, fgraph, spec: CallSpec, funcify=python_funcify, allow_gc=None):
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
        args = ", ".join(self.name_of(i) for i in node.inputs)
        thunk = self.make_thunk(node)
        ufunc = getattr(thunk, "inline_ufunc", None)
        if ufunc is not None and _float_arith_ok(ufunc, node):
            return self._float_arith_expr(ufunc, node)
        if ufunc is not None:
            self.ns["_asarray"] = np.asarray
            self.ns[f"_u{pos}"] = ufunc
            return f"_asarray(_u{pos}({args}))"
        self.ns[f"_f{pos}"] = thunk
        return f"_f{pos}({args})"

    def _float_arith_expr(self, ufunc, node) -> str:
        """0-d float64 ``+ - *`` as Python float arithmetic (same IEEE doubles, and
        these operators never raise): a third of the cost of a ufunc call on 0-d
        arrays, which is most of a scalar function's call overhead."""
        self.ns["_array"] = np.array
        args = []
        for inp in node.inputs:
            if isinstance(inp, Constant):
                name = f"_c{len(self.ns)}"
                self.ns[name] = float(inp.data)
                args.append(name)
            else:
                args.append(f"float({self.name_of(inp)})")
        return f"_array({_FLOAT_OPERATORS[ufunc].format(*args)})"

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
            if self.lazy and isinstance(node.op, IfElse):
                self._emit_ifelse(node, pos, context, groups, depth, entries)
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


_FLOAT_OPERATORS = {np.add: "{} + {}", np.subtract: "{} - {}", np.multiply: "{} * {}",
                    np.negative: "-{}"}
_FLOAT64 = np.dtype("float64")


def _float_arith_ok(ufunc, node) -> bool:
    return (ufunc in _FLOAT_OPERATORS and ufunc.nin == len(node.inputs)
            and len(node.outputs) == 1 and node.outputs[0].type.shape == ()
            and node.outputs[0].type.dtype == "float64"
            and all(i.type.dtype == "float64" and i.type.shape == () for i in node.inputs))


def _arg_names(spec, fgraph):
    locals_ = argument_locals(spec)
    for var, source in zip(fgraph.inputs, spec.input_sources):
        yield (var, locals_[source[1]]) if source[0] == "arg" else None


class VMLinker(Backend):
    """The default linker: generated Python, NumPy and fused kernels per node."""

    name = "vm"
    codegen_class = Codegen
    capabilities = KERNEL_CAPABILITIES     # what its fused kernels express (fusion asks)

    def __init__(self, allow_gc=None, funcify=None):
        self.allow_gc = allow_gc
        self.funcify = funcify or python_funcify

    def make_function(self, fgraph, spec: CallSpec):
        gen = self.codegen_class(fgraph, spec, funcify=self.funcify, allow_gc=self.allow_gc)
        fn = gen.compile()
        fn.codegen = gen
        return fn


class EagerCodegen(Codegen):
    """Straight-line code: both branches of every IfElse run (the ``py`` linker)."""

    lazy = False


class PyLinker(VMLinker):
    """The reference linker: every node runs its ``perform``, eagerly (no fast paths)."""

    name = "py"
    codegen_class = EagerCodegen

    def __init__(self, allow_gc=None):
        super().__init__(allow_gc=allow_gc, funcify=perform_thunk)


