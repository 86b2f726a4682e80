"""Neural-network basics: softmax, log-softmax, logsumexp, one-hot, cross-entropies.

``Softmax``, ``LogSoftmax`` and ``LogSumExp`` are ops (stable NumPy ``perform``, and
gradients written with the ops themselves), so their graphs stay small and their
gradients need no stabilising rewrite.
"""

from __future__ import annotations

import numpy as np
import scipy.special as sp

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import keep_dims, normalize_axis
from theanine.tensor.math import relu, sigmoid, softplus  # noqa: F401  (re-exported)
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType


def _float_dtype(dtype: str) -> str:
    """Integers and booleans become float64 (as in ``scipy.special.softmax``)."""
    return dtype if dtype in ts.FLOAT_DTYPES else "float64"


class _AxisOp(Op):
    """An op normalising over one axis (``None``: all axes), output shaped like x."""

    __props__ = ("axis",)

    def __init__(self, axis=-1):
        self.axis = None if axis is None else int(axis)

    def __str__(self):
        return f"{type(self).__name__}{{axis={self.axis}}}"

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if self.axis is not None:
            (axis,) = normalize_axis(self.axis, x.ndim)
            if x.ndim == 0:
                raise ValueError(f"{self}: axis {self.axis} given for 0-d {x}")
            if axis != self.axis:
                return type(self)(axis).make_node(x)
        return Apply(self, [x], [TensorType(_float_dtype(x.dtype), x.type.shape)()])

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def _axes(self, ndim):
        return tuple(range(ndim)) if self.axis is None else (self.axis,)


def _stable_exp(x, axis):
    """``exp(x - max(x))`` along ``axis`` (empty inputs pass through)."""
    if x.size == 0:
        return np.array(x, copy=True), np.array(x, copy=True)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return np.exp(shifted), shifted


