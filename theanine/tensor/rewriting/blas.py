"""BLAS ops (``gemm``, ``gemv``, ``ger``) and the rules that turn
``z + a * dot(x, y)`` into them.

Each op has an ``inplace`` prop: the in-place form overwrites its first input (the
accumulator) instead of copying it, and declares so in ``destroy_map``.
``inplace_variant()`` returns that form; the inplace pass uses it generically.

The products run on NumPy's own BLAS (``np.dot``/``np.outer``) and are accumulated
with in-place ufuncs; see ``_accumulate`` for why not SciPy's BLAS wrappers.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
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
from theanine.tensor.type import TensorType

BLAS_DTYPES = ("float32", "float64")


class _BlasOp(Op):
    """Shared bits: the ``inplace`` prop, ``destroy_map`` and the in-place variant."""

    __props__ = ("inplace",)
    ndims: tuple = ()        # ndim of each input (0 for the scalars)

    def __init__(self, inplace: bool = False):
        self.inplace = bool(inplace)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def inplace_variant(self):
        return type(self)(inplace=True)

    def __str__(self):
        return f"{type(self).__name__}{'{inplace}' if self.inplace else '{no_inplace}'}"

    def _check(self, inputs):
        ins = [tb.as_tensor_variable(i) for i in inputs]
        dtype = ins[0].dtype
        if dtype not in BLAS_DTYPES:
            raise TypeError(f"{self}: the accumulator must be float32 or float64, got {dtype}")
        for pos, (inp, nd) in enumerate(zip(ins, self.ndims)):
            if inp.ndim != nd:
                raise TypeError(f"{self}: input {pos} ({inp}) must have {nd} dims, "
                                f"got {inp.ndim}")
            if inp.dtype != dtype:
                data = constant_array(inp) if nd == 0 else None
                if data is not None:
                    ins[pos] = tb.constant(np.asarray(data, dtype=dtype))
                elif nd == 0 and np.can_cast(inp.dtype, dtype, "same_kind"):
                    ins[pos] = tb.cast(inp, dtype)
                else:
                    raise TypeError(f"{self}: input {pos} ({inp}) has dtype {inp.dtype}, "
                                    f"expected {dtype}")
        return ins


def _merge(a, b):
    return a if b is None else b if a is None else a


def _accumulate(acc, beta, product, alpha, inplace):
    """``beta * acc + alpha * product``, written into ``acc`` when ``inplace``.

    The product comes from NumPy's own BLAS (``np.dot``/``np.outer``): calling a
    second BLAS library (SciPy's wrappers bundle their own) from the same loop makes
    two thread pools fight over the cores, which measured 10x slower in an RNN.
    """
    if alpha != 1:
        product *= alpha
    if not inplace:
        if beta == 0:
            return product
        product += acc if beta == 1 else beta * acc
        return product
    if beta == 0:
        acc[...] = product
    else:
        if beta != 1:
            acc *= beta
        acc += product
    return acc


class Gemm(_BlasOp):
    """``gemm(z, a, x, y, b) = b*z + a*dot(x, y)`` for matrices; in place: written into z."""

    ndims = (2, 0, 2, 2, 0)

    def make_node(self, z, a, x, y, b):
        z, a, x, y, b = self._check([z, a, x, y, b])
        shape = (_merge(z.type.shape[0], x.type.shape[0]), _merge(z.type.shape[1],
                                                                   y.type.shape[1]))
        return Apply(self, [z, a, x, y, b], [TensorType(z.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        z, a, x, y, b = inputs
        out_shape = (x.shape[0], y.shape[1])
        if z.shape != out_shape or x.shape[1] != y.shape[0] or 0 in z.shape + x.shape:
            output_storage[0][0] = np.asarray(b * z + a * np.dot(x, y), dtype=z.dtype)
            return
        r = _accumulate(z, b, np.dot(x, y), a, self.inplace)
        output_storage[0][0] = r

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        z, a, x, y, b = inputs
        (g,) = output_grads
        xy = tm.dot(x, y)
        return [tm.mul(b, g), tm.sum(tm.mul(g, xy)), tm.mul(a, tm.dot(g, y.T)),
                tm.mul(a, tm.dot(x.T, g)), tm.sum(tm.mul(g, z))]


class Gemv(_BlasOp):
    """``gemv(y, a, A, x, b) = b*y + a*dot(A, x)``; in place: written into y."""

    ndims = (1, 0, 2, 1, 0)

    def make_node(self, y, a, A, x, b):
        y, a, A, x, b = self._check([y, a, A, x, b])
        shape = (_merge(y.type.shape[0], A.type.shape[0]),)
        return Apply(self, [y, a, A, x, b], [TensorType(y.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        y, a, A, x, b = inputs
        if y.shape != (A.shape[0],) or A.shape[1] != x.shape[0] or 0 in A.shape:
            output_storage[0][0] = np.asarray(b * y + a * np.dot(A, x), dtype=y.dtype)
            return
        r = _accumulate(y, b, np.dot(A, x), a, self.inplace)
        output_storage[0][0] = r

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        y, a, A, x, b = inputs
        (g,) = output_grads
        ax = tm.dot(A, x)
        outer = tm.mul(g.dimshuffle(0, "x"), x.dimshuffle("x", 0))
        return [tm.mul(b, g), tm.sum(tm.mul(g, ax)), tm.mul(a, outer),
                tm.mul(a, tm.dot(g, A)), tm.sum(tm.mul(g, y))]


class Ger(_BlasOp):
    """``ger(A, a, x, y) = A + a*outer(x, y)``; in place: written into A."""

    ndims = (2, 0, 1, 1)

    def make_node(self, A, a, x, y):
        A, a, x, y = self._check([A, a, x, y])
        shape = (_merge(A.type.shape[0], x.type.shape[0]), _merge(A.type.shape[1],
                                                                   y.type.shape[0]))
        return Apply(self, [A, a, x, y], [TensorType(A.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        A, a, x, y = inputs
        if A.shape != (x.shape[0], y.shape[0]) or 0 in A.shape:
            output_storage[0][0] = np.asarray(A + a * np.outer(x, y), dtype=A.dtype)
            return
        r = _accumulate(A, 1.0, np.outer(x, y), a, self.inplace)
        output_storage[0][0] = r

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        A, a, x, y = inputs
        (g,) = output_grads
        gy = tm.dot(g, y)
        return [g, tm.sum(tm.mul(gy, x)), tm.mul(a, gy), tm.mul(a, tm.dot(x, g))]


gemm_no_inplace, gemm_inplace = Gemm(False), Gemm(True)
gemv_no_inplace, gemv_inplace = Gemv(False), Gemv(True)
ger_no_inplace, ger_inplace = Ger(False), Ger(True)


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


@register_elemwise_rule("specialize", ts.add, ts.sub, name="dot_to_blas")
def dot_to_blas(fgraph, node):
    """``z + a*dot(x, y)`` -> gemm/gemv; ``A + a*outer(x, y)`` -> ger (float32/64)."""
    out = node.outputs[0]
    if out.dtype not in BLAS_DTYPES or out.ndim not in (1, 2):
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


__all__ = ["Gemm", "Gemv", "Ger", "dot_to_blas", "gemm_inplace", "gemm_no_inplace",
           "gemv_inplace", "gemv_no_inplace", "ger_inplace", "ger_no_inplace"]
