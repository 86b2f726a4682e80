"""Writing a scheduled graph as Numba source: one njit function, or njit segments
around call-outs.

``JitBodyEmitter`` reuses the backend-neutral emitter (``link/emitter.py``) to
write the body of one ``njit`` function: every node a call of its
``numba_funcify`` function, each lazy ``IfElse`` a native ``if`` (only the
taken branch's nodes run), nothing deleted (Numba frees arrays itself).  It
writes whole functions (``linker.py``) and loop bodies (``scan.py``).

When some node has no Numba form, ``SegmentedEmitter`` writes a Python function
instead, like the default engine's, in which each run of consecutive
Numba-able nodes is one ``njit`` segment and each other node an explicit call
of the default engine's thunk (a *call-out*, timed and counted for
``profile``).  ``IfElse`` stays a lazy Python ``if`` there.  Numba's object mode
is never used.

At every boundary between Python and compiled code a 0-d tensor is a 0-d
NumPy array outside and a Numba scalar inside (see ``dispatch.py``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.link.callspec import ArgSpec, CallSpec
from theanine.link.emitter import Emitter
from theanine.link.numba.inline import inline_statements
from theanine.tensor.type import TensorType


def is_0d_tensor(var) -> bool:
    return isinstance(var.type, TensorType) and var.type.ndim == 0


def constant_value(var):
    """A constant as the compiled code sees it (a 0-d tensor: a NumPy scalar)."""
    data = np.asarray(var.data) if isinstance(var.type, TensorType) else var.data
    if isinstance(var.type, TensorType):
        data = np.asarray(data, dtype=var.type.dtype)
        return data[()] if data.ndim == 0 else data
    return np.dtype(var.type.dtype).type(data)


class NamedGlobals:
    """The module-level names of node functions and constants, shared by every
    njit function written for one graph (they live in one module)."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.values: dict = {}      # global name -> value
        self.count = 0

    def add(self, kind: str, value) -> str:
        name = f"_{kind}{self.prefix}{self.count}"
        self.count += 1
        self.values[name] = value
        return name


class JitBodyEmitter(Emitter):
    """The body of one njit function over ``fgraph`` (see the module docstring)."""

    def __init__(self, fgraph, thunks: dict, names: NamedGlobals, nodes=None,
                 destinations=None):
        self.thunks = thunks            # node -> njit function
        self.globals = names
        self.only = nodes
        # node -> the name of a buffer its function writes its result into (its last
        # argument; a parameter of the function written here)
        self.destinations = destinations or {}
        super().__init__(fgraph, _bare_spec(fgraph), funcify=None, allow_gc=False)
        self.names = {}

    def name_of(self, var) -> str:
        name = self.names.get(var)
        if name is None:
            if isinstance(var, Constant):
                name = self.globals.add("k", constant_value(var))
            else:
                name = f"v{len(self.names)}"
            self.names[var] = name
        return name

    def call_expr(self, node, pos: int) -> str:
        fname = self.globals.add("f", self.thunks[node])
        args = [self.name_of(i) for i in node.inputs]
        if node in self.destinations:
            args.append(self.destinations[node])
        return f"{fname}({', '.join(args)})"

    def emit_node(self, node, pos: int) -> list[str]:
        """The node's function body written in place where it can be (``inline.py``),
        else a call of its function."""
        src = getattr(self.thunks[node], "inline_source", None)
        if src is not None:
            args = [self.name_of(i) for i in node.inputs]
            if node in self.destinations:
                args.append(self.destinations[node])
            lines = inline_statements(src, args, self.assign_targets(node), f"_n{pos}")
            if lines is not None:
                return lines
        return super().emit_node(node, pos)

    def function_source(self, fn_name: str, inputs, outputs, boundary: bool) -> str:
        """``def fn_name(inputs): body; return (outputs,)``; with ``boundary`` the 0-d
        tensor inputs arrive as 0-d arrays and become scalars first."""
        for var in inputs:
            self.name_of(var)
        body = self.body_lines()
        params = [self.name_of(v) for v in inputs] + list(self.destinations.values())
        lines = [f"def {fn_name}({', '.join(params)}):"]
        if boundary:
            lines += [f"    {p} = {p}[()]" for p, v in zip(params, inputs) if is_0d_tensor(v)]
        lines += ["    " + b for b in body]
        outs = "".join(f"{self.name_of(o)}, " for o in outputs)
        lines.append(f"    return ({outs})")
        return "\n".join(lines) + "\n"

    def schedule(self):
        order = self.fgraph.toposort()
        return order if self.only is None else [n for n in order if n in self.only]


