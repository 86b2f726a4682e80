"""What every tensor rewrite needs: reading constants, matching patterns, checking types.

Kept in one place so the rules stay a few lines each and agree on what "the constant
1" means: a Constant whose entries all equal 1, possibly behind the ``DimShuffle{x,..}``
that broadcasting puts around a Python number.

Patterns are nested tuples ``(head, *args)``: ``head`` is a ScalarOp instance (an
Elemwise of it), an Op instance or an Op class; ``args`` are patterns, names (``"x"``,
the same name must bind the same Variable), ``Var("x", predicate)`` or numbers (a
constant of that value).  Commutative binary scalar ops match in either order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import register_rule
from theanine.graph.rewriting.reasons import decline, reasons_wanted
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import DimShuffle, Elemwise, elemwise_op
from theanine.tensor.type import TensorType

_NUMBERS = (bool, int, float, np.number, np.bool_)

# -- constants -------------------------------------------------------------------------


def constant_array(var: Variable):
    """The value of ``var`` if it is a Constant behind zero or more DimShuffles, else None."""
    chain = []
    while var.owner is not None and isinstance(var.owner.op, DimShuffle):
        chain.append(var.owner.op)
        var = var.owner.inputs[0]
    if not isinstance(var, Constant) or not isinstance(var.type, TensorType):
        return None
    data = np.asarray(var.data)
    for op in reversed(chain):
        data = op.apply(data)
    return data


def constant_value(var: Variable):
    """The one value of a constant whose entries are all equal (see ``constant_array``)."""
    data = constant_array(var)
    if data is None or data.size == 0:
        return None
    first = data.flat[0]
    if data.size > 1 and not np.all(data == first):
        return None
    return first


def is_constant_value(var: Variable, value) -> bool:
    """True when every entry of the constant ``var`` equals ``value``."""
    found = constant_value(var)
    return found is not None and bool(found == value)


def make_constant(value, like: Variable):
    """A constant of ``like``'s dtype and ndim (size-1 axes), for rebuilding graphs."""
    arr = np.asarray(value, dtype=like.dtype)
    if arr.ndim < like.ndim:
        arr = arr.reshape((1,) * (like.ndim - arr.ndim) + arr.shape)
    return tb.constant(arr)


# -- elementwise structure ---------------------------------------------------------------


def scalar_op_of(var: Variable):
    """The ScalarOp of the (not in-place) Elemwise computing ``var``, else None."""
    owner = var.owner
    if owner is None or type(owner.op) is not Elemwise or owner.op.inplace_pattern:
        return None
    return owner.op.scalar_op


def is_elemwise(var: Variable, *scalar_ops) -> bool:
    """True when ``var`` is computed by an Elemwise of one of ``scalar_ops`` (instances)."""
    op = scalar_op_of(var)
    return op is not None and op in scalar_ops


def single_client(fgraph, var: Variable) -> bool:
    """True when ``var`` feeds exactly one node (so rewriting it duplicates nothing)."""
    clients = fgraph.clients.get(var, ())
    return len(clients) == 1 and clients[0][0] != "output"


_NONNEG = (ts.Exp, ts.Exp2, ts.Sqrt, ts.Sqr, ts.Abs, ts.Softplus, ts.Sigmoid, ts.Cosh)


def known_nonnegative(var: Variable) -> bool:
    """Provably ``>= 0`` everywhere (or NaN where the input is NaN)."""
    data = constant_array(var)
    if data is not None:
        return data.dtype.kind in "biuf" and bool(np.all(data >= 0))
    return isinstance(scalar_op_of(var), _NONNEG)


def known_nonzero(var: Variable) -> bool:
    """Provably nonzero: nonzero constants, ``cosh``, ``nonnegative + positive constant``."""
    data = constant_array(var)
    if data is not None:
        return bool(np.all(data != 0))
    op = scalar_op_of(var)
    if isinstance(op, ts.Cosh):
        return True
    if isinstance(op, ts.Add):
        a, b = var.owner.inputs
        for p, q in ((a, b), (b, a)):
            c = constant_array(q)
            if c is not None and bool(np.all(c > 0)) and known_nonnegative(p):
                return True
    return False


