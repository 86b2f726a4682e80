"""The rules that turn ``z + a * dot(x, y)`` into BLAS calls (``gemm``, ``gemv``,
``ger``; the ops are in ``tensor/blas.py``)."""

from __future__ import annotations

import numpy as np

from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.blas import (
    BLAS_DTYPES,
    Gemm,
    Gemv,
    Ger,
    gemm_no_inplace,
    gemv_no_inplace,
    ger_no_inplace,
)
from theanine.tensor.elemwise import DimShuffle
from theanine.tensor.math import Dot
from theanine.tensor.rewriting.utils import (
    as_replacement,
    constant_array,
    fits,
    register_elemwise_rule,
    scalar_op_of,
    single_client,
)

# -- rules: z + a*dot(x, y) -> gemm/gemv/ger ---------------------------------------------


def _scalar_factor(var):
    """A 0-d Variable equal to every entry of ``var`` if ``var`` is a broadcast scalar."""
    data = constant_array(var)
    if data is not None:
        return tb.constant(np.asarray(data.flat[0])) if data.size == 1 else None
    owner = var.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and owner.inputs[0].ndim == 0:
        return owner.inputs[0]
    return var if var.ndim == 0 else None


def _scaled(var):
    """``var`` as ``(alpha, core)``: ``a * core``, ``-core`` or ``core`` (alpha None = 1)."""
    op = scalar_op_of(var)
    if type(op) is ts.Mul:
        p, q = var.owner.inputs
        for s, core in ((p, q), (q, p)):
            alpha = _scalar_factor(s)
            if alpha is not None:
                return alpha, core
    if type(op) is ts.Neg:
        return -1.0, var.owner.inputs[0]
    return None, var


def _alpha(alpha, sign: float, dtype: str):
    """The 0-d scalar ``sign * alpha`` (a constant where possible)."""
    if alpha is None or isinstance(alpha, float):
        return tb.constant(np.asarray(sign * (1.0 if alpha is None else alpha), dtype=dtype))
    data = constant_array(alpha)
    if data is not None:
        return tb.constant(np.asarray(sign * data, dtype=dtype).reshape(()))
    return alpha if sign == 1.0 else tm.neg(alpha)


def _product_kind(fgraph, var, dtype):
    """``('gemm', x, y)``, ``('gemv', A, x)`` or ``('ger', x, y)`` if ``var`` is such a
    product of ``dtype`` used only here, else None."""
    if var.dtype != dtype or not single_client(fgraph, var) or var.owner is None:
        return None
    op = var.owner.op
    if isinstance(op, Dot):
        a, b = var.owner.inputs
        if a.dtype != dtype or b.dtype != dtype:
            return None
        if a.ndim == 2 and b.ndim == 2:
            return ("gemm", a, b)
        if a.ndim == 2 and b.ndim == 1:
            return ("gemv", a, b)
        if a.ndim == 1 and b.ndim == 2:
            return ("gemv", b.T, a)
        return None
    if type(scalar_op_of(var)) is ts.Mul and var.ndim == 2:
        cols = [_column_or_row(i) for i in var.owner.inputs]
        if cols[0] and cols[1] and {cols[0][0], cols[1][0]} == {"col", "row"}:
            x = cols[0][1] if cols[0][0] == "col" else cols[1][1]
            y = cols[1][1] if cols[1][0] == "row" else cols[0][1]
            if x.dtype == dtype and y.dtype == dtype:
                return ("ger", x, y)
    return None


def _column_or_row(var):
    owner = var.owner
    if owner is None or not isinstance(owner.op, DimShuffle) or owner.inputs[0].ndim != 1:
        return None
    order = owner.op.new_order
    if order == (0, "x"):
        return ("col", owner.inputs[0])
    if order == ("x", 0):
        return ("row", owner.inputs[0])
    return None


def _may_hold_product(var) -> bool:
    """Whether ``_scaled(var)``'s core can be a product ``_product_kind`` accepts (a
    Dot, or a 2-d Mul for ``ger``), looking at two nodes at most: most sums in a
    graph hold none, and the full test costs several lookups per term."""
    owner = var.owner
    if owner is None:
        return False
    if isinstance(owner.op, Dot):
        return True
    op = type(scalar_op_of(var))
    if op is ts.Mul:
        return var.ndim == 2 or any(i.owner is not None and isinstance(i.owner.op, Dot)
                                    for i in owner.inputs)
    if op is ts.Neg:
        inner = owner.inputs[0]
        return inner.owner is not None and (
            isinstance(inner.owner.op, Dot)
            or (type(scalar_op_of(inner)) is ts.Mul and inner.ndim == 2))
    return False


