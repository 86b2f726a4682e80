"""Diagonals: ``ExtractDiag`` (``np.diagonal``) and ``AllocDiag`` (its transpose),
plus the triangle masks ``tril``/``triu`` that linear-algebra gradients need.

``ExtractDiag`` puts the diagonal on the last axis, as NumPy does; ``AllocDiag``
takes that layout back, optionally into a given ``(rows, cols)`` size, so each op is
the other's gradient even for non-square inputs and offset diagonals.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.construct import arange
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType


def _axes(axis1, axis2, ndim, what):
    a1, a2 = int(axis1), int(axis2)
    if not (-ndim <= a1 < ndim and -ndim <= a2 < ndim):
        raise ValueError(f"{what}: axes ({axis1}, {axis2}) out of range for {ndim} dims")
    a1, a2 = a1 % ndim, a2 % ndim
    if a1 == a2:
        raise ValueError(f"{what}: axis1 and axis2 must differ, got {axis1} and {axis2}")
    return a1, a2


def _diag_len(n1, n2, offset):
    if n1 is None or n2 is None:
        return None
    return max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))


class ExtractDiag(Op):
    """``np.diagonal(x, offset, axis1, axis2)`` (a copy; the diagonal is the last axis)."""

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset=0, axis1=0, axis2=1, view=False):
        self.offset, self.axis1, self.axis2 = int(offset), int(axis1), int(axis2)

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if x.ndim < 2:
            raise ValueError(f"extract_diag: {x} has {x.ndim} dims; it needs at least 2")
        a1, a2 = _axes(self.axis1, self.axis2, x.ndim, "extract_diag")
        if (a1, a2) != (self.axis1, self.axis2):
            return ExtractDiag(self.offset, a1, a2).make_node(x)
        s = x.type.shape
        shape = tuple(n for i, n in enumerate(s) if i not in (a1, a2)) + \
            (_diag_len(s[a1], s[a2], self.offset),)
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        out = np.diagonal(inputs[0], self.offset, self.axis1, self.axis2)
        output_storage[0][0] = np.array(out)

    def infer_shape(self, fgraph, node, input_shapes):
        (s,) = input_shapes
        n1, n2 = s[self.axis1], s[self.axis2]
        off = self.offset
        length = tm.maximum(0, tm.minimum(n1 + min(off, 0), n2 - max(off, 0)))
        rest = tuple(n for i, n in enumerate(s) if i not in (self.axis1, self.axis2))
        return [rest + (length,)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        op = AllocDiag(self.offset, self.axis1, self.axis2)
        return [op(gz, shape_i(x, self.axis1), shape_i(x, self.axis2))]


class AllocDiag(Op):
    """Zeros with ``x``'s last axis on diagonal ``offset`` of axes ``(axis1, axis2)``.

    Called with ``x`` alone the two axes have ``len + |offset|`` entries, as ``np.diag`` (Theano's
    ``alloc_diag``); with ``(x, rows, cols)`` they have those sizes (the gradient of
    ``ExtractDiag``).
    """

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset=0, axis1=0, axis2=1):
        self.offset, self.axis1, self.axis2 = int(offset), int(axis1), int(axis2)

    def make_node(self, x, *size):
        x = tb.as_tensor_variable(x)
        if x.ndim < 1:
            raise ValueError(f"alloc_diag: {x} is a scalar; it needs at least 1 dim")
        if len(size) not in (0, 2):
            raise TypeError("alloc_diag: give no size or both (rows, cols)")
        out_ndim = x.ndim + 1
        a1, a2 = _axes(self.axis1, self.axis2, out_ndim, "alloc_diag")
        if (a1, a2) != (self.axis1, self.axis2):
            return AllocDiag(self.offset, a1, a2).make_node(x, *size)
        size = [tb.cast(tb.as_tensor_variable(v), "int64") for v in size]
        if size:
            n1, n2 = (_static(v) for v in size)
        else:
            k = x.type.shape[-1]
            n1 = n2 = None if k is None else k + abs(self.offset)
        shape = _place(list(x.type.shape[:-1]), a1, a2, n1, n2)
        return Apply(self, [x, *size], [TensorType(x.dtype, shape)()])

    def _sizes(self, x, size):
        if size:
            return int(size[0]), int(size[1])
        k = x.shape[-1] + abs(self.offset)
        return k, k

    def perform(self, node, inputs, output_storage):
        x, *size = inputs
        n1, n2 = self._sizes(x, size)
        out = np.zeros(x.shape[:-1] + (n1, n2), dtype=x.dtype)
        k = _diag_len(n1, n2, self.offset)
        if k != x.shape[-1]:
            raise ValueError(f"alloc_diag: a diagonal of {x.shape[-1]} entries does not fit "
                             f"offset {self.offset} of a {n1}x{n2} matrix ({k} entries)")
        rows = np.arange(k) + max(-self.offset, 0)
        cols = np.arange(k) + max(self.offset, 0)
        out[..., rows, cols] = x
        output_storage[0][0] = np.moveaxis(out, (-2, -1), (self.axis1, self.axis2))

    def infer_shape(self, fgraph, node, input_shapes):
        x, *size = node.inputs
        if size:
            n1, n2 = size
        else:
            k = input_shapes[0][-1]
            n1 = n2 = k + abs(self.offset)
        return [tuple(_place(list(input_shapes[0][:-1]), self.axis1, self.axis2, n1, n2))]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        gx = ExtractDiag(self.offset, self.axis1, self.axis2)(output_grads[0])
        return [gx] + [None] * (len(inputs) - 1)


def _static(v):
    try:
        return int(tb.get_scalar_constant_value(v))
    except tb.NotScalarConstantError:
        return None


def _place(rest, a1, a2, n1, n2):
    """``rest`` (the other axes, in order) with ``n1``/``n2`` put at ``a1``/``a2``."""
    out, it = [], iter(rest)
    for i in range(len(rest) + 2):
        out.append(n1 if i == a1 else n2 if i == a2 else next(it))
    return tuple(out)


def extract_diag(x, offset=0, axis1=0, axis2=1):
    """The diagonal of ``x`` (``np.diagonal``)."""
    return ExtractDiag(offset, axis1, axis2)(x)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal`` (Theano's ``T.diagonal``)."""
    return extract_diag(a, offset, axis1, axis2)


