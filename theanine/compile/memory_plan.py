"""``memory_plan``: the peak memory a compiled function will need, before running it.

Every value's shape follows from the inputs' shapes through the ops'
``infer_shape`` (the few scalars a shape depends on, such as a loop's length,
are computed from the inputs' values where given, from test values, or from
shared values); its size is ``prod(shape) * itemsize``.  Walking the schedule
the generated code runs, with its ``del`` after each value's last read, and
counting an output that is a view of an input or overwrites it (``view_map``,
``destroy_map``) as that input's memory, gives the live bytes after each node
and their peak: what ``profile_memory`` measures as "peak as executed" (memory
the function allocates; its inputs and shared values are not counted).  A lazy
``ifelse`` is counted as if both branches ran: an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theanine.compile.profiling_memory import _aliased_input, format_bytes
from theanine.graph.basic import Constant, Variable, io_toposort
from theanine.graph.utils import user_line
from theanine.tensor.shape import Shape, ShapeI
from theanine.tensor.type import TensorType


class MemoryPlanError(ValueError):
    """A shape the plan needs cannot be known without running the function."""


@dataclass
class MemoryPlan:
    """The plan: ``peak`` bytes, reached after node ``peak_step`` of ``order``, with
    ``alive`` the ``(variable, bytes)`` held then, largest first."""

    peak: int
    peak_step: int
    alive: list
    order: list
    shapes: dict = field(repr=False)
    nbytes: dict = field(repr=False)

    def __str__(self) -> str:
        lines = [f"peak {format_bytes(self.peak)} after step {self.peak_step} "
                 f"({self.order[self.peak_step].op if self.order else 'no nodes'}); "
                 f"{len(self.alive)} value(s) alive then:"]
        for var, size in self.alive:
            where = user_line(getattr(var.owner.tag, "trace", ())) if var.owner else ""
            lines.append(f"  {format_bytes(size):>10}  {var} {self.shapes.get(var)} "
                         f"[{where}]")
        return "\n".join(lines)

    __repr__ = __str__


def _nbytes(var, shape) -> int:
    dtype = getattr(var.type, "dtype", None)
    if dtype is None:
        return 0
    itemsize = np.dtype(dtype).itemsize
    if shape is None:
        return itemsize if not isinstance(var.type, TensorType) else 0
    return int(np.prod(shape, dtype=np.int64)) * itemsize


class _Shapes:
    """Concrete shapes and the few values they depend on."""

    def __init__(self, fgraph, shapes: dict, values: dict):
        self.fgraph = fgraph
        self.shapes = shapes
        self.values = values

    def value(self, var):
        """Evaluate a (small, shape-like) variable from known shapes and values."""
        stack = [var]
        while stack:
            v = stack[-1]
            if v in self.values:
                stack.pop()
                continue
            if isinstance(v, Constant):
                self.values[v] = v.data
                stack.pop()
                continue
            node = v.owner
            if node is None:
                raise MemoryPlanError(f"a shape depends on the value of input {v}: pass it "
                                      f"(memory_plan(f, {v.name or 'name'}=value)) or give "
                                      "it a test value")
            if isinstance(node.op, (Shape, ShapeI)) and node.inputs[0] in self.shapes:
                shape = self.shapes[node.inputs[0]]
                self.values[v] = np.asarray(shape if isinstance(node.op, Shape)
                                            else shape[node.op.i], dtype=v.dtype)
                stack.pop()
                continue
            missing = [i for i in node.inputs if i not in self.values]
            if missing:
                stack.extend(missing)
                continue
            storage = [[None] for _ in node.outputs]
            node.op.perform(node, [self.values[i] for i in node.inputs], storage)
            for out, (val,) in zip(node.outputs, storage):
                self.values[out] = val
            stack.pop()
        return self.values[var]

    def entry(self, item) -> int:
        if isinstance(item, (int, np.integer)):
            return int(item)
        if isinstance(item, Variable):
            return int(self.value(item))
        return int(item)

    def infer(self, node) -> None:
        in_shapes = [np.shape(i.data) if isinstance(i, Constant) and
                     isinstance(i.type, TensorType) else self.shapes.get(i)
                     for i in node.inputs]
        try:
            out_shapes = node.op.infer_shape(self.fgraph, node, in_shapes)
        except Exception as exc:  # noqa: BLE001  (no or partial infer_shape: static shapes)
            out_shapes = [getattr(o.type, "shape", None) for o in node.outputs]
            if any(s is None or None in s for s, o in zip(out_shapes, node.outputs)
                   if isinstance(o.type, TensorType)):
                raise MemoryPlanError(
                    f"cannot know the output shape of {node.op} (built at "
                    f"{user_line(getattr(node.tag, 'trace', ()))}) before running: "
                    f"{type(exc).__name__}: {exc}") from exc
        for out, shape in zip(node.outputs, out_shapes):
            if isinstance(out.type, TensorType) and shape is not None:
                self.shapes[out] = tuple(self.entry(e) for e in shape)


def _known_inputs(fn, given: dict) -> tuple[dict, dict]:
    """Shapes and values of the function's inputs: given by name, test values, shared."""
    fgraph = fn.maker.fgraph
    n_args = len(fn.maker.inputs)
    names = {item.name or f"input{pos}": fgraph.inputs[pos]
             for pos, item in enumerate(fn.maker.inputs)}
    unknown = set(given) - set(names)
    if unknown:
        raise TypeError(f"memory_plan: no input named {', '.join(sorted(unknown))}; the "
                        f"inputs are {', '.join(names)}")
    shapes, values = {}, {}
    for pos, item in enumerate(fn.maker.inputs):
        if hasattr(item.variable.tag, "test_value"):
            values[fgraph.inputs[pos]] = np.asarray(item.variable.tag.test_value)
    shared = [src[1][0] for src in fn.maker.spec.input_sources if src[0] == "shared"]
    for var, value in zip(fgraph.inputs[n_args:], shared):     # shared values follow
        values[var] = value
    for name, item in given.items():
        if isinstance(item, tuple):
            shapes[names[name]] = tuple(int(d) for d in item)
        else:
            values[names[name]] = np.asarray(item)
    for var, val in values.items():
        if isinstance(var.type, TensorType):
            shapes.setdefault(var, tuple(np.shape(val)))
    for pos, var in enumerate(fgraph.inputs[:n_args]):
        if isinstance(var.type, TensorType) and var not in shapes:
            if None in var.type.shape:
                raise MemoryPlanError(
                    f"memory_plan needs the shape of input {pos} ({var}): pass "
                    f"{var.name or 'name'}=(...) or give it a test value")
            shapes[var] = tuple(var.type.shape)
    return shapes, values


