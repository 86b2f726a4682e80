"""BLAS ops: ``gemm`` (``z*b + a*dot(x, y)``, matrices), ``gemv`` (matrix-vector) and
``ger`` (``z*b + a*outer(x, y)``).  The rewrites that introduce them are in
``tensor/rewriting/blas.py``.

Each op has an ``inplace`` prop: the in-place form overwrites its first input (the
accumulator) instead of copying it, and declares so in ``destroy_map``.
``inplace_variant()`` returns that form; the inplace pass uses it generically.

The products run on NumPy's own BLAS (``np.dot``/``np.outer``) and are accumulated
with in-place ufuncs; see ``_accumulate`` for why not SciPy's BLAS wrappers.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
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
                data = np.asarray(inp.data) if nd == 0 and isinstance(inp, Constant) else None
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


__all__ = ["BLAS_DTYPES", "Gemm", "Gemv", "Ger", "gemm_inplace", "gemm_no_inplace",
           "gemv_inplace", "gemv_no_inplace", "ger_inplace", "ger_no_inplace"]
