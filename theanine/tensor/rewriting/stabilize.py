"""Stabilize: formulas users write that overflow or lose digits, replaced by ones that don't.

The patterns follow what ``tt`` operators build: ``1 + x`` is ``add(1, x)`` with the
1 a constant (maybe behind a DimShuffle), and either operand order matches.
Rules that share a prefix are registered most specific first (``log(1 + exp(x))``
before ``log(1 + x)``), because a pass offers a node its rules in order.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.rewriting.reasons import decline
from theanine.scalar import basic as ts
from theanine.tensor import math as tm
from theanine.tensor.elemwise import CAReduce, DimShuffle, normalize_axis
from theanine.tensor.nnet import LogSoftmax, LogSumExp, Softmax
from theanine.tensor.rewriting.utils import (
    as_replacement,
    constant_array,
    match,
    register_elemwise_rule,
    register_pattern,
    scalar_op_of,
    single_client,
)


def negated(var):
    """``-var``, simplified where the graph allows: ``-(-z) = z``, ``-(-z - b) = z + b``."""
    op = scalar_op_of(var)
    if type(op) is ts.Neg:
        return var.owner.inputs[0]
    if type(op) is ts.Sub:
        a, b = var.owner.inputs
        if type(scalar_op_of(a)) is ts.Neg:
            return tm.add(a.owner.inputs[0], b)
        return tm.sub(b, a)
    return tm.neg(var)


# log(1 + exp(x)) and friends first: they share the log(1 + .) prefix with log1p.
register_pattern("stabilize", (ts.log, (ts.add, 1, (ts.exp, "x"))), (ts.softplus, "x"))
register_pattern("stabilize", (ts.log1p, (ts.exp, "x")), (ts.softplus, "x"))
register_pattern("stabilize", (ts.log, (ts.sigmoid, "x")),
                 lambda x: tm.neg(tm.softplus(negated(x))), name="log(sigmoid(x)) -> "
                 "-softplus(-x)")
register_pattern("stabilize", (ts.log, (ts.sub, 1, (ts.sigmoid, "x"))),
                 (ts.neg, (ts.softplus, "x")))
register_pattern("stabilize", (ts.log1p, (ts.neg, (ts.sigmoid, "x"))),
                 (ts.neg, (ts.softplus, "x")))
register_pattern("stabilize", (ts.log, (ts.add, 1, "x")), (ts.log1p, "x"))
register_pattern("stabilize", (ts.log, (ts.sub, 1, "x")), lambda x: tm.log1p(negated(x)),
                 name="log(sub(1, x)) -> log1p(-x)")
register_pattern("stabilize", (ts.sub, (ts.exp, "x"), 1), (ts.expm1, "x"))
register_pattern("stabilize", (ts.add, (ts.exp, "x"), -1), (ts.expm1, "x"))


def _sigmoid_of_negated(u):
    return tm.sigmoid(negated(u))


# 1 / (1 + exp(u)) = sigmoid(-u) for every u; with u = -x that is the logistic sigmoid.
register_pattern("stabilize", (ts.true_div, 1, (ts.add, 1, (ts.exp, "u"))),
                 _sigmoid_of_negated, name="1/(1+exp(u)) -> sigmoid(-u)")
register_pattern("stabilize", (ts.reciprocal, (ts.add, 1, (ts.exp, "u"))),
                 _sigmoid_of_negated, name="reciprocal(1+exp(u)) -> sigmoid(-u)")


# a / (1 + exp(u)) = a * sigmoid(-u): the form gradients of the sigmoid formula take
register_pattern("stabilize", (ts.true_div, "a", (ts.add, 1, (ts.exp, "u"))),
                 lambda a, u: tm.mul(a, tm.sigmoid(negated(u))),
                 name="a/(1+exp(u)) -> a*sigmoid(-u)")
# 1 - sigmoid(x) is exactly 0 once sigmoid(x) rounds to 1 (x > 37 in float64, 17 in
# float32); sigmoid(-x) keeps its digits
register_pattern("stabilize", (ts.sub, 1, (ts.sigmoid, "x")),
                 lambda x: tm.sigmoid(negated(x)), name="1 - sigmoid(x) -> sigmoid(-x)")


def is_negation(a, b) -> bool:
    """``a`` is ``-b`` by construction: ``neg``, ``-u - w`` vs ``u + w``, ``p - q`` vs
    ``q - p``, or opposite constants."""
    for p, q in ((a, b), (b, a)):
        op_p, op_q = type(scalar_op_of(p)), type(scalar_op_of(q))
        if op_p is ts.Neg and p.owner.inputs[0] is q:
            return True
        if op_p is ts.Sub and op_q is ts.Add:
            n, w = p.owner.inputs
            if type(scalar_op_of(n)) is ts.Neg:
                u = n.owner.inputs[0]
                qa, qb = q.owner.inputs
                if (qa is u and qb is w) or (qa is w and qb is u):
                    return True
        if op_p is ts.Sub and op_q is ts.Sub:
            if p.owner.inputs[0] is q.owner.inputs[1] and p.owner.inputs[1] is q.owner.inputs[0]:
                return True
    ca, cb = constant_array(a), constant_array(b)
    return ca is not None and cb is not None and ca.shape == cb.shape and \
        bool(np.all(ca == -cb))


@register_elemwise_rule("stabilize", ts.mul, name="sigmoid_times_exp",
                        needs=(ts.Sigmoid, ts.Exp))
def sigmoid_times_exp(fgraph, node):
    """``sigmoid(v) * exp(-v) -> sigmoid(-v)`` anywhere in a product (through ``neg``):
    the left side overflows to ``0 * inf`` for large ``-v``, the right never does."""
    out = node.outputs[0]
    if not any(type(scalar_op_of(i)) is ts.Exp or (
            type(scalar_op_of(i)) in (ts.Mul, ts.Neg) and i.dtype == out.dtype
            and single_client(fgraph, i)) for i in node.inputs):
        return decline("no factor of the product is an exp", node)     # without a walk
    factors, negs = [], 0
    stack = [(out, True)]
    while stack:
        var, is_root = stack.pop()
        op = type(scalar_op_of(var))
        if op in (ts.Mul, ts.Neg) and (is_root or (var.dtype == out.dtype
                                                   and single_client(fgraph, var))):
            negs += op is ts.Neg
            stack.extend((i, False) for i in reversed(var.owner.inputs))
        else:
            factors.append(var)
    exps = [f for f in factors if type(scalar_op_of(f)) is ts.Exp]
    if not exps:
        return decline("no factor of the product is an exp", node)
    if any(f.dtype != out.dtype for f in factors):
        return decline("a factor has another dtype than the product", node)
    for sig in factors:
        if type(scalar_op_of(sig)) is not ts.Sigmoid:
            continue
        for e in exps:
            if is_negation(sig.owner.inputs[0], e.owner.inputs[0]):
                rest = [f for f in factors if f is not sig and f is not e]
                expr = tm.sigmoid(e.owner.inputs[0])
                for f in rest:
                    expr = tm.mul(f, expr)
                return [as_replacement(tm.neg(expr) if negs % 2 else expr, out)]
    return decline("no sigmoid(v) factor next to an exp(-v) factor", node)


def _is_max_shifted(arg) -> bool:
    """``arg`` is ``y - (something computed from max(y))``: already stabilized."""
    if type(scalar_op_of(arg)) is not ts.Sub:
        return False
    x = arg.owner.inputs[0]
    stack, seen = [arg.owner.inputs[1]], 0
    while stack and seen < 8:
        var = stack.pop()
        seen += 1
        if var.owner is None:
            continue
        if isinstance(var.owner.op, CAReduce) and var.owner.op.kind == "max" \
                and var.owner.inputs[0] is x:
            return True
        stack.extend(var.owner.inputs)
    return False


@register_elemwise_rule("stabilize", ts.log, name="logsumexp")
def logsumexp(fgraph, node):
    """``log(sum(exp(x), axis))`` -> ``LogSumExp``: ``m + log(sum(exp(x - m), axis))``,
    ``m = max(x, axis)`` (0 where the max is infinite, so all-``-inf`` rows stay
    ``-inf``), and ``-inf`` for an empty reduction as NumPy gives, where a ``max`` node
    would raise.  A ``keepdims`` DimShuffle between the log and the sum is kept."""
    out = node.outputs[0]
    (arg,) = node.inputs
    keep = None
    if arg.owner is not None and isinstance(arg.owner.op, DimShuffle):
        keep, arg = arg.owner.op, arg.owner.inputs[0]
    bound = match(arg, (CAReduce, (ts.exp, "x")))
    if bound is None or arg.owner.op.kind != "sum":
        return None
    x = bound["x"]
    if x.dtype[0] != "f" or _is_max_shifted(x):
        return None
    new = LogSumExp(normalize_axis(arg.owner.op.axis, x.ndim))(x)
    if keep is not None:
        new = keep(new)
    return [as_replacement(new, out)]


def _kept_reduction(var, kind):
    """``(reduced input, axes)`` if ``var`` is ``CAReduce(kind)`` with the reduced axes
    put back as size-1 axes (``keepdims=True``, or the broadcast of a full reduction)."""
    if var.owner is None or not isinstance(var.owner.op, DimShuffle):
        return None
    red = var.owner.inputs[0]
    if red.owner is None or not isinstance(red.owner.op, CAReduce) or \
            red.owner.op.kind != kind:
        return None
    x = red.owner.inputs[0]
    axes = normalize_axis(red.owner.op.axis, x.ndim)
    it = iter(range(red.ndim))
    expected = tuple("x" if i in axes else next(it) for i in range(x.ndim))
    if var.owner.op.new_order != expected:
        return None
    return x, axes


def _unshifted(z, axes):
    """``x`` when ``z`` is ``x - max(x, axes, keepdims)``: softmax is blind to that shift."""
    if type(scalar_op_of(z)) is not ts.Sub:
        return z
    x, m = z.owner.inputs
    kept = _kept_reduction(m, "max")
    return x if kept is not None and kept[0] is x and kept[1] == axes else z


@register_elemwise_rule("stabilize", ts.log, name="log(softmax(x)) -> log_softmax(x)")
def log_softmax(fgraph, node):
    """``log(softmax(x))`` -> ``log_softmax(x)``, for the ``Softmax`` op and for softmax
    written out as ``exp(z) / sum(exp(z), axis, keepdims=True)`` (``z`` maybe shifted by
    its max).  The quotient underflows to 0 (log: ``-inf``) once ``x`` spreads over
    ~750 along the axis; ``log_softmax`` stays finite."""
    (arg,) = node.inputs
    owner = arg.owner
    if owner is None:
        return None
    if isinstance(owner.op, Softmax):
        new = LogSoftmax(owner.op.axis)(owner.inputs[0])
        return [as_replacement(new, node.outputs[0])]
    if type(scalar_op_of(arg)) is not ts.TrueDiv:
        return None
    num, den = owner.inputs
    if type(scalar_op_of(num)) is not ts.Exp:
        return None
    kept = _kept_reduction(den, "sum")
    if kept is None or kept[0] is not num:
        return None
    z, axes = num.owner.inputs[0], kept[1]
    if z.dtype[0] != "f" or z.ndim == 0:
        return None
    if len(axes) == z.ndim:
        axis = None
    elif len(axes) == 1:
        axis = axes[0]
    else:
        return None
    new = LogSoftmax(axis)(_unshifted(z, axes))
    return [as_replacement(new, node.outputs[0])]


__all__ = ["is_negation", "log_softmax", "logsumexp", "negated", "sigmoid_times_exp"]
