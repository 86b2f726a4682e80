"""Constructing tensors: zeros/ones/full, arange, eye, tile and repeat.

``Alloc`` and ``ARange`` (in ``tensor.alloc``) do the work; this module adds
the user functions with NumPy's signatures and the ``Eye`` op.
"""

from __future__ import annotations

import numpy as np

from theanine.config import config
from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.alloc import (
    ARange,
    alloc,
    arange_dtype,
    as_int_scalar,
    fill,
    ones_like,
    second,
    shape_entries,
    static_int,
    zeros_like,
)
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.shape import reshape, shape_i
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import TensorType


def _dtype(dtype):
    if dtype is None or dtype == "floatX":
        return config.floatX
    return str(np.dtype(dtype))


def _shape_of(shape, what):
    """Shape entries; a symbolic vector of known length is split with indexing."""
    if isinstance(shape, Variable) and shape.ndim == 1:
        try:
            return shape_entries(shape, what)
        except TypeError:
            n = shape.type.shape[0]
            if n is None:
                raise TypeError(f"{what}: the length of shape vector {shape} is not known "
                                "statically; pass a tuple of scalars") from None
            return [as_int_scalar(Subtensor((i,))(shape), what) for i in range(n)]
    return shape_entries(shape, what)


def zeros(shape, dtype=None):
    """A new array of zeros (``dtype`` defaults to floatX)."""
    return alloc(np.array(0, dtype=_dtype(dtype)), *_shape_of(shape, "zeros"))


def ones(shape, dtype=None):
    """A new array of ones (``dtype`` defaults to floatX)."""
    return alloc(np.array(1, dtype=_dtype(dtype)), *_shape_of(shape, "ones"))


def full(shape, fill_value, dtype=None):
    """A new array filled with ``fill_value`` (NumPy's dtype when ``dtype`` is None)."""
    if dtype is not None:
        value = tb.cast(tb.as_tensor_variable(fill_value), _dtype(dtype)) \
            if isinstance(fill_value, Variable) else tb.constant(fill_value, dtype=_dtype(dtype))
    else:
        value = tb.as_tensor_variable(fill_value)
    return alloc(value, *_shape_of(shape, "full"))


def full_like(x, fill_value, dtype=None):
    """An array shaped like ``x`` filled with ``fill_value`` (``x``'s dtype by default)."""
    x = tb.as_tensor_variable(x)
    return full(x.shape, fill_value, dtype=dtype or x.dtype)


def empty(shape, dtype=None):
    """Like ``zeros`` (there are no uninitialised arrays in a symbolic graph)."""
    return zeros(shape, dtype)


# -- arange --------------------------------------------------------------------------


def arange(start, stop=None, step=1, dtype=None):
    """``np.arange``: symbolic bounds, NumPy's output dtype unless ``dtype`` is given."""
    if stop is None:
        start, stop = 0, start
    ins = []
    for v in (start, stop, step):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            ins.append(tb.constant(np.int64(v)))
        elif isinstance(v, float):
            ins.append(tb.constant(np.float64(v)))
        else:
            ins.append(tb.as_tensor_variable(v))
    out_dtype = arange_dtype(*[v.dtype for v in ins]) if dtype is None else _dtype(dtype)
    return ARange(out_dtype)(*ins)


# -- eye -----------------------------------------------------------------------------


class Eye(Op):
    """``np.eye(n, m, k)``: ones on the ``k``-th diagonal."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def make_node(self, n, m, k):
        n, m, k = (as_int_scalar(v, f"eye: {name}") for v, name in zip((n, m, k), "nmk"))
        shape = tuple(static_int(v) for v in (n, m))
        if any(s is not None and s < 0 for s in shape):
            raise ValueError(f"eye: negative size in {shape}")
        return Apply(self, [n, m, k], [TensorType(self.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        n, m, k = (int(v) for v in inputs)
        output_storage[0][0] = np.eye(n, m, k, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(node.inputs[:2])]

    def connection_pattern(self, node):
        return [[False]] * 3

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]


def eye(n, m=None, k=0, dtype=None):
    """The identity-like matrix ``np.eye(n, m, k)`` (``dtype`` defaults to floatX)."""
    return Eye(_dtype(dtype))(n, n if m is None else m, k)


def identity_like(x, dtype=None):
    """An identity-like matrix with the shape of the matrix ``x``."""
    x = tb.as_tensor_variable(x)
    if x.ndim != 2:
        raise ValueError(f"identity_like: {x} is not a matrix ({x.ndim} dims)")
    return eye(shape_i(x, 0), shape_i(x, 1), 0, dtype=dtype or x.dtype)


# -- tile / repeat -------------------------------------------------------------------


def tile(x, reps):
    """``np.tile`` with constant integer ``reps``: repeat the whole array along axes."""
    x = tb.as_tensor_variable(x)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    if not all(isinstance(r, (int, np.integer)) and r >= 0 for r in reps):
        raise TypeError(f"tile: reps must be non-negative Python integers, got {reps}")
    ndim = max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + tuple(int(r) for r in reps)
    x = dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))
    pattern, shape, final = [], [], []
    for axis, r in enumerate(reps):
        d = shape_i(x, axis)
        pattern += ["x", axis]
        shape += [r, d]
        final.append(r * x.type.shape[axis] if x.type.shape[axis] is not None else r * d)
    return reshape(alloc(dimshuffle(x, pattern), *shape), final)


def repeat(x, repeats, axis=None):
    """``np.repeat`` with a constant integer ``repeats``: repeat each element."""
    x = tb.as_tensor_variable(x)
    if not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise TypeError(f"repeat: repeats must be a non-negative integer, got {repeats!r}")
    if axis is None:
        x = x.reshape((-1,)) if x.ndim != 1 else x
        axis = 0
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"repeat: axis {axis} is out of range for {x} of {x.ndim} dims")
    axis %= x.ndim
    pattern = list(range(x.ndim))
    pattern.insert(axis + 1, "x")
    shape = [shape_i(x, i) for i in range(x.ndim)]
    shape.insert(axis + 1, int(repeats))
    final = [shape_i(x, i) for i in range(x.ndim)]
    final[axis] = final[axis] * int(repeats)
    return reshape(alloc(dimshuffle(x, pattern), *shape), final)


__all__ = ["ARange", "Eye", "alloc", "zeros", "ones", "full", "full_like", "empty",
           "zeros_like", "ones_like", "fill", "second", "arange", "eye", "identity_like",
           "tile", "repeat"]
