"""Neural-network basics: softmax, log-softmax, logsumexp, one-hot, cross-entropies.

``Softmax``, ``LogSoftmax`` and ``LogSumExp`` are ops (stable NumPy ``perform``, and
gradients written with the ops themselves), so their graphs stay small and their
gradients need no stabilising rewrite.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.alloc import ARange
from theanine.tensor.elemwise import keep_dims, normalize_axis
from theanine.tensor.linalg import tensordot
from theanine.tensor.math import relu, sigmoid, softplus  # noqa: F401  (re-exported)
from theanine.tensor.shape import reshape, shape_i
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
        output_storage[0][0] = np.asarray(_logsumexp(x, self.axis), dtype=x.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        axes = normalize_axis(self.axis, node.inputs[0].ndim)
        return [tuple(s for i, s in enumerate(input_shapes[0]) if i not in axes)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        axes = normalize_axis(self.axis, x.ndim)
        out_k, gz_k = keep_dims(out, x.ndim, axes), keep_dims(gz, x.ndim, axes)
        return [tm.mul(gz_k, tm.exp(tm.sub(x, out_k)))]


def _logsumexp(x, axis):
    """``m + log(sum(exp(x - m)))`` with ``m`` the max (0 where it is infinite, so
    rows of ``-inf`` stay ``-inf``); an empty reduction gives ``log(0) = -inf``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if not x.size:
            return np.log(np.sum(np.exp(x), axis=axis))
        m = np.max(x, axis=axis, keepdims=True)
        m[~np.isfinite(m)] = 0
        shifted = np.subtract(x, m)
        out = np.log(np.sum(np.exp(shifted, out=shifted), axis=axis))   # one temporary
        return out + (m.reshape(out.shape) if axis is not None else m.reshape(()))


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


# -- Theano 1.0's activations and softmax / cross-entropy helpers (compositions of ops:
# gradients, fusion and every backend come with them) --------------------------------

SELU_ALPHA = 1.6732632423543772848170429916717      # the SELU paper's constants
SELU_SCALE = 1.0507009873554804934193349852946


def hard_sigmoid(x):
    """``clip(0.2 * x + 0.5, 0, 1)``: a piecewise-linear sigmoid (Theano's slope and
    shift)."""
    x = tb.as_tensor_variable(x)
    return tm.clip(x * 0.2 + 0.5, 0, 1)


def ultra_fast_sigmoid(x):
    """Theano's fast approximation of the sigmoid.  Here the exact ``sigmoid`` (its
    fused kernels are as fast), so the approximation error is zero (Theano's was
    about 1e-2); see docs/theano_compat.md."""
    return sigmoid(x)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = tb.as_tensor_variable(x)
    return x / (1 + tm.abs(x))


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below (``expm1``, exact near 0)."""
    x = tb.as_tensor_variable(x)
    return tm.switch(tm.gt(x, 0), x, alpha * tm.expm1(x))


def selu(x):
    """Scaled ELU with the self-normalizing constants: ``scale * elu(x, alpha)``."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def logsoftmax(c, axis=-1):
    """Theano's spelling of ``log_softmax``."""
    return log_softmax(c, axis=axis)


def softmax_with_bias(x, b):
    """``softmax(x + b)`` of a matrix ``x`` with a bias vector ``b`` per column."""
    x, b = tb.as_tensor_variable(x), tb.as_tensor_variable(b)
    if x.ndim != 2 or b.ndim != 1:
        raise TypeError(f"softmax_with_bias: x must be a matrix and b a vector, got {x.type} "
                        f"and {b.type}")
    return softmax(x + b, axis=-1)


def sigmoid_binary_crossentropy(output, target):
    """``binary_crossentropy(sigmoid(output), target)`` computed from the logits
    ``output`` without forming the sigmoid: ``target * softplus(-output) +
    (1 - target) * softplus(output)`` (finite for any logit)."""
    output, target = tb.as_tensor_variable(output), tb.as_tensor_variable(target)
    return target * softplus(-output) + (1 - target) * softplus(output)


def _rows(n):
    return ARange("int64")(tb.constant(np.int64(0)), n, tb.constant(np.int64(1)))


def crossentropy_softmax_1hot(x, y_idx):
    """``(nll, softmax(x))`` for a matrix of scores ``x`` and one class index per row:
    ``nll[i] = -log(softmax(x)[i, y_idx[i]])`` (from ``log_softmax``, so a very
    wrong class gives a large finite value, not inf)."""
    x, y_idx = tb.as_tensor_variable(x), tb.as_tensor_variable(y_idx)
    if x.ndim != 2 or y_idx.ndim != 1 or y_idx.dtype[0] not in "iu":
        raise TypeError(f"crossentropy_softmax_1hot: x must be a matrix and y_idx an "
                        f"integer vector, got {x.type} and {y_idx.type}")
    nll = -log_softmax(x, axis=-1)[_rows(shape_i(x, 0)), y_idx]
    return nll, softmax(x, axis=-1)


def h_softmax(x, batch_size, n_outputs, n_classes, n_outputs_per_class, W1, b1, W2, b2,
              target=None):
    """Two-level hierarchical softmax (Theano's ``h_softmax``).

    The outputs are split into ``n_classes`` classes of ``n_outputs_per_class``: the
    probability of output ``k`` is ``P(class k // n) * P(k % n | class)``, with
    ``P(class) = softmax(x W1 + b1)`` (``W1``: ``(n_in, n_classes)``) and
    ``P(. | class c) = softmax(x W2[c] + b2[c])`` (``W2``: ``(n_classes, n_in,
    n_outputs_per_class)``, ``b2``: ``(n_classes, n_outputs_per_class)``).  Returns
    the ``(batch_size, n_outputs)`` probabilities, or with ``target`` (one output
    index per row) the probability of each row's target.
    """
    x = tb.as_tensor_variable(x)
    class_probs = softmax(tm.dot(x, W1) + b1, axis=-1)              # (batch, classes)
    scores = tensordot(x, W2, axes=[[1], [1]]) + b2                 # (batch, classes, per)
    within = softmax(scores, axis=-1)
    probs = class_probs.dimshuffle(0, 1, "x") * within
    flat = reshape(probs, (batch_size, n_classes * n_outputs_per_class))[:, :n_outputs]
    if target is None:
        return flat
    target = tb.as_tensor_variable(target)
    return flat[_rows(shape_i(x, 0)), target]


__all__ = ["Softmax", "LogSoftmax", "LogSumExp", "OneHot", "softmax", "log_softmax",
           "logsumexp", "to_one_hot", "binary_crossentropy", "categorical_crossentropy",
           "sigmoid", "softplus", "relu", "hard_sigmoid", "ultra_fast_sigmoid", "softsign",
           "elu", "selu", "logsoftmax", "softmax_with_bias", "sigmoid_binary_crossentropy",
           "crossentropy_softmax_1hot", "h_softmax", "SELU_ALPHA", "SELU_SCALE"]
