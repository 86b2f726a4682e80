"""Canonical sums and products: constants collected, like terms combined, cancellation.

A chain of ``add``/``sub``/``neg`` is read as a list of signed terms, a chain of
``mul``/``true_div``/``reciprocal``/``neg`` as a numerator and a denominator.  The
rule rebuilds the chain only when that gains something (constants to combine, a
neutral constant, like terms, a cancellation), so a graph already in canonical
form costs one walk over its chain and no new nodes.

Subterms are walked into only when used once (rewriting a shared subterm would
compute it twice) and when they have the root's dtype (so rebuilding cannot move
an upcast).  A factor cancels against a divisor only when it is provably nonzero.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.alloc import alloc
from theanine.tensor.elemwise import elemwise_op
from theanine.tensor.rewriting.utils import (
    as_replacement,
    constant_array,
    known_nonzero,
    make_constant,
    register_elemwise_rule,
    scalar_op_of,
    single_client,
)
from theanine.tensor.shape import shape_i

_add, _sub, _neg, _mul = (elemwise_op(o) for o in (ts.add, ts.sub, ts.neg, ts.mul))
_div = elemwise_op(ts.true_div)
_maximum = elemwise_op(ts.maximum)
_ARITH_KINDS = "iufc"


def same_graph(a: Variable, b: Variable) -> bool:
    """Structural equality of two expressions (same ops on the same leaves)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if x is y:
            continue
        if isinstance(x, Constant) and isinstance(y, Constant):
            if x.type != y.type or not np.array_equal(x.data, y.data):
                return False
            continue
        ox, oy = x.owner, y.owner
        if ox is None or oy is None or ox.op != oy.op or x.index != y.index \
                or len(ox.inputs) != len(oy.inputs):
            return False
        stack.extend(zip(ox.inputs, oy.inputs))
    return True


def _uniform(var) -> bool:
    """``var`` is computed from inputs of its own dtype (no upcast happens in it)."""
    dtype = var.dtype
    return all(getattr(i.type, "dtype", None) == dtype for i in var.owner.inputs)


def _descends(fgraph, var, dtype) -> bool:
    """Whether a walk from a chain root expands ``var`` (a non-root term)."""
    return (var.dtype == dtype and var.owner is not None and single_client(fgraph, var)
            and _uniform(var))


def _walk(fgraph, root, step):
    """Flatten the chain under ``root``: ``step(var, sign)`` returns children or None.

    Below the root, only single-client terms of the root's dtype computed without
    an upcast are expanded, so every leaf but the root's own inputs has its dtype.
    """
    leaves, consts = [], []
    stack = [(root, 1, True)]
    dtype = root.dtype
    while stack:
        var, sign, is_root = stack.pop()
        children = None
        if is_root or _descends(fgraph, var, dtype):
            children = step(var, sign)
        if children is not None:
            stack.extend((c, s, False) for c, s in reversed(children))
            continue
        data = constant_array(var)
        if data is not None:
            consts.append((sign, data))
        else:
            leaves.append((sign, var))
    return leaves, consts


def _sum_step(var, sign):
    op = scalar_op_of(var)
    if op is None:
        return None
    a = var.owner.inputs
    if type(op) is ts.Add:
        return [(a[0], sign), (a[1], sign)]
    if type(op) is ts.Sub:
        return [(a[0], sign), (a[1], -sign)]
    if type(op) is ts.Neg:
        return [(a[0], -sign)]
    return None


def _coefficient(var, dtype, ndim):
    """``c * t`` with a scalar constant ``c`` -> ``(c, t)``; anything else -> ``(1, var)``."""
    if type(scalar_op_of(var)) is ts.Mul:
        a, b = var.owner.inputs
        for c, t in ((a, b), (b, a)):
            data = constant_array(c)
            if data is not None and data.size == 1 and t.dtype == dtype and t.ndim == ndim:
                return data.reshape(()).item(), t
    return 1, var


_SUM_OPS = (ts.Add, ts.Sub, ts.Neg)
_PRODUCT_OPS = (ts.Mul, ts.TrueDiv, ts.Reciprocal)