# -- types ------------------------------------------------------------------------------


def fits(new: Variable, old: Variable) -> bool:
    """``new`` may replace ``old``: same dtype and ndim, and the same run-time shape.

    A static size of 1 in ``new`` where ``old`` has another size or None would mean a
    dropped operand was broadcasting ``new`` up, so that is refused.
    """
    nt, ot = new.type, old.type
    if nt == ot:
        return True
    if not isinstance(nt, TensorType) or not isinstance(ot, TensorType):
        return False
    if nt.dtype != ot.dtype or nt.ndim != ot.ndim:
        return False
    return all(n == o or (o is None and n is not None and n != 1)
               for n, o in zip(nt.shape, ot.shape))


def as_replacement(new: Variable, old: Variable):
    """``new`` adjusted to replace ``old`` (padded with broadcast axes, cast when the cast
    loses nothing), or None when it cannot keep ``old``'s type and shape."""
    if not isinstance(new.type, TensorType) or not isinstance(old.type, TensorType):
        return new if new.type == old.type else None
    if new.ndim < old.ndim:
        new = DimShuffle(new.ndim, ("x",) * (old.ndim - new.ndim) + tuple(range(new.ndim)))(new)
    if new.dtype != old.dtype:
        if not np.can_cast(new.dtype, old.dtype, "safe"):
            return None
        new = tb.cast(new, old.dtype)
    return new if fits(new, old) else None


# -- patterns ----------------------------------------------------------------------------


class Var:
    """A named pattern leaf with a predicate: ``Var("x", known_nonnegative)``."""

    def __init__(self, name: str, predicate: Callable | None = None):
        self.name = name
        self.predicate = predicate

    def __repr__(self):
        return self.name


def _head_matches(head, var: Variable) -> bool:
    owner = var.owner
    if owner is None:
        return False
    if isinstance(head, ts.ScalarOp):
        op = scalar_op_of(var)
        return type(op) is type(head) and (not head.__props__ or op == head)
    if isinstance(head, type):
        if issubclass(head, ts.ScalarOp):
            return isinstance(scalar_op_of(var), head)
        return isinstance(owner.op, head)
    return owner.op == head


def _bind(bindings: dict, name: str, var: Variable) -> bool:
    seen = bindings.get(name)
    if seen is None:
        bindings[name] = var
        return True
    return seen is var


def match(var: Variable, pattern, bindings: dict | None = None) -> dict | None:
    """Bindings ``{name: Variable}`` if ``var`` has the shape of ``pattern``, else None."""
    bindings = {} if bindings is None else bindings
    if type(pattern) is tuple:
        return _match_node(var, pattern, bindings)
    if isinstance(pattern, str):
        return bindings if _bind(bindings, pattern, var) else None
    if isinstance(pattern, Var):
        if pattern.predicate is not None and not pattern.predicate(var):
            return None
        return bindings if _bind(bindings, pattern.name, var) else None
    if isinstance(pattern, _NUMBERS):
        return bindings if is_constant_value(var, pattern) else None
    raise TypeError(f"not a pattern: {pattern!r}")


def _match_node(var: Variable, pattern: tuple, bindings: dict) -> dict | None:
    head, *args = pattern
    if not _head_matches(head, var):
        return None
    inputs = var.owner.inputs
    if len(inputs) != len(args):
        return None
    orders = [inputs]
    if len(inputs) == 2 and getattr(scalar_op_of(var), "commutative", False):
        orders.append(inputs[::-1])
    for ins in orders:
        trial = dict(bindings)
        for inp, sub in zip(ins, args):
            if match(inp, sub, trial) is None:
                break
        else:
            bindings.update(trial)
            return bindings
    return None


def build(template, bindings: dict, like: Variable) -> Variable:
    """Make the graph ``template`` describes; numbers become constants of ``like``'s dtype."""
    if isinstance(template, str):
        return bindings[template]
    if isinstance(template, Var):
        return bindings[template.name]
    if isinstance(template, _NUMBERS):
        return tb.constant(np.asarray(template, dtype=like.dtype))
    if callable(template):
        return template(**bindings)
    head, *args = template
    ins = [build(a, bindings, like) for a in args]
    if isinstance(head, ts.ScalarOp):
        return elemwise_op(head)(*ins)
    return head(*ins)