@register_elemwise_rule("specialize", ts.add, ts.sub, name="dot_to_blas")
def dot_to_blas(fgraph, node):
    """``z + a*dot(x, y)`` -> gemm/gemv; ``A + a*outer(x, y)`` -> ger (float32/64)."""
    out = node.outputs[0]
    if out.dtype not in BLAS_DTYPES or out.ndim not in (1, 2):
        return None
    if not any(_may_hold_product(i) for i in node.inputs):
        return None
    sign = -1.0 if type(scalar_op_of(out)) is ts.Sub else 1.0
    p, q = node.inputs
    tries = [(p, q, sign)] if sign < 0 else [(p, q, 1.0), (q, p, 1.0)]
    for acc, term, s in tries:
        alpha, core = _scaled(term)
        kind = _product_kind(fgraph, core, out.dtype)
        if kind is None or not fits(acc, out):
            continue
        name, u, v = kind
        a = _alpha(alpha, s, out.dtype)
        if name == "ger":   # ger has no beta: the accumulator goes in as it is
            return [as_replacement(ger_no_inplace(acc, a, u, v), out)]
        beta, z = _scaled(acc)
        if not fits(z, out):
            beta, z = None, acc
        op = gemm_no_inplace if name == "gemm" else gemv_no_inplace
        return [as_replacement(op(z, a, u, v, _alpha(beta, 1.0, out.dtype)), out)]
    return None


# -- rules: b*z + c*gemm(z, a, x, y, b') -> one gemm --------------------------------------


def _blas_call(fgraph, var, dtype):
    """The Gemm/Gemv node computing ``var``, used only here, or None."""
    owner = var.owner
    if owner is None or not isinstance(owner.op, (Gemm, Gemv)) or owner.op.inplace \
            or var.dtype != dtype or not single_client(fgraph, var):
        return None
    return owner


def _scalar(numpy_op, tensor_op, a, b, dtype):
    """``op(a, b)`` for 0-d scalars in ``_alpha``'s forms (None is 1), a constant when
    both are constants."""
    a, b = _alpha(a, 1.0, dtype), _alpha(b, 1.0, dtype)
    ca, cb = constant_array(a), constant_array(b)
    if ca is not None and cb is not None:
        return tb.constant(np.asarray(numpy_op(ca, cb), dtype=dtype).reshape(()))
    return tensor_op(a, b)


def _scale(a, b, dtype):
    return _scalar(np.multiply, tm.mul, a, b, dtype)


@register_elemwise_rule("specialize", ts.add, ts.sub, ts.mul, name="blas_fold_scale",
                        needs=((Gemm, Gemv),))
def blas_fold_scale(fgraph, node):
    """``p*z + q*gemv(z, a, A, x, b)`` -> ``gemv(z, q*a, A, x, p + q*b)`` (and ``gemm``):
    an SGD step with weight decay, ``w - lr * (dot(X.T, d) + c * w)``, is then one BLAS
    call written in place into ``w``, not a BLAS call and a pass over its result;
    ``q*gemv(...)`` alone folds ``q`` the same way.  Offered nodes only once the graph
    has a Gemm or Gemv: in a 1,000-layer gradient with none it was half of the
    specialize pass."""
    out = node.outputs[0]
    if out.dtype not in BLAS_DTYPES or out.ndim not in (1, 2):
        return None
    dtype = out.dtype
    kind = type(scalar_op_of(out))
    if kind is ts.Mul:
        q, core = _scaled(out)
        call = _blas_call(fgraph, core, dtype)
        if q is None or call is None:
            return None
        z, a, u, v, b = call.inputs
        new = type(call.op)(False)(z, _scale(q, a, dtype), u, v, _scale(q, b, dtype))
        return [as_replacement(new, out)]
    sign = -1.0 if kind is ts.Sub else 1.0
    p, q = node.inputs
    tries = [(p, q, sign)] if sign < 0 else [(p, q, 1.0), (q, p, 1.0)]
    for acc, term, s in tries:
        alpha, core = _scaled(term)
        call = _blas_call(fgraph, core, dtype)
        if call is None:
            continue
        z, a, u, v, b = call.inputs
        beta, acc_core = _scaled(acc)
        if acc_core is not z or not fits(z, out):
            continue
        q_s = _alpha(alpha, s, dtype)
        new_beta = _scalar(np.add, tm.add, beta, _scale(q_s, b, dtype), dtype)
        zero = constant_array(new_beta)
        if zero is not None and not zero:
            continue        # z's terms cancel: BLAS would skip z, its inf/NaN with it
        new = type(call.op)(False)(z, _scale(q_s, a, dtype), u, v, new_beta)
        return [as_replacement(new, out)]
    return None


__all__ = ["Gemm", "Gemv", "Ger", "blas_fold_scale", "dot_to_blas"]
