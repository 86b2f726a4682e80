"""The IR: Variables, Constants and Apply nodes, and iterative graph walks.

Every walk here uses an explicit stack, so graphs of 100,000 nodes and more never
touch Python's recursion limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from theanine.config import config
from theanine.graph.utils import Scratchpad, capture_user_trace

_ids = itertools.count()


class Node:
    """Base of Apply (and of nothing else): a graph vertex with inputs."""


def _copy_tag(src, dst) -> None:
    """``dst`` gets the attributes of ``src``'s tag, if it has one."""
    tag = src._tag
    if tag is not None and tag.__dict__:
        dst.tag.__dict__.update(tag.__dict__)


class Variable:
    """A symbolic value of a given Type, produced by ``owner`` (or a graph input)."""

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self._id = next(_ids)

    _tag = None     # the tag, once made

    @property
    def tag(self) -> Scratchpad:
        """Free-form annotations (test values, ...), made on first use: most variables
        never get one, and every object less per node is less work for graph building
        and the collector."""
        tag = self._tag
        if tag is None:
            tag = self._tag = Scratchpad()
        return tag

    @tag.setter
    def tag(self, value) -> None:
        self._tag = value

    @property
    def auto_name(self) -> str:
        return f"auto_{self._id}"

    # -- identity ---------------------------------------------------------
    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.owner is not None:
            op = self.owner.op
            if len(self.owner.outputs) == 1:
                return f"{op}.out"
            return f"{op}.{self.index}"
        return f"<{self.type}>"

    def __repr__(self) -> str:
        text = str(self)
        if config.print_test_value and hasattr(self.tag, "test_value"):
            text += f"\n{self.tag.test_value!r}"
        return text

    def clone(self) -> Variable:
        """A new owner-less Variable of the same type and name (tag copied)."""
        cp = self.__class__(self.type, None, None, self.name)
        _copy_tag(self, cp)
        return cp

    def get_parents(self):
        return [self.owner] if self.owner is not None else []

    def eval(self, inputs_to_values: dict | None = None):
        """Compile (once per set of inputs) and evaluate this variable."""
        return _evaluator(self, inputs_to_values or {})

    def dprint(self, **kwargs):
        return _printer(self, **kwargs)

    def _repr_svg_(self):
        """Jupyter shows a Variable as its graph picture (None: no picture)."""
        return _display["svg"](self)

    def _repr_html_(self):
        """Jupyter's interactive view of the graph (None: no view, the picture or text)."""
        return _display["html"](self)

    def _repr_pretty_(self, printer, cycle):
        """IPython's text view: the debugprint tree of a computed Variable."""
        printer.text(repr(self) if cycle else _display["text"](self))

    def get_test_value(self):
        if not hasattr(self.tag, "test_value"):
            raise AttributeError(f"{self} has no test value")
        return self.tag.test_value


class Constant(Variable):
    """A Variable with a fixed value; equal constants are merged by signature."""

    def __init__(self, type, data, name=None):
        super().__init__(type, None, None, name)
        self.data = type.filter(data)

    def signature(self):
        # cached per data object: merge passes ask for it once per pass and client
        cached = self.__dict__.get("_signature")
        if cached is not None and cached[0] is self.data:
            return cached[1]
        sig = (self.type, self.type.value_signature(self.data))
        self._signature = (self.data, sig)
        return sig

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_signature", None)   # may hold a per-process hash
        return state

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        text = str(self.data)
        if len(text) > 20:
            text = text[:17] + "..."
        return text

    def clone(self) -> Constant:
        cp = self.__class__.__new__(self.__class__)
        Variable.__init__(cp, self.type, None, None, self.name)
        cp.data = self.data          # filtered when this constant was made
        _copy_tag(self, cp)
        return cp

    @property
    def value(self):
        return self.data


