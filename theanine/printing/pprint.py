"""``pprint``: a graph as one line of math, e.g. ``gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)``.

Each Variable becomes an ``Expr``: text pieces (strings and sub-``Expr``s) plus
the precedence of its outermost operator, so a parent adds parentheses only
where precedence and associativity need them.  Named variables print as their
name, constants as their value, broadcasting ``DimShuffle`` is invisible.

How an op prints is looked up by op class in a registry (``register_pprint``);
scalar ops with a ``symbol`` print infix with their ``precedence``; ops without a
rule print as a call ``Op(a, b)``.  Walks and rendering use explicit stacks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from theanine.graph.basic import Constant
from theanine.printing.common import (
    constant_text,
    graph_view,
    inner_graphs,
    is_scalar_graph,
    variable_text,
)
from theanine.scalar import basic as ts
from theanine.tensor.blas import Gemm, Gemv, Ger
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise
from theanine.tensor.fused import FusedReduce
from theanine.tensor.math import Dot
from theanine.tensor.shape import Shape, ShapeI

ATOM = 1000          # precedence of names, constants and calls: never parenthesised
NEG_PRECEDENCE = 30  # unary minus (also used for negative constants)
DOT_PRECEDENCE = 25  # ``\dot``: tighter than * and /, looser than unary minus


class Expr:
    """Printed form of one Variable: pieces (str or Expr) and outer precedence.

    ``op_key`` identifies the outermost operator, so ``a + (b + c)`` can drop
    its parentheses when the operator is associative.
    """

    __slots__ = ("parts", "prec", "op_key")

    def __init__(self, parts, prec: int = ATOM, op_key=None):
        self.parts = parts
        self.prec = prec
        self.op_key = op_key

    def render(self) -> str:
        out: list[str] = []
        stack = [iter(self.parts)]
        while stack:
            for part in stack[-1]:
                if isinstance(part, Expr):
                    stack.append(iter(part.parts))
                    break
                out.append(part)
            else:
                stack.pop()
        return "".join(out)


def atom(text: str) -> Expr:
    prec = NEG_PRECEDENCE if text.startswith("-") else ATOM
    return Expr([text], prec)


def paren(expr: Expr) -> list:
    return ["(", expr, ")"]


def call(name: str, args, extra: str = "") -> Expr:
    """``name(a, b, extra)``: arguments never need parentheses."""
    parts: list = [name, "("]
    for pos, arg in enumerate(args):
        if pos:
            parts.append(", ")
        parts.append(arg)
    if extra:
        parts.append(", " + extra if args else extra)
    parts.append(")")
    return Expr(parts)


def infix(symbol: str, prec: int, args, op_key=None, associative=False,
          right_assoc=False) -> Expr:
    """``a symbol b [symbol c ...]`` with the parentheses precedence needs."""
    parts: list = []
    last = len(args) - 1
    for pos, arg in enumerate(args):
        if pos:
            parts.append(f" {symbol} ")
        if right_assoc:
            needs = arg.prec < prec or (pos < last and arg.prec == prec)
        else:
            needs = arg.prec < prec or (pos > 0 and arg.prec == prec and not (
                associative and arg.op_key == op_key))
        parts.extend(paren(arg) if needs else [arg])
    return Expr(parts, prec, op_key)


def prefix(symbol: str, prec: int, arg: Expr, op_key=None) -> Expr:
    return Expr([symbol, *(paren(arg) if arg.prec <= prec else [arg])], prec, op_key)


def postfix(arg: Expr, suffix: str) -> Expr:
    return Expr([*(paren(arg) if arg.prec < ATOM else [arg]), suffix])


# -- the registry ------------------------------------------------------------------

Formatter = Callable[..., Expr]
_registry: dict[type, Formatter] = {}

# Comparisons print as calls, ``gt(a, b)``, like the tutorial's pprint.
CALL_FORM = (ts.Lt, ts.Gt, ts.Le, ts.Ge, ts.Eq, ts.Neq)
RIGHT_ASSOCIATIVE = (ts.Pow,)


def register_pprint(op_class: type):
    """Decorator: ``fn(node, index, args) -> Expr`` prints outputs of ``op_class``.

    ``args`` are the inputs' Exprs; build the result with ``call``, ``infix``,
    ``prefix``, ``postfix`` or ``atom``.
    """

    def register(fn: Formatter) -> Formatter:
        _registry[op_class] = fn
        return fn

    return register


def formatter_for(op) -> Formatter | None:
    for cls in type(op).__mro__:
        found = _registry.get(cls)
        if found is not None:
            return found
    return None


def scalar_expr(sop, args) -> Expr:
    """A scalar op applied to printed arguments (infix when it has a symbol)."""
    symbol = getattr(sop, "symbol", None)
    if symbol and not isinstance(sop, CALL_FORM):
        prec = getattr(sop, "precedence", ATOM)
        if len(args) == 1:
            return prefix(symbol, prec, args[0], type(sop))
        return infix(symbol, prec, args, type(sop), getattr(sop, "associative", False),
                     isinstance(sop, RIGHT_ASSOCIATIVE))
    return call(getattr(sop, "name", str(sop)), args)


def _kernel_expr(sop, index, args) -> Expr | None:
    """A fused scalar kernel prints as the expression it computes on ``args``."""
    graphs = inner_graphs(sop)
    if len(graphs) == 1 and is_scalar_graph(graphs[0]):
        return _exprs(graphs[0].outputs, dict(zip(graphs[0].inputs, args)))[index]
    return None


@register_pprint(ts.ScalarOp)
def _scalar(node, index, args):
    inlined = _kernel_expr(node.op, index, args)
    return inlined if inlined is not None else scalar_expr(node.op, args)


@register_pprint(Elemwise)
def _elemwise(node, index, args):
    inlined = _kernel_expr(node.op.scalar_op, index, args)
    return inlined if inlined is not None else scalar_expr(node.op.scalar_op, args)


@register_pprint(DimShuffle)
def _dimshuffle(node, index, args):
    op = node.op
    kept = [i for i in op.new_order if i != "x"]
    if kept == sorted(kept) and not op.drop:
        return args[0]                          # only adds broadcastable axes
    if op.new_order == tuple(reversed(range(op.input_ndim))):
        return postfix(args[0], ".T")
    pattern = ", ".join(repr(i) for i in op.new_order)
    return call("dimshuffle", args, f"({pattern}{',' if len(op.new_order) == 1 else ''})")


@register_pprint(Dot)
def _dot(node, index, args):
    return infix("\\dot", DOT_PRECEDENCE, args, Dot)


def _scaled(node, pos: int, args, term: Expr) -> Expr | None:
    """``coef * term`` for BLAS coefficient input ``pos``; the coefficient 1 is left
    out and 0 drops the term (None)."""
    coef = node.inputs[pos]
    if isinstance(coef, Constant) and np.all(np.asarray(coef.data) == 1):
        return term
    if isinstance(coef, Constant) and np.all(np.asarray(coef.data) == 0):
        return None
    return infix("*", ts.mul.precedence, [args[pos], term], type(ts.mul), True)


def _blas_sum(node, terms) -> Expr:
    kept = [t for t in terms if t is not None]
    if not kept:
        return atom("0")
    return kept[0] if len(kept) == 1 else infix("+", ts.add.precedence, kept,
                                                 type(ts.add), True)


@register_pprint(Gemm)
@register_pprint(Gemv)
def _gemm_gemv(node, index, args):
    """``b * z + a * x \\dot y``: what the BLAS call computes, as math."""
    product = infix("\\dot", DOT_PRECEDENCE, [args[2], args[3]], Dot)
    return _blas_sum(node, [_scaled(node, 4, args, args[0]), _scaled(node, 1, args, product)])


@register_pprint(Ger)
def _ger(node, index, args):
    return _blas_sum(node, [args[0], _scaled(node, 1, args, call("outer", args[2:4]))])


@register_pprint(CAReduce)
def _careduce(node, index, args):
    axis = node.op.axis
    extra = "" if axis is None else f"axis={axis[0] if len(axis) == 1 else axis}"
    return call(node.op.kind, args, extra)


@register_pprint(FusedReduce)
def _fused_reduce(node, index, args):
    inner = _kernel_expr(node.op.scalar_op, 0, args)
    if inner is None:
        inner = scalar_expr(node.op.scalar_op, args)
    axis = node.op.axis
    extra = "" if axis is None else f"axis={axis[0] if len(axis) == 1 else axis}"
    return call(node.op.kind, [inner], extra)


@register_pprint(Shape)
def _shape(node, index, args):
    return postfix(args[0], ".shape")


@register_pprint(ShapeI)
def _shape_i(node, index, args):
    return postfix(args[0], f".shape[{node.op.i}]")


def _default(node, index, args) -> Expr:
    expr = call(str(node.op), args)
    if len(node.outputs) > 1:
        return postfix(expr, f"[{index}]")
    return expr


# -- the walk ------------------------------------------------------------------------


def _exprs(roots, subst: dict | None = None) -> list[Expr]:
    """Exprs of ``roots``; named non-root Variables and ``subst`` keys are leaves."""
    memo: dict = dict(subst or {})
    root_set = set(roots)
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        var, ready = stack.pop()
        if var in memo:
            continue
        node = var.owner
        leaf = node is None or isinstance(var, Constant) or (
            var.name is not None and var not in root_set)
        if leaf:
            memo[var] = atom(constant_text(var, broadcast_scalars=True)
                             if isinstance(var, Constant) else variable_text(var))
            continue
        if not ready:
            stack.append((var, True))
            stack.extend((i, False) for i in reversed(node.inputs) if i not in memo)
            continue
        args = [memo[i] for i in node.inputs]
        fmt = formatter_for(node.op) or _default
        memo[var] = fmt(node, var.index, args)
    return [memo[r] for r in roots]


def pprint(obj) -> str:
    """Math-like text of a Variable, a list of them, or a compiled Function.

    For a Function, update outputs print as ``w <- expression``.
    """
    view = graph_view(obj)
    exprs = _exprs(view.outputs)
    lines = []
    for pos, expr in enumerate(exprs):
        text = expr.render()
        target = view.updates.get(pos)
        lines.append(f"{variable_text(target)} <- {text}" if target is not None else text)
    return "\n".join(lines)


pp = pprint

