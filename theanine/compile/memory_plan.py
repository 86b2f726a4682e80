"""``memory_plan``: the peak memory a compiled function will need, before running it.

Every value's shape follows from the inputs' shapes through the ops'
``infer_shape`` (the few scalars a shape depends on, such as a loop's length,
are computed from the inputs' values where given, from test values, or from
shared values); its size is ``prod(shape) * itemsize``.  Walking the schedule
the generated code runs, with its ``del`` after each value's last read, and
counting an output that is a view of an input or overwrites it (``view_map``,
``destroy_map``) as that input's memory, gives the live bytes after each node
and their peak: what ``profile_memory`` measures as "peak as executed" (memory
the function allocates; its inputs and shared values are not counted).  With the
lazy linker, nodes only one ``ifelse`` branch needs run inside it (as the
emitter writes them), so the branch the condition picks is followed when the
condition's inputs are given, and otherwise the branch needing more memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theanine.compile.profiling_memory import _aliased_input, format_bytes
from theanine.config import config
from theanine.graph.basic import Constant, Variable
from theanine.graph.utils import user_line
from theanine.ifelse import IfElse
from theanine.link.lazy import ELSE, THEN, branch_contexts, group_by_context
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


def _codegen_facts(fn) -> tuple[list, bool, bool]:
    """The schedule the generated code runs, whether ifelse is lazy, whether it ``del``s."""
    codegen = getattr(fn.fn, "codegen", None)
    order = list(getattr(codegen, "order", None) or fn.maker.fgraph.toposort())
    lazy = getattr(codegen, "lazy", None)
    if lazy is None:
        lazy = getattr(getattr(fn.maker.linker, "codegen_class", None), "lazy", False)
    allow_gc = getattr(codegen, "allow_gc", None)
    if allow_gc is None:
        linker_gc = getattr(fn.maker.linker, "allow_gc", None)
        allow_gc = config.allow_gc if linker_gc is None else linker_gc
    return order, bool(lazy), bool(allow_gc)


def _entries(fgraph, order, lazy: bool) -> list:
    """What the generated code does, in text order: ``(kind, what, reads, context)`` with
    kind ``node``, ``if`` or ``alias`` (a branch result bound to the ifelse's output);
    with a lazy linker, nodes needed by one branch only sit inside it (``link/lazy.py``)."""
    if not lazy:
        return [("node", node, _reads(node), ()) for node in order]
    return _group_entries(group_by_context(order, branch_contexts(fgraph, order)), ())


def _reads(node) -> list:
    return [i for i in node.inputs if not isinstance(i, Constant)]


def _group_entries(groups, context) -> list:
    """The entries of one context (recursing into branches: as deep as ifelses nest)."""
    found: list = []
    for node in groups.get(context, ()):
        if not isinstance(node.op, IfElse):
            found.append(("node", node, _reads(node), context))
            continue
        found.append(("if", node, [], context))
        n = node.op.n_outs
        for branch, values in ((THEN, node.inputs[1:1 + n]), (ELSE, node.inputs[1 + n:])):
            inner = context + ((node, branch),)
            found.extend(_group_entries(groups, inner))
            for out, value in zip(node.outputs, values):
                reads = [] if isinstance(value, Constant) else [value]
                found.append(("alias", (out, value), reads, inner))
    return found


def _simulate(entries, frees, nbytes, taken) -> tuple[int, int, list]:
    """Peak live bytes running the entries whose context ``taken`` accepts."""
    storage: dict = {}            # variable -> storage id (absent: not allocated here)
    holders: dict = {}            # storage id -> [bytes, variables sharing it]
    live = peak = 0
    peak_at, alive = 0, []
    for idx, (kind, what, _, context) in enumerate(entries):
        if not taken(context):
            continue
        if kind == "node":
            node = what
            for j, out in enumerate(node.outputs):
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
            if live > peak or not alive:
                peak, peak_at = live, idx
                alive = sorted(((h[1][0], h[0]) for h in holders.values() if h[1]),
                               key=lambda item: -item[1])
        elif kind == "alias":
            out, value = what
            sid = storage.get(value)
            if sid is not None:
                storage[out] = sid
                holders[sid][1].append(out)
        for var in frees.get(idx, ()):
            sid = storage.pop(var, None)
            if sid is None:
                continue
            holder = holders[sid]
            holder[1].remove(var)
            if not holder[1]:
                live -= holder[0]
    return peak, peak_at, alive


def memory_plan(fn, **inputs) -> MemoryPlan:
    """Peak memory ``fn`` will allocate, and what is alive at the peak, without running it.

    Name each input: a tuple is its shape (``x=(1000, 784)``), anything else its value
    (``k=10``, for inputs a shape depends on, e.g. a loop length, or an ifelse's
    condition).  Inputs left out use their test value or, when fully known, their
    static shape; shared variables their current value.  An ifelse whose condition is
    not known counts the branch that needs more memory.
    """
    fgraph = fn.maker.fgraph
    shapes, values = _known_inputs(fn, inputs)
    order, lazy, allow_gc = _codegen_facts(fn)
    known = _Shapes(fgraph, shapes, values)
    for node in order:
        known.infer(node)
    nbytes = {out: _nbytes(out, known.shapes.get(out)) for node in order for out in node.outputs}
    entries = _entries(fgraph, order, lazy)
    last_read: dict = {}
    for idx, (_, _, reads, _) in enumerate(entries):
        for var in reads:
            last_read[var] = idx
    keep = set(fgraph.outputs)
    frees: dict = {}
    if allow_gc:
        for var, idx in last_read.items():
            if var not in keep:
                frees.setdefault(idx, []).append(var)
    choices = _branch_choices(entries, known)
    best = None
    for chosen in choices:
        def taken(context, chosen=chosen):
            return all(chosen[node] == branch for node, branch in context)
        result = _simulate(entries, frees, nbytes, taken)
        if best is None or result[0] > best[0]:
            best = result
    peak, peak_at, alive = best
    node = entries[peak_at][1] if entries else None
    step = order.index(node) if node in order else 0
    return MemoryPlan(peak, step, alive, order, dict(known.shapes), nbytes)


MAX_UNKNOWN_CONDITIONS = 8     # 2**8 walks of the schedule at most


def _branch_choices(entries, known) -> list[dict]:
    """Each ifelse's branch: from its condition's value where known, else every combination."""
    fixed, unknown = {}, []
    for kind, node, _, _ in entries:
        if kind != "if":
            continue
        try:
            fixed[node] = THEN if bool(np.asarray(known.value(node.inputs[0]))) else ELSE
        except MemoryPlanError:
            unknown.append(node)
    if len(unknown) > MAX_UNKNOWN_CONDITIONS:
        raise MemoryPlanError(f"{len(unknown)} ifelse conditions depend on input values "
                              "not given: pass the inputs they depend on")
    choices = []
    for bits in range(2 ** len(unknown)):
        chosen = dict(fixed)
        for k, node in enumerate(unknown):
            chosen[node] = ELSE if bits >> k & 1 else THEN
        choices.append(chosen)
    return choices