def describe(pattern) -> str:
    if isinstance(pattern, tuple):
        head = pattern[0]
        name = head.name if isinstance(head, ts.ScalarOp) else getattr(head, "__name__", head)
        return f"{name}({', '.join(describe(p) for p in pattern[1:])})"
    if callable(pattern) and not isinstance(pattern, Var):
        return getattr(pattern, "__name__", "fn")
    return str(pattern)


def tracks_of(head) -> list:
    """What a Rule should track for a pattern head (an Elemwise instance for scalar ops)."""
    if isinstance(head, ts.ScalarOp):
        return [elemwise_op(head)]
    if isinstance(head, type) and issubclass(head, ts.ScalarOp):
        return [Elemwise]
    return [head]


class PatternRule(Rule):
    """A declarative rewrite ``in_pattern -> out_pattern`` (see the module docstring).

    ``out_pattern`` may also be a function of the bindings.  A result that cannot keep
    the replaced variable's type (see ``as_replacement``) is dropped, not forced.
    """

    def __init__(self, in_pattern: tuple, out_pattern, name: str | None = None,
                 guard: Callable | None = None, tags=()):
        self.in_pattern = in_pattern
        self.out_pattern = out_pattern
        self.guard = guard
        name = name or f"{describe(in_pattern)} -> {describe(out_pattern)}"
        needs, adjacent = _pattern_needs(in_pattern)
        super().__init__(self._rewrite, tracks_of(in_pattern[0]), name, tags,
                         needs=needs, adjacent=adjacent)
        self._input_tests = _input_tests(in_pattern)

    def _may_match(self, node) -> bool:
        """A necessary condition, looking one level down: each input the pattern names
        a number for may be a constant, each it names an op for is computed by one.
        (``mul(x, 1)`` is tried on every product: most have no constant input.)"""
        tests, inputs = self._input_tests, node.inputs
        if tests is None:
            return True
        if len(inputs) != len(tests):
            return False
        if len(tests) == 2:         # most patterns: written out, no generators
            (ta, tb), (a, b) = tests, inputs
            if (ta is None or ta(a)) and (tb is None or tb(b)):
                return True
            return getattr(node.op.scalar_op, "commutative", False) and \
                (ta is None or ta(b)) and (tb is None or tb(a))
        return all(t is None or t(i) for t, i in zip(tests, inputs))

    def _rewrite(self, fgraph, node):
        out = node.outputs[0]
        if not self._may_match(node) and not reasons_wanted():
            return None
        bindings = match(out, self.in_pattern)
        if bindings is None:
            if reasons_wanted():
                decline(f"{describe(self.in_pattern)} does not match: "
                        f"{mismatch(out, self.in_pattern)}", node)
            return None
        if self.guard is not None and not self.guard(**bindings):
            return decline(f"its condition {getattr(self.guard, '__name__', 'guard')} "
                           "does not hold", node)
        new = as_replacement(build(self.out_pattern, bindings, out), out)
        if new is None:
            return decline("the replacement would not keep the output's type", node)
        return [new]


def _pattern_needs(pattern) -> tuple[tuple, bool]:
    """The kinds of computation (``Op.kinds``) the pattern's inner heads match (the
    pattern matches nowhere in a graph without one of them), and whether they all
    compute inputs of the pattern's root (``Rule.adjacent``)."""
    needs: dict = {}
    adjacent = True
    stack = [arg for arg in pattern[1:] if type(arg) is tuple]
    while stack:
        head, *args = stack.pop()
        needs[head if isinstance(head, type) else type(head)] = None
        deeper = [arg for arg in args if type(arg) is tuple]
        adjacent = adjacent and not deeper
        stack.extend(deeper)
    return tuple(needs), adjacent


