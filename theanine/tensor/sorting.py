"""``sort`` / ``argsort`` (NumPy semantics) and the gather/scatter ops their gradients use.

The gradient of ``sort`` sends each output gradient back to the position the value
came from: ``take_along_axis(gz, argsort(argsort(x)))``. ``TakeAlongAxis`` and
``AddAlongAxis`` are each other's gradient.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import normalize_axis
from theanine.tensor.shape import reshape
from theanine.tensor.type import TensorType

_KINDS = ("quicksort", "mergesort", "heapsort", "stable")


class _AlongAxis(Op):
    """Base of the ops working along one (normalised) axis."""

    __props__ = ("axis",)

    def __init__(self, axis: int = -1):
        self.axis = int(axis)

    def __str__(self):
        return f"{type(self).__name__}{{axis={self.axis}}}"

    def _norm(self, x):
        if x.ndim == 0:
            raise ValueError(f"{self}: {x} is 0-d; sorting needs at least one axis")
        (axis,) = normalize_axis(self.axis, x.ndim)
        return axis


class Sort(_AlongAxis):
    """``np.sort(x, axis)`` (stable)."""

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        axis = self._norm(x)
        if axis != self.axis:
            return Sort(axis).make_node(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.sort(inputs[0], axis=self.axis, kind="stable")

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        where_from = ArgSort(self.axis)(ArgSort(self.axis)(x))
        return [TakeAlongAxis(self.axis)(gz, where_from)]


class ArgSort(_AlongAxis):
    """``np.argsort(x, axis)`` (stable), as int64."""

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        axis = self._norm(x)
        if axis != self.axis:
            return ArgSort(axis).make_node(x)
        return Apply(self, [x], [TensorType("int64", x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.argsort(inputs[0], axis=self.axis,
                                          kind="stable").astype("int64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type()]


def _check_indices(op, x, idx):
    if idx.dtype not in ts.INT_DTYPES:
        raise TypeError(f"{op}: indices must be integers, got {idx.type}")
    if idx.ndim != x.ndim:
        raise ValueError(f"{op}: indices have {idx.ndim} dims, the array {x.ndim}")


class TakeAlongAxis(_AlongAxis):
    """``np.take_along_axis(x, idx, axis)``."""

    def make_node(self, x, idx):
        x, idx = tb.as_tensor_variable(x), tb.as_tensor_variable(idx)
        axis = self._norm(x)
        if axis != self.axis:
            return TakeAlongAxis(axis).make_node(x, idx)
        _check_indices(self, x, idx)
        return Apply(self, [x, idx], [TensorType(x.dtype, idx.type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, idx = inputs
        output_storage[0][0] = np.take_along_axis(x, idx, axis=self.axis)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[1])]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        (x, idx), (gz,) = inputs, output_grads
        return [AddAlongAxis(self.axis)(x, idx, gz), disconnected_type()]


class AddAlongAxis(_AlongAxis):
    """``zeros_like(like)`` with ``values`` added at ``idx`` along ``axis`` (repeats add)."""

    def make_node(self, like, idx, values):
        like, idx = tb.as_tensor_variable(like), tb.as_tensor_variable(idx)
        values = tb.as_tensor_variable(values)
        axis = self._norm(like)
        if axis != self.axis:
            return AddAlongAxis(axis).make_node(like, idx, values)
        _check_indices(self, like, idx)
        dtype = np.result_type(like.dtype, values.dtype).name
        return Apply(self, [like, idx, values], [TensorType(dtype, like.type.shape)()])

    def perform(self, node, inputs, output_storage):
        like, idx, values = inputs
        out = np.zeros(like.shape, dtype=node.outputs[0].dtype)
        grid = list(np.indices(idx.shape, sparse=True))
        grid[self.axis] = idx
        np.add.at(out, tuple(grid), values)
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def connection_pattern(self, node):
        return [[False], [False], [True]]

    def L_op(self, inputs, outputs, output_grads):
        idx, (gz,) = inputs[1], output_grads
        return [disconnected_type(), disconnected_type(), TakeAlongAxis(self.axis)(gz, idx)]


def _flat_or(x, axis):
    x = tb.as_tensor_variable(x)
    if axis is None:
        return reshape(x, (-1,)), -1
    return x, axis


def _check_kind(kind):
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"sort kind must be one of {_KINDS}, got {kind!r}")


def sort(a, axis=-1, kind=None, order=None):
    """Sorted copy of ``a`` along ``axis`` (``None``: flattened); always stable."""
    _check_kind(kind)
    if order is not None:
        raise ValueError("sort: 'order' (structured arrays) is not supported")
    x, axis = _flat_or(a, axis)
    return Sort(axis)(x)


def argsort(a, axis=-1, kind=None, order=None):
    """Indices that sort ``a`` along ``axis`` (``None``: flattened); stable."""
    _check_kind(kind)
    if order is not None:
        raise ValueError("argsort: 'order' (structured arrays) is not supported")
    x, axis = _flat_or(a, axis)
    return ArgSort(axis)(x)


def take_along_axis(arr, indices, axis):
    """``np.take_along_axis`` (``axis=None``: on the flattened array)."""
    x, axis = _flat_or(arr, axis)
    return TakeAlongAxis(axis)(x, indices)


__all__ = ["Sort", "ArgSort", "TakeAlongAxis", "AddAlongAxis", "sort", "argsort",
           "take_along_axis"]