def schedule_of(fn) -> list:
    """The order the generated code runs the nodes in."""
    codegen = getattr(fn.fn, "codegen", None)
    return list(getattr(codegen, "order", None) or fn.maker.fgraph.toposort())


def memory_plan(fn, **inputs) -> MemoryPlan:
    """Peak memory ``fn`` will allocate, and what is alive at the peak, without running it.

    Name each input: a tuple is its shape (``x=(1000, 784)``), anything else its value
    (``k=10``, for inputs a shape depends on, e.g. a loop length).  Inputs left out
    use their test value or, when fully known, their static shape; shared variables
    their current value.
    """
    fgraph = fn.maker.fgraph
    shapes, values = _known_inputs(fn, inputs)
    order = schedule_of(fn)
    known = _Shapes(fgraph, shapes, values)
    for node in order:
        known.infer(node)
    for node in io_toposort(fgraph.inputs, fgraph.outputs):
        if node not in order:                                 # not in this schedule
            known.infer(node)
    last_read: dict = {}
    for pos, node in enumerate(order):
        for inp in node.inputs:
            if not isinstance(inp, Constant):
                last_read[inp] = pos
    keep = set(fgraph.outputs)
    frees: dict = {}
    for var, pos in last_read.items():
        if var not in keep:
            frees.setdefault(pos, []).append(var)
    nbytes = {}
    storage: dict = {}            # variable -> storage id (absent: not allocated here)
    holders: dict = {}            # storage id -> [bytes, variables sharing it]
    live = peak = 0
    peak_step, alive = 0, []
    for pos, node in enumerate(order):
        for j, out in enumerate(node.outputs):
            nbytes[out] = _nbytes(out, known.shapes.get(out))
            source = _aliased_input(node, j)
            if source is not None:
                sid = storage.get(source)
                if sid is not None:
                    storage[out] = sid
                    holders[sid][1].append(out)
                continue
            sid = len(holders)
            storage[out] = sid
            holders[sid] = [nbytes[out], [out]]
            live += nbytes[out]
        if live > peak or pos == 0:
            peak, peak_step = live, pos
            alive = sorted(((h[1][0], h[0]) for h in holders.values() if h[1]),
                           key=lambda item: -item[1])
        for var in frees.get(pos, ()):
            sid = storage.pop(var, None)
            if sid is None:
                continue
            holder = holders[sid]
            holder[1].remove(var)
            if not holder[1]:
                live -= holder[0]
    return MemoryPlan(peak, peak_step, alive, order, dict(known.shapes), nbytes)