class Softmax(_AxisOp):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed after subtracting the max."""

    def perform(self, node, inputs, output_storage):
        x = np.asarray(inputs[0], dtype=node.outputs[0].dtype)
        e, _ = _stable_exp(x, self.axis)
        with np.errstate(invalid="ignore"):
            out = e / np.sum(e, axis=self.axis, keepdims=True) if e.size else e
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (sm,), (gz,) = inputs, outputs, output_grads
        inner = tm.sum(tm.mul(gz, sm), axis=self._axes(x.ndim), keepdims=True)
        return [tm.mul(tm.sub(gz, inner), sm)]


class LogSoftmax(_AxisOp):
    """``x - logsumexp(x)`` along ``axis``, never forming ``exp(x)`` unshifted."""

    def perform(self, node, inputs, output_storage):
        x = np.asarray(inputs[0], dtype=node.outputs[0].dtype)
        e, shifted = _stable_exp(x, self.axis)
        out = shifted - np.log(np.sum(e, axis=self.axis, keepdims=True)) if e.size else e
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        total = tm.sum(gz, axis=self._axes(x.ndim), keepdims=True)
        return [tm.sub(gz, tm.mul(total, tm.exp(out)))]


class LogSumExp(Op):
    """``log(sum(exp(x), axis))`` (reduced axes dropped), computed stably."""

    __props__ = ("axis",)

    def __init__(self, axis=None):
        self.axis = None if axis is None else tuple(axis)

    def __str__(self):
        return f"LogSumExp{{{self.axis}}}"

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        axes = normalize_axis(self.axis, x.ndim)
        if self.axis is None or axes != self.axis:
            if self.axis is not None or x.ndim:
                return LogSumExp(axes).make_node(x)
        shape = tuple(s for i, s in enumerate(x.type.shape) if i not in axes)
        return Apply(self, [x], [TensorType(_float_dtype(x.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        x = np.asarray(inputs[0], dtype=node.outputs[0].dtype)
        with np.errstate(divide="ignore"):
            out = sp.logsumexp(x, axis=self.axis) if x.size else \
                np.log(np.sum(np.exp(x), axis=self.axis))
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        axes = normalize_axis(self.axis, node.inputs[0].ndim)
        return [tuple(s for i, s in enumerate(input_shapes[0]) if i not in axes)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        axes = normalize_axis(self.axis, x.ndim)
        out_k, gz_k = keep_dims(out, x.ndim, axes), keep_dims(gz, x.ndim, axes)
        return [tm.mul(gz_k, tm.exp(tm.sub(x, out_k)))]


def softmax(x, axis=-1):
    """Softmax along ``axis`` (default: last; ``None``: over all elements)."""
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` computed stably."""
    return LogSoftmax(axis)(x)


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))`` without overflow (``scipy.special.logsumexp``)."""
    x = tb.as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    out = LogSumExp(axes)(x)
    return keep_dims(out, x.ndim, axes) if keepdims else out


class OneHot(Op):
    """Rows of the identity: ``out[..., k] = (y[...] == k)`` for integer labels ``y`` and
    ``n`` classes (a symbolic integer; a constant gives a static shape)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="float64"):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, y, n):
        y, n = tb.as_tensor_variable(y), tb.as_tensor_variable(n)
        if y.dtype not in ts.INT_DTYPES:
            raise TypeError(f"one_hot: labels must be integers, got {y.type}")
        if n.ndim != 0 or n.dtype not in ts.INT_DTYPES:
            raise TypeError(f"one_hot: the number of classes must be an integer scalar, "
                            f"got {n.type}")
        try:
            static = int(tb.get_scalar_constant_value(n))
        except tb.NotScalarConstantError:
            static = None
        return Apply(self, [y, n], [TensorType(self.dtype, y.type.shape + (static,))()])

    def perform(self, node, inputs, output_storage):
        y, n = inputs
        n = int(n)
        if y.size and (y.min() < 0 or y.max() >= n):
            raise ValueError(f"one_hot: labels must lie in [0, {n}), got values in "
                             f"[{y.min()}, {y.max()}]")
        output_storage[0][0] = (y[..., None] == np.arange(n)).astype(self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0]) + (node.inputs[1],)]

    def connection_pattern(self, node):
        return [[False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        raise TypeError("one_hot has no gradient: its inputs are integer labels and a count")


def to_one_hot(y, nb_class, dtype=None):
    """One-hot encode integer labels ``y`` into ``nb_class`` columns (float64 default)."""
    return OneHot(dtype or "float64")(y, nb_class)


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))`` elementwise."""
    output, target = tb.as_tensor_variable(output), tb.as_tensor_variable(target)
    return tm.neg(tm.add(tm.mul(target, tm.log(output)),
                         tm.mul(tm.sub(1, target), tm.log(tm.sub(1, output)))))


def categorical_crossentropy(coding_dist, true_dist):
    """``-sum(true_dist * log(coding_dist), axis=-1)``; ``true_dist`` may also be a
    vector of integer class labels (one per row of ``coding_dist``)."""
    coding_dist = tb.as_tensor_variable(coding_dist)
    true_dist = tb.as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim - 1 and true_dist.dtype in ts.INT_DTYPES:
        n = shape_i(coding_dist, coding_dist.ndim - 1)
        true_dist = to_one_hot(true_dist, n, coding_dist.dtype)
    if true_dist.ndim != coding_dist.ndim:
        raise ValueError(f"categorical_crossentropy: true_dist {true_dist.type} does not "
                         f"match coding_dist {coding_dist.type}")
    return tm.neg(tm.sum(tm.mul(true_dist, tm.log(coding_dist)), axis=-1))


__all__ = ["Softmax", "LogSoftmax", "LogSumExp", "OneHot", "softmax", "log_softmax",
           "logsumexp", "to_one_hot", "binary_crossentropy", "categorical_crossentropy",
           "sigmoid", "softplus", "relu"]
