"""Specialize: general ops replaced by cheaper special cases.

``x**2 -> sqr(x)``, ``x**0.5 -> sqrt(x)``, small integer powers -> multiplications,
``sum(x * y)`` of vectors -> ``dot(x, y)``, ``dot(A.T, v) -> dot(v, A)``.  The BLAS
rules are in ``blas.py``.
"""

from __future__ import annotations

import numpy as np

from theanine.scalar import basic as ts
from theanine.tensor import math as tm
from theanine.tensor.elemwise import CAReduce, DimShuffle
from theanine.tensor.math import Dot
from theanine.tensor.rewriting.fusion import capabilities_of, fusable_node
from theanine.tensor.rewriting.utils import (
    as_replacement,
    constant_value,
    fits,
    register_elemwise_rule,
    register_op_rule,
    scalar_op_of,
    single_client,
)

MAX_POWER = 8      # x**n for |n| <= MAX_POWER becomes repeated squaring


def _integer_power(x, n: int):
    """``x**n`` (n >= 1) by repeated squaring: at most 2*log2(n) multiplications."""
    return tm.power_by_squaring(x, n, tm.mul, tm.sqr)


@register_elemwise_rule("specialize", ts.pow, name="pow_specialize")
def pow_specialize(fgraph, node):
    """``x**2 -> sqr``, ``x**0.5 -> sqrt``, ``x**-1 -> 1/x``, ``x**n`` -> multiplications."""
    x, e = node.inputs
    out = node.outputs[0]
    n = constant_value(e)
    if n is None or x.dtype != out.dtype:
        return None
    is_float = out.dtype[0] in "fc"
    if np.iscomplexobj(n):
        if n.imag != 0:
            return None
        n = n.real
    n = float(n)
    if n == 2:
        new = tm.sqr(x)
    elif n == 0.5 and is_float:
        new = tm.sqrt(x)
    elif n == -0.5 and is_float:
        new = tm.true_div(1, tm.sqrt(x))
    elif n == -1 and is_float:
        new = tm.reciprocal(x)
    elif n == int(n) and 3 <= n <= MAX_POWER:
        new = _integer_power(x, int(n))
    elif n == int(n) and -MAX_POWER <= n <= -2 and is_float:
        new = tm.true_div(1, _integer_power(x, int(-n)))
    else:
        return None
    return [as_replacement(new, out)]


@register_op_rule("specialize", CAReduce, name="sum_mul_to_dot")
def sum_mul_to_dot(fgraph, node):
    """``sum(x * y)`` of two float vectors (no broadcasting) -> ``dot(x, y)``: one pass,
    no temporary.

    Not when ``x`` or ``y`` is computed by a fusable elementwise node used only
    here: fusion then makes the producers, the product and the sum one kernel
    (``sum(tanh(v) * exp(-v*v))``: one pass over ``v``), which a ``dot`` would
    split into separate passes with a temporary per factor."""
    if node.op.kind != "sum":
        return None
    (prod,) = node.inputs
    out = node.outputs[0]
    if prod.ndim != 1 or type(scalar_op_of(prod)) is not ts.Mul or not single_client(fgraph, prod):
        return None
    x, y = prod.owner.inputs
    caps = capabilities_of(fgraph)
    if any(v.owner is not None and fusable_node(v.owner, caps) and single_client(fgraph, v)
           for v in (x, y)):
        return None
    if not (x.dtype == y.dtype == out.dtype == prod.dtype) or out.dtype[0] != "f":
        return None
    if not (fits(x, prod) and fits(y, prod)):
        return None
    return [as_replacement(tm.dot(x, y), out)]


__all__ = ["pow_specialize", "sum_mul_to_dot"]


def _transposed_matrix(var):
    """``A`` when ``var`` is ``A.T`` for a matrix ``A``, else None."""
    node = var.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.op.input_ndim == 2 \
            and node.op.new_order == (1, 0):
        return node.inputs[0]
    return None


@register_op_rule("specialize", Dot, name="dot_transposed_matrix_vector")
def dot_transposed_matrix_vector(fgraph, node):
    """``dot(A.T, v) -> dot(v, A)`` and ``dot(v, A.T) -> dot(A, v)`` for a vector ``v``.

    The same product without the transpose: every gradient of ``dot(X, w)`` has one,
    and a compiler that materializes transposes (XLA on CPU copies ``X.T``) then
    reads ``X`` as it is stored."""
    a, b = node.inputs
    out = node.outputs[0]
    if b.ndim == 1 and (m := _transposed_matrix(a)) is not None:
        return [as_replacement(tm.dot(b, m), out)]
    if a.ndim == 1 and (m := _transposed_matrix(b)) is not None:
        return [as_replacement(tm.dot(m, a), out)]
    return None