def _may_be_constant(var: Variable) -> bool:
    """Whether ``constant_array(var)`` can be a value (a Constant, or a DimShuffle of
    something), without computing it."""
    return isinstance(var, Constant) or (var.owner is not None
                                         and isinstance(var.owner.op, DimShuffle))


def _input_tests(pattern):
    """For a pattern over an Elemwise, one cheap necessary test per input (None: any
    input does); None when no argument constrains its input."""
    if not isinstance(pattern[0], ts.ScalarOp):
        return None
    tests = []
    for arg in pattern[1:]:
        if isinstance(arg, _NUMBERS):
            tests.append(_may_be_constant)
        elif type(arg) is tuple:
            tests.append(lambda var, head=arg[0]: _head_matches(head, var))
        else:
            tests.append(None)
    return tests if any(t is not None for t in tests) else None


def mismatch(var: Variable, pattern, where: str = "the output") -> str:
    """The first place where ``var`` differs from ``pattern`` (for ``explain_rewrite``;
    the matcher itself stays lean)."""
    if type(pattern) is tuple:
        head, *args = pattern
        name = describe((head,))[:-2]
        if not _head_matches(head, var):
            got = "a graph input or constant" if var.owner is None else f"{var.owner.op}"
            return f"{where} is {got}, not {name}"
        inputs = var.owner.inputs
        if len(inputs) != len(args):
            return f"{where} has {len(inputs)} inputs, the pattern {len(args)}"
        for pos, (inp, sub) in enumerate(zip(inputs, args)):
            if match(inp, sub, {}) is None:
                return mismatch(inp, sub, f"input {pos} of {name}")
        return f"{where}: a name is bound to two different variables"
    if isinstance(pattern, Var) and pattern.predicate is not None \
            and not pattern.predicate(var):
        return f"{where} ({var}) is not {getattr(pattern.predicate, '__name__', 'accepted')}"
    if isinstance(pattern, _NUMBERS) and not is_constant_value(var, pattern):
        return f"{where} ({var}) is not the constant {pattern}"
    return f"{where}: a name is bound to two different variables"


def register_pattern(pass_name: str, in_pattern: tuple, out_pattern, name: str | None = None,
                     guard: Callable | None = None, tags=()) -> PatternRule:
    """Register ``in_pattern -> out_pattern`` in a pass: ``(ts.mul, "x", 1) -> "x"``."""
    return register_rule(pass_name, PatternRule(in_pattern, out_pattern, name, guard, tags))


class ElemwiseOf:
    """A rule track: Elemwise nodes (not in-place) whose scalar op is one of ``classes``."""

    def __init__(self, *classes):
        self.classes = classes

    def matches_op(self, op) -> bool:
        return type(op) is Elemwise and not op.inplace_pattern and \
            isinstance(op.scalar_op, self.classes)

    def __repr__(self):
        return f"ElemwiseOf({', '.join(c.__name__ for c in self.classes)})"


def register_elemwise_rule(pass_name: str, *scalar_ops: ts.ScalarOp, name=None, tags=(),
                           needs=()):
    """Decorator: a rule offered only Elemwise nodes of these scalar ops (and only
    while the graph has each kind in ``needs``, see ``Rule``)."""
    tracks = [elemwise_op(s) for s in scalar_ops]

    def wrap(fn):
        return register_rule(pass_name, Rule(fn, tracks, name, tags, needs))

    return wrap


def register_op_rule(pass_name: str, *ops, name=None, tags=(), needs=(), adjacent=False):
    """Decorator: a rule offered only nodes of these Op classes or instances (and only
    while the graph has each kind in ``needs``, see ``Rule``)."""

    def wrap(fn):
        return register_rule(pass_name, Rule(fn, ops, name, tags, needs, adjacent))

    return wrap


__all__ = ["ElemwiseOf", "PatternRule", "Var", "as_replacement", "build", "constant_array",
           "mismatch",
           "constant_value", "fits", "is_constant_value", "is_elemwise", "known_nonnegative",
           "known_nonzero", "make_constant", "match", "register_elemwise_rule",
           "register_op_rule", "register_pattern", "scalar_op_of", "single_client"]