def _inside_chain(fgraph, out, rule_ops) -> bool:
    """True when the client of ``out`` is a node of the same rule that will walk
    through ``out``: the chain is then canonicalized once, from its top, and a
    chain of n terms costs one walk instead of n (which made long gradient sums
    quadratic to compile)."""
    if not _descends(fgraph, out, out.dtype):
        return False
    client = fgraph.clients[out][0][0]
    return (type(scalar_op_of(client.outputs[0])) in rule_ops
            and client.outputs[0].dtype == out.dtype and _uniform(client.outputs[0]))


def _plain_pair(inputs, out) -> bool:
    """Fast exit: ``a + b`` with no nested sum, at most one (nonzero) constant and no
    common base is canonical already (most sums in a graph look like this)."""
    if any(type(scalar_op_of(i)) in _SUM_OPS for i in inputs):
        return False
    a, b = inputs
    ca, cb = constant_array(a), constant_array(b)
    if ca is not None and cb is not None:
        return False
    if ca is not None or cb is not None:
        c = cb if ca is None else ca
        return bool(c.flat[0] != 0) if c.size == 1 else bool(np.any(c))
    return _coefficient(a, out.dtype, out.ndim)[1] is not _coefficient(b, out.dtype,
                                                                          out.ndim)[1]


@register_elemwise_rule("canonicalize", ts.add, ts.sub, name="canonical_sum")
def canonical_sum(fgraph, node):
    """Collect constants and like terms of a sum: ``(x + 1) + 2*x - 3 -> 3*x - 2``."""
    out = node.outputs[0]
    if out.dtype[0] not in _ARITH_KINDS or out.dtype == "bool":
        return None
    if _plain_pair(node.inputs, out) or _inside_chain(fgraph, out, (ts.Add, ts.Sub)):
        return None
    leaves, consts = _walk(fgraph, out, _sum_step)
    if any(v.dtype != out.dtype for _, v in leaves):
        return None
    groups: dict = {}
    for sign, var in leaves:
        coef, base = _coefficient(var, out.dtype, out.ndim)
        groups.setdefault(base, []).append((sign, coef, var))
    const = None
    for sign, data in consts:
        data = data if sign > 0 else -data
        const = data if const is None else const + data
    changed = len(consts) > 1 or any(len(g) > 1 for g in groups.values()) or (
        const is not None and not np.any(const) and leaves)
    if not changed:
        return None
    plus, minus = [], []
    for base, entries in groups.items():
        if len(entries) == 1:
            sign, _, var = entries[0]
            (plus if sign > 0 else minus).append(var)
            continue
        coef = sum(sign * c for sign, c, _ in entries)
        if coef == 0:
            continue
        term = base if abs(coef) == 1 else _mul(make_constant(abs(coef), base), base)
        (plus if coef > 0 else minus).append(term)
    if const is not None and np.any(const):
        const = np.asarray(const, dtype=out.dtype)
        if out.dtype[0] in "if" and np.all(const < 0):
            minus.append(make_constant(-const, out))
        else:
            plus.append(make_constant(const, out))
    new = _rebuild_sum(plus, minus, out)
    if new is None or same_graph(new, out):
        return None
    return [_keep_shape(new, out, [v for _, v in leaves], consts)]


def _keep_shape(new, out, leaves, consts):
    """``new`` as a replacement for ``out``; when the cancelled terms were what gave
    ``out`` its shape (``x - x``, ``(c - c) + row``), ``new`` is broadcast back into it
    with an ``alloc`` sized from the original terms (never from ``out`` itself)."""
    rep = as_replacement(new, out)
    if rep is not None:
        return rep
    if new.ndim > out.ndim:
        return None
    return as_replacement(alloc(new, *(_broadcast_size(leaves, consts, axis, out.ndim)
                                       for axis in range(out.ndim))), out)


def _broadcast_size(leaves, consts, axis, ndim):
    """The length of ``axis`` that the terms broadcast to: a static length where a
    term has one, else the largest run-time length of the terms that may be longer
    than 1 (broadcasting leaves one length besides 1, so the largest is it; the first
    such term alone was wrong where it is 1 at run time and another is not)."""
    sizes = []
    for leaf in leaves:
        static = leaf.type.shape[axis]
        if static is not None and static != 1:
            return static
        if static is None:
            sizes.append(shape_i(leaf, axis))
    for _, data in consts:
        if data.ndim == ndim and data.shape[axis] != 1:
            return data.shape[axis]
    if not sizes:
        return 1
    size = sizes[0]
    for other in sizes[1:]:
        size = _maximum(size, other)
    return size