class Apply(Node):
    """One application of an Op to input Variables, producing output Variables.

    ``tag.trace`` holds the user's frames where the node was built, so errors can
    point at the user's own line.
    """

    def __init__(self, op, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.op = op
        self.inputs = inputs = list(inputs)
        for inp in inputs:
            if not isinstance(inp, Variable):
                pos = next(k for k, v in enumerate(inputs) if v is inp)
                raise TypeError(f"{op}: input {pos} must be a Variable, got "
                                f"{type(inp).__name__}: {inp!r}")
        self.outputs = outputs = list(outputs)
        for pos, out in enumerate(outputs):
            if not isinstance(out, Variable):
                raise TypeError(f"{op}: output {pos} must be a Variable, got {out!r}")
            if out.owner is None:
                out.owner, out.index = self, pos
            elif out.owner is not self or out.index != pos:
                raise ValueError(f"{op}: output {pos} already belongs to another node")
        self.tag = Scratchpad()
        self.tag.trace = capture_user_trace()

    def __str__(self) -> str:
        return f"{self.op}({', '.join(str(i) for i in self.inputs)})"

    __repr__ = __str__

    @property
    def out(self) -> Variable:
        """The op's default output."""
        do = getattr(self.op, "default_output", None)
        if do is not None:
            return self.outputs[do]
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs; pick one explicitly")
        return self.outputs[0]

    default_output = out

    @property
    def nin(self) -> int:
        return len(self.inputs)

    @property
    def nout(self) -> int:
        return len(self.outputs)

    def get_parents(self):
        return list(self.inputs)

    def clone(self) -> Apply:
        """A copy with the same inputs and fresh outputs."""
        cp = Apply.__new__(Apply)
        cp.op = self.op
        cp.inputs = list(self.inputs)
        cp.tag = Scratchpad()
        cp.tag.__dict__.update(self.tag.__dict__)
        cp.outputs = []
        for pos, out in enumerate(self.outputs):
            new = out.clone()
            new.owner, new.index = cp, pos
            cp.outputs.append(new)
        return cp

    def clone_with_new_inputs(self, inputs: Sequence[Variable], strict: bool = True) -> Apply:
        """Same op on new inputs; with ``strict=False`` the op may re-infer types."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"{self.op}: expected {len(self.inputs)} inputs, got {len(inputs)}")
        same_types = all(a.type == b.type for a, b in zip(inputs, self.inputs))
        if same_types or strict:
            if strict and not same_types:
                for pos, (a, b) in enumerate(zip(inputs, self.inputs)):
                    if a.type != b.type:
                        raise TypeError(
                            f"{self.op}: new input {pos} has type {a.type}, expected {b.type}"
                        )
            cp = self.clone()
            cp.inputs = list(inputs)
            return cp
        node = self.op.make_node(*inputs)
        node.tag.update(self.tag)
        return node


# -- walks -------------------------------------------------------------------


def _as_list(x) -> list:
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def ancestors(outputs: Iterable[Variable], blockers: Iterable[Variable] | None = None
              ) -> Iterator[Variable]:
    """Every Variable the outputs depend on (outputs included), depth-first."""
    blocked = set(blockers or ())
    seen: set[int] = set()
    stack = list(reversed(_as_list(outputs)))
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        yield var
        if var.owner is not None and var not in blocked:
            stack.extend(reversed(var.owner.inputs))


def graph_inputs(outputs, blockers=None) -> list[Variable]:
    """The owner-less Variables (and blockers) the outputs depend on, in walk order."""
    blocked = set(blockers or ())
    result: list[Variable] = []
    seen: set = set()
    stack = list(reversed(_as_list(outputs)))
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        owner = var.owner
        if owner is None or var in blocked:
            result.append(var)
        else:
            stack.extend(reversed(owner.inputs))
    return result


def vars_between(ins, outs) -> list[Variable]:
    return list(ancestors(outs, ins))


def io_toposort(inputs: Iterable[Variable], outputs: Iterable[Variable],
                orderings: dict | None = None) -> list[Apply]:
    """Apply nodes between inputs and outputs, each after the nodes it depends on.

    ``orderings`` maps a node to extra nodes that must run before it.
    Deterministic: outputs and inputs are visited in order, depth first.
    """
    blocked = set(inputs)
    orderings = orderings or None
    order: list[Apply] = []
    place = order.append
    state: dict = {}  # node -> 1 while being expanded, 2 when placed
    get = state.get
    for out in _as_list(outputs):
        root = out.owner
        if root is None or out in blocked or root in state:
            continue
        # Iterative DFS: a node is expanded (its unplaced deps pushed, first input on
        # top) the first time it reaches the top of the stack and placed the second.
        # Written for speed: every pass of the compiler sorts the graph at least once.
        stack = [root]
        push, pop = stack.append, stack.pop
        while stack:
            node = stack[-1]
            st = get(node)
            if st is not None:
                pop()
                if st == 1:
                    state[node] = 2
                    place(node)
                continue
            state[node] = 1
            extra = orderings.get(node) if orderings is not None else None
            if extra:
                deps = [inp.owner for inp in node.inputs
                        if inp.owner is not None and inp not in blocked]
                deps.extend(extra)
                for dep in reversed(deps):
                    dst = get(dep)
                    if dst is None:
                        push(dep)
                    elif dst == 1:
                        raise ValueError(f"the graph has a cycle through {dep}")
                continue
            for inp in reversed(node.inputs):   # the common case, with no list built
                dep = inp.owner
                if dep is None or inp in blocked:
                    continue
                dst = get(dep)
                if dst is None:
                    push(dep)
                elif dst == 1:
                    raise ValueError(f"the graph has a cycle through {dep}")
    return order


def toposort(outputs) -> list[Apply]:
    return io_toposort([], outputs)


def applys_between(ins, outs) -> list[Apply]:
    return io_toposort(ins, outs)


def clone_get_equiv(inputs: Sequence[Variable], outputs: Sequence[Variable],
                    copy_inputs: bool = True, copy_orphans: bool = True,
                    memo: dict | None = None, order: list | None = None) -> dict:
    """Clone the graph between inputs and outputs; return the old->new map.

    ``order``: ``io_toposort(inputs, outputs)`` when the caller has it already.
    """
    equiv = {} if memo is None else memo
    for inp in inputs:
        if inp not in equiv:
            equiv[inp] = inp.clone() if copy_inputs else inp
    for node in io_toposort(inputs, outputs) if order is None else order:
        new_inputs = []
        for inp in node.inputs:
            if inp not in equiv:
                equiv[inp] = inp.clone() if (copy_orphans and inp.owner is None
                                             and isinstance(inp, Constant)) else inp
            new_inputs.append(equiv[inp])
        new = node.clone()
        new.inputs = new_inputs
        equiv[node] = new
        for old, nv in zip(node.outputs, new.outputs):
            equiv[old] = nv
    for out in outputs:
        if out not in equiv:
            equiv[out] = out.clone() if copy_inputs else out
    return equiv


def clone(inputs, outputs, copy_inputs: bool = True):
    """Return ``(new_inputs, new_outputs)`` of a copy of the graph."""
    equiv = clone_get_equiv(inputs, outputs, copy_inputs=copy_inputs)
    return [equiv[i] for i in inputs], [equiv[o] for o in outputs]


def clone_replace(outputs, replace: dict | Sequence | None = None, strict: bool = True,
                  **kwargs):
    """Copy the graph of ``outputs`` with some Variables replaced by others.

    ``strict``: a replacement must have (or convert to) the type it replaces; when
    False it keeps its own type and the nodes above it are rebuilt for it (their
    ``make_node`` decides the new output types), as Theano's ``rebuild_strict``.
    """
    single = not isinstance(outputs, (list, tuple))
    outs = _as_list(outputs)
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace or [])
    equiv: dict[Any, Variable] = {}
    for old, new in pairs:
        if old.type != new.type:
            conv = old.type.convert_variable(new)
            if conv is None and not strict:
                conv = new
            if conv is None:
                raise TypeError(
                    f"clone_replace: cannot replace {old} of type {old.type} with {new} "
                    f"of type {new.type}"
                )
            new = conv
        equiv[old] = new
    replaced_keys = set(equiv)
    for node in io_toposort(list(replaced_keys), outs):
        new_inputs = [equiv.get(i, i) for i in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        if all(a.type == b.type for a, b in zip(new_inputs, node.inputs)):
            new = node.clone()
            new.inputs = new_inputs
        else:
            new = node.op.make_node(*new_inputs)
            new.tag.update(node.tag)
        for old, nv in zip(node.outputs, new.outputs):
            equiv[old] = nv
    result = [equiv.get(o, o) for o in outs]
    return result[0] if single else result


def is_in_ancestors(node: Apply, candidate: Apply) -> bool:
    """Does ``node`` depend on ``candidate``?"""
    for var in ancestors(node.inputs):
        if var.owner is candidate:
            return True
    return False


def _missing_evaluator(var, inputs):
    raise RuntimeError("theanine.compile is not loaded")


def _missing_printer(var, **kwargs):
    raise RuntimeError("theanine.printing is not loaded")


_evaluator = _missing_evaluator
_printer = _missing_printer


def set_evaluator(fn) -> None:
    """Install ``Variable.eval``'s implementation (registered by the compile layer)."""
    global _evaluator
    _evaluator = fn


def set_printer(fn) -> None:
    """Install ``Variable.dprint``'s implementation (registered by printing)."""
    global _printer
    _printer = fn


_display = {"svg": lambda var: None, "text": repr, "html": lambda var: None}


def set_display(svg, text, html=None) -> None:
    """Install the Jupyter views of Variables: ``svg(var)``, ``text(var)``, ``html(var)``."""
    _display.update(svg=svg, text=text)
    if html is not None:
        _display["html"] = html