def alloc_diag(x, offset=0, axis1=0, axis2=1):
    """A matrix (or stack of them) with ``x`` on its ``offset`` diagonal."""
    return AllocDiag(offset, axis1, axis2)(x)


def diag(v, k=0):
    """``np.diag``: the diagonal of a matrix, or a matrix with a vector on its diagonal."""
    v = tb.as_tensor_variable(v)
    if v.ndim == 1:
        return alloc_diag(v, k)
    if v.ndim == 2:
        return extract_diag(v, k)
    raise ValueError(f"diag: {v} has {v.ndim} dims; it takes a vector or a matrix")


def trace(x, offset=0):
    """The sum of the ``offset`` diagonal of a matrix."""
    x = tb.as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"trace: {x} has {x.ndim} dims; it takes a matrix")
    return tm.sum(extract_diag(x, offset))


def _tri_mask(x, k, lower):
    rows = dimshuffle(arange(shape_i(x, x.ndim - 2)), 0, "x")
    cols = dimshuffle(arange(shape_i(x, x.ndim - 1)), "x", 0)
    return tm.ge(rows + k, cols) if lower else tm.le(rows + k, cols)


def tril(x, k=0):
    """``np.tril``: entries on and below diagonal ``k`` of the last two axes, others 0."""
    x = tb.as_tensor_variable(x)
    return tm.switch(_tri_mask(x, k, True), x, tb.constant(np.zeros((), x.dtype)))


def triu(x, k=0):
    """``np.triu``: entries on and above diagonal ``k`` of the last two axes, others 0."""
    x = tb.as_tensor_variable(x)
    return tm.switch(_tri_mask(x, k, False), x, tb.constant(np.zeros((), x.dtype)))


__all__ = ["ExtractDiag", "AllocDiag", "extract_diag", "alloc_diag", "diag", "diagonal", "trace",
           "tril", "triu"]