def _rebuild_sum(plus, minus, like):
    if not plus and not minus:
        return make_constant(0, like)
    if plus:
        expr = plus[0]
        for term in plus[1:]:
            expr = _add(expr, term)
    else:
        expr = _neg(minus[0])
        minus = minus[1:]
    for term in minus:
        expr = _sub(expr, term)
    return expr


def _product_step(var, sign):
    op = scalar_op_of(var)
    if op is None:
        return None
    a = var.owner.inputs
    if type(op) is ts.Mul:
        return [(a[0], sign), (a[1], sign)]
    if type(op) is ts.TrueDiv:
        return [(a[0], sign), (a[1], -sign)]
    if type(op) is ts.Reciprocal:
        return [(a[0], -sign)]
    if type(op) is ts.Neg:
        return [(a[0], sign), (_MINUS_ONE, sign)]
    return None


_MINUS_ONE = tb.constant(np.float64(-1.0))     # the factor a ``neg`` contributes
_PRODUCT_STEPS = (ts.Mul, ts.TrueDiv, ts.Reciprocal, ts.Neg)     # what _product_step opens


def _plain_product(fgraph, node) -> bool:
    """Fast exit: ``a * b`` with no nested product or negation that the walk would
    open, and at most one constant, not all ones, is canonical already (most products
    in a graph look like this: 5,000 of a 1,000-layer gradient's, each a walk and a
    list analysis before)."""
    inputs = node.inputs
    if type(node.op.scalar_op) is not ts.Mul or len(inputs) != 2:
        return False
    dtype = node.outputs[0].dtype
    if any(type(scalar_op_of(i)) in _PRODUCT_STEPS and _descends(fgraph, i, dtype)
           for i in inputs):
        return False
    consts = [c for c in map(constant_array, inputs) if c is not None]
    return not consts or (len(consts) == 1 and not _all_ones(consts[0]))


@register_elemwise_rule("canonicalize", ts.mul, ts.true_div, ts.reciprocal,
                        name="canonical_product")
def canonical_product(fgraph, node):
    """Collect constant factors and cancel nonzero factors: ``2*x*y/(4*x) -> 0.5*y``."""
    out = node.outputs[0]
    if out.dtype[0] not in "fc" or _plain_product(fgraph, node) or \
            _inside_chain(fgraph, out, _PRODUCT_OPS):
        return None
    leaves, consts = _walk(fgraph, out, _product_step)
    if any(v.dtype != out.dtype for _, v in leaves):
        return None
    num = [v for s, v in leaves if s > 0]
    den = [v for s, v in leaves if s < 0]
    cancelled = 0
    for var in list(den):
        if var in num and known_nonzero(var):
            num.remove(var)
            den.remove(var)
            cancelled += 1
    if not cancelled and len(consts) <= 1 and not (
            consts and (num or not den) and _all_ones(consts[0][1])):
        return None   # already canonical: the common case, decided without arithmetic
    const = None
    with np.errstate(all="ignore"):
        for sign, data in consts:
            data = np.asarray(data, dtype=out.dtype)
            data = data if sign > 0 else np.asarray(1 / data, dtype=out.dtype)
            const = data if const is None else const * data
    is_one = const is not None and bool(np.all(const == 1))
    changed = cancelled or len(consts) > 1 or (is_one and (num or not den))
    if not changed:
        return None
    if const is not None and is_one and (num or not den):
        const = None
    new = _rebuild_product(num, den, const, out)
    if new is None or same_graph(new, out):
        return None
    return [_keep_shape(new, out, [v for _, v in leaves], consts)]


def _all_ones(data) -> bool:
    a = np.asarray(data)
    if a.size == 1:
        return bool(a.flat[0] == 1)
    return a.size > 0 and bool((a == 1).all())


def _rebuild_product(num, den, const, like):
    expr = None
    for term in num:
        expr = term if expr is None else _mul(expr, term)
    if const is not None:
        if expr is not None and bool(np.all(const == -1)):
            expr = _neg(expr)
        else:
            c = make_constant(const, like)
            expr = c if expr is None else _mul(c, expr)
    if den:
        d = den[0]
        for term in den[1:]:
            d = _mul(d, term)
        expr = _div(make_constant(1, like) if expr is None else expr, d)
    return make_constant(1, like) if expr is None else expr


__all__ = ["canonical_product", "canonical_sum", "same_graph"]
