"""The code-generating linker: one Python function per compiled graph.

Each Apply becomes one line calling its thunk, values live in locals, and a
``del`` after a value's last use frees it (the garbage collector).  Errors are
mapped back to the node by the line number of the generated code, so the happy
path pays nothing for good error messages.
"""

from __future__ import annotations

import itertools
import linecache

from theanine.config import config
from theanine.graph.basic import Constant
from theanine.link.callspec import CallSpec, entry_source
from theanine.link.errors import reraise_with_node
from theanine.link.python import dispatch_fused  # noqa: F401  (fused-kernel thunks)
from theanine.link.python.dispatch import perform_thunk, python_funcify

_counter = itertools.count()


class Codegen:
    """Writes and compiles the Python source of one FunctionGraph.

    Subclasses (profiling, lazy control flow) override ``schedule`` or
    ``emit_node`` to change what each node's code looks like.
    """

    indent = "    "

    def __init__(self, fgraph, spec: CallSpec, funcify=python_funcify, allow_gc=None):
        self.fgraph = fgraph
        self.spec = spec
        self.funcify = funcify
        self.allow_gc = config.allow_gc if allow_gc is None else allow_gc
        self.ns: dict = {"__builtins__": __builtins__}
        self.names: dict = {}
        self.line_nodes: dict[int, tuple] = {}   # body line index -> (node, position)
        self.order: list = []

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

    def thunk_name(self, node, pos: int) -> str:
        name = f"_f{pos}"
        self.ns[name] = self.make_thunk(node)
        return name

    def make_thunk(self, node):
        return self.funcify(node.op, node)

    # -- emission -------------------------------------------------------------
    def schedule(self) -> list:
        return self.fgraph.toposort()

    def call_expr(self, node, pos: int) -> str:
        args = ", ".join(self.name_of(i) for i in node.inputs)
        return f"{self.thunk_name(node, pos)}({args})"

    def assign_targets(self, node) -> str:
        outs = [self.name_of(o) for o in node.outputs]
        if len(outs) == 1:
            return outs[0]
        return ", ".join(outs) + ","

    def emit_node(self, node, pos: int) -> list[str]:
        return [f"{self.assign_targets(node)} = {self.call_expr(node, pos)}"]

    def gc_lines(self, order) -> dict[int, list[str]]:
        """Per node position, the locals that die after it."""
        if not self.allow_gc:
            return {}
        keep = set(self.fgraph.outputs)
        last_use: dict = {}
        for pos, node in enumerate(order):
            for inp in node.inputs:
                if not isinstance(inp, Constant):
                    last_use[inp] = pos
            for out in node.outputs:
                last_use.setdefault(out, pos)
        dead: dict[int, list[str]] = {}
        for var, pos in last_use.items():
            if var not in keep and var in self.names:
                dead.setdefault(pos, []).append(self.names[var])
        return {pos: [f"del {', '.join(sorted(names))}"] for pos, names in dead.items()}

    def body_lines(self) -> list[str]:
        order = self.schedule()
        self.order = order
        for inp in self.fgraph.inputs:
            self.name_of(inp)
        lines: list[str] = []
        emitted = []
        for pos, node in enumerate(order):
            emitted.append(self.emit_node(node, pos))
        dels = self.gc_lines(order)
        for pos, node in enumerate(order):
            for line in emitted[pos]:
                self.line_nodes[len(lines)] = (node, pos)
                lines.append(line)
            lines.extend(dels.get(pos, []))
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
        tb = exc.__traceback__
        frame_line = None
        frame = None
        while tb is not None:
            if tb.tb_frame.f_code is self.code:
                frame_line, frame = tb.tb_lineno, tb.tb_frame
            tb = tb.tb_next
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


class VMLinker:
    """The default linker: generated Python, NumPy and fused kernels per node."""

    name = "vm"
    codegen_class = Codegen

    def __init__(self, allow_gc=None, funcify=None):
        self.allow_gc = allow_gc
        self.funcify = funcify or python_funcify

    def make_function(self, fgraph, spec: CallSpec):
        gen = self.codegen_class(fgraph, spec, funcify=self.funcify, allow_gc=self.allow_gc)
        fn = gen.compile()
        fn.codegen = gen
        return fn

    def __repr__(self):
        return f"{type(self).__name__}()"


class PyLinker(VMLinker):
    """The reference linker: every node runs its ``perform`` (no fast paths)."""

    name = "py"

    def __init__(self, allow_gc=None):
        super().__init__(allow_gc=allow_gc, funcify=perform_thunk)