def _bare_spec(fgraph):
    return CallSpec(args=[ArgSpec(None, v.type) for v in fgraph.inputs],
                    input_sources=[("arg", k) for k in range(len(fgraph.inputs))],
                    n_outputs=len(fgraph.outputs), copy_outputs=[False] * len(fgraph.outputs),
                    update_containers=[], check_inputs=False)


def to_python(value, var):
    """A value leaving compiled code as the default engine holds it."""
    if isinstance(var.type, TensorType):
        return np.asarray(value, dtype=var.type.dtype) if var.type.ndim == 0 else value
    return np.dtype(var.type.dtype).type(value) if hasattr(var.type, "dtype") else value


class SegmentedEmitter(Emitter):
    """A Python function: njit segments for runs of Numba-able nodes, call-outs for
    the others (see the module docstring)."""

    def __init__(self, fgraph, spec, thunks: dict, callouts: dict, names: NamedGlobals):
        super().__init__(fgraph, spec, funcify=None)
        self.thunks = thunks          # node -> njit function (Numba-able nodes)
        self.callouts = callouts      # node -> Python thunk
        self.globals = names
        self.segments: list = []      # (name, source)
        self.ns["_to_python"] = to_python

    def make_thunk(self, node):
        return self.callouts[node]

    def source(self) -> str:
        # written once: the segments are collected while writing
        if getattr(self, "_source", None) is None:
            self._source = super().source()
        return self._source

    def _emit_group(self, context, groups, depth, entries) -> None:
        run: list = []
        for node in groups.get(context, ()):
            if node in self.thunks:
                run.append(node)
                continue
            self._flush(run, depth, entries)
            run = []
            super()._emit_group(context, {context: [node]}, depth, entries) \
                if not self.block_emitters.get(type(node.op)) else \
                self._emit_block(node, context, groups, depth, entries)
        self._flush(run, depth, entries)

    def _emit_block(self, node, context, groups, depth, entries):
        pos = self.positions[node]
        getattr(self, self.block_emitters[type(node.op)])(node, pos, context, groups, depth,
                                                         entries)

    def _flush(self, run, depth, entries) -> None:
        if not run:
            return
        inside = set(run)
        produced = {o for n in run for o in n.outputs}
        inputs, seen = [], set()
        for n in run:
            for i in n.inputs:
                if i not in produced and not isinstance(i, Constant) and i not in seen:
                    seen.add(i)
                    inputs.append(i)
        keep = set(self.fgraph.outputs)
        outputs = [o for n in run for o in n.outputs
                   if o in keep or any(not isinstance(c, str) and c not in inside
                                       for c, _ in self.fgraph.clients.get(o, ()))]
        name = f"seg{len(self.segments)}"
        body = JitBodyEmitter(self.fgraph, self.thunks, self.globals, nodes=inside)
        body.lazy = False
        self.segments.append((name, body.function_source(name, inputs, outputs, True)))
        self.ns[f"_out_{name}"] = outputs
        args = ", ".join(self.name_of(i) for i in inputs)
        targets = "".join(f"{self.name_of(o)}, " for o in outputs) or "_"
        entries.append((depth, f"{targets} = _{name}({args})", run[0], inputs))
        for k, o in enumerate(outputs):
            if not isinstance(o.type, TensorType) or o.type.ndim == 0:
                entries.append((depth, f"{self.name_of(o)} = _to_python({self.name_of(o)}, "
                                       f"_out_{name}[{k}])", run[0], []))


__all__ = ["JitBodyEmitter", "NamedGlobals", "SegmentedEmitter", "constant_value",
           "is_0d_tensor", "to_python"]
