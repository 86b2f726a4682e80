"""Joining and splitting: ``concatenate``/``join``, ``stack`` and ``split``.

Inputs of different dtypes are cast to their NumPy result type in the graph
before the ``Join``, so the op itself sees one dtype and its gradient needs no
casts of its own.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.alloc import INT_DTYPES, as_int_scalar, static_int, zeros_like
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.indexing import FULL
from theanine.tensor.shape import shape_i
from theanine.tensor.subtensor import Subtensor
from theanine.tensor.type import TensorType

_DISCRETE = INT_DTYPES + ("bool",)


def _normalize_axis(axis, ndim, what):
    if isinstance(axis, Variable):
        value = static_int(axis)
        if value is None:
            raise TypeError(f"{what}: the axis must be a constant integer, got {axis}")
        axis = value
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{what}: the axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for tensors of {ndim} dims")
    return int(axis) % ndim


class Join(Op):
    """``np.concatenate(inputs, axis)`` of tensors with one dtype and ndim."""

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = int(axis)

    def __str__(self):
        return f"Join{{axis={self.axis}}}"

    def make_node(self, *tensors):
        if not tensors:
            raise ValueError("Join: needs at least one tensor")
        tensors = [tb.as_tensor_variable(t) for t in tensors]
        first = tensors[0]
        if first.ndim == 0:
            raise ValueError("Join: zero-dimensional tensors cannot be concatenated "
                             "(use stack)")
        if not 0 <= self.axis < first.ndim:
            raise ValueError(f"{self}: axis out of range for {first.ndim}-d tensors")
        shape = list(first.type.shape)
        for pos, t in enumerate(tensors):
            if t.ndim != first.ndim:
                raise ValueError(f"{self}: all inputs must have the same number of dims; "
                                 f"input 0 has {first.ndim}, input {pos} ({t}) has {t.ndim}")
            if t.dtype != first.dtype:
                raise TypeError(f"{self}: input {pos} has dtype {t.dtype}, input 0 has "
                                f"{first.dtype} (concatenate casts them for you)")
            for axis, s in enumerate(t.type.shape):
                if axis == self.axis:
                    continue
                if shape[axis] is None:
                    shape[axis] = s
                elif s is not None and s != shape[axis]:
                    raise ValueError(f"{self}: input {pos} ({t}) has static shape "
                                     f"{t.type.shape}, which differs from "
                                     f"{tuple(shape)} outside the join axis at axis {axis}")
        sizes = [t.type.shape[self.axis] for t in tensors]
        shape[self.axis] = None if None in sizes else int(sum(sizes))
        return Apply(self, tensors, [TensorType(first.dtype, tuple(shape))()])

    def perform(self, node, inputs, output_storage):
        try:
            out = np.concatenate(inputs, axis=self.axis)
        except ValueError as exc:
            shapes = ", ".join(str(np.shape(i)) for i in inputs)
            raise ValueError(f"{self}: cannot join arrays of shapes {shapes}: {exc}") from None
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, input_shapes):
        out = []
        for axis in range(node.outputs[0].ndim):
            static = node.outputs[0].type.shape[axis]
            if static is not None:
                out.append(static)
            elif axis == self.axis:
                total = input_shapes[0][axis]
                for s in input_shapes[1:]:
                    total = total + s[axis]
                out.append(total)
            else:
                out.append(input_shapes[0][axis])
        return [tuple(out)]

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if outputs[0].dtype in _DISCRETE:
            return [None] * len(inputs)
        grads = []
        start = tb.constant(np.int64(0))
        for t in inputs:
            stop = start + shape_i(t, self.axis)
            idx = [FULL] * self.axis + [("s", "i", "i", None)]
            grads.append(Subtensor(idx)(g, start, stop))
            start = stop
        return grads


def _common(tensors, what):
    tensors = [tb.as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError(f"{what}: needs at least one tensor")
    dtype = np.result_type(*[t.dtype for t in tensors]).name
    return [tb.cast(t, dtype) for t in tensors]


def concatenate(tensors, axis=0):
    """``np.concatenate``: join tensors along an existing axis, promoting dtypes."""
    if isinstance(tensors, Variable):
        raise TypeError("concatenate: pass a list or tuple of tensors, not a single tensor")
    tensors = _common(tensors, "concatenate")
    if tensors[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    axis = _normalize_axis(axis, tensors[0].ndim, "concatenate")
    if len(tensors) == 1:
        return tensors[0]
    return Join(axis)(*tensors)


def join(axis, *tensors):
    """Theano's spelling of ``concatenate(tensors, axis)``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    return concatenate(tensors, axis)


def stack(tensors, *more, axis=0):
    """``np.stack``: join tensors of one shape along a new axis ``axis``.

    Also accepts Theano's older ``stack(x, y, z)``.
    """
    if more or isinstance(tensors, Variable):
        tensors = (tensors, *more)
    tensors = _common(tensors, "stack")
    ndim = tensors[0].ndim
    for pos, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ValueError(f"stack: all tensors must have the same number of dims; "
                             f"input 0 has {ndim}, input {pos} ({t}) has {t.ndim}")
    axis = _normalize_axis(axis, ndim + 1, "stack")
    pattern = list(range(ndim))
    pattern.insert(axis, "x")
    expanded = [dimshuffle(t, pattern) for t in tensors]
    if len(expanded) == 1:
        return expanded[0]
    return Join(axis)(*expanded)


tb.set_stack_function(stack)


class Split(Op):
    """Split ``x`` along ``axis`` into ``n_splits`` views of the given sizes."""

    __props__ = ("n_splits", "axis")

    def __init__(self, n_splits: int, axis: int):
        self.n_splits = int(n_splits)
        self.axis = int(axis)
        if self.n_splits < 1:
            raise ValueError(f"Split: n_splits must be >= 1, got {n_splits}")
        self.view_map = {i: [0] for i in range(self.n_splits)}

    def __str__(self):
        return f"Split{{{self.n_splits}, axis={self.axis}}}"

    def make_node(self, x, sizes):
        x = tb.as_tensor_variable(x)
        sizes = tb.as_tensor_variable(sizes)
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"{self}: axis out of range for {x} of {x.ndim} dims")
        if sizes.ndim != 1 or sizes.dtype not in INT_DTYPES:
            raise TypeError(f"{self}: split sizes must be an integer vector, got {sizes.type}")
        if sizes.type.shape[0] not in (None, self.n_splits):
            raise ValueError(f"{self}: {sizes.type.shape[0]} sizes given for "
                             f"{self.n_splits} splits")
        static = [None] * self.n_splits
        if isinstance(sizes, Constant):
            static = [int(s) for s in sizes.data]
            if any(s < 0 for s in static):
                raise ValueError(f"{self}: negative split size in {static}")
            known = x.type.shape[self.axis]
            if known is not None and sum(static) != known:
                raise ValueError(f"{self}: split sizes {static} sum to {sum(static)}, but "
                                 f"axis {self.axis} of {x} has size {known}")
        outs = []
        for s in static:
            shape = list(x.type.shape)
            shape[self.axis] = s
            outs.append(TensorType(x.dtype, tuple(shape))())
        return Apply(self, [x, sizes], outs)

    def perform(self, node, inputs, output_storage):
        x, sizes = inputs
        if len(sizes) != self.n_splits:
            raise ValueError(f"{self}: got {len(sizes)} split sizes, expected {self.n_splits}")
        if np.any(sizes < 0) or int(np.sum(sizes)) != x.shape[self.axis]:
            raise ValueError(f"{self}: split sizes {sizes.tolist()} do not sum to the size "
                             f"{x.shape[self.axis]} of axis {self.axis} (input shape "
                             f"{x.shape})")
        pieces = np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)
        for store, piece in zip(output_storage, pieces):
            store[0] = piece

    def infer_shape(self, fgraph, node, input_shapes):
        x, sizes = node.inputs
        out = []
        for i, o in enumerate(node.outputs):
            shape = list(input_shapes[0])
            shape[self.axis] = o.type.shape[self.axis]
            if shape[self.axis] is None:
                shape[self.axis] = Subtensor((i,))(sizes)
            out.append(tuple(shape))
        return out

    def connection_pattern(self, node):
        return [[True] * self.n_splits, [False] * self.n_splits]

    def L_op(self, inputs, outputs, output_grads):
        x, sizes = inputs
        if x.dtype in _DISCRETE:
            return [None, None]
        grads = [zeros_like(o) if g is None else g for g, o in zip(output_grads, outputs)]
        if len(grads) == 1:
            return [grads[0], None]
        return [Join(self.axis)(*grads), None]


def split(x, splits_size, n_splits, axis=0):
    """Split ``x`` along ``axis`` into ``n_splits`` pieces of sizes ``splits_size``.

    Returns a list of ``n_splits`` tensors (views of ``x``).
    """
    x = tb.as_tensor_variable(x)
    axis = _normalize_axis(axis, x.ndim, "split")
    if isinstance(splits_size, (list, tuple)) and not any(
            isinstance(s, Variable) for s in splits_size):
        sizes = tb.constant(np.asarray(splits_size, dtype="int64").reshape(-1))
    elif isinstance(splits_size, (list, tuple)):
        sizes = tb.MakeVector("int64")(*[as_int_scalar(s, "split size") for s in splits_size])
    else:
        sizes = tb.as_tensor_variable(splits_size)
    outs = Split(n_splits, axis)(x, sizes)
    return list(outs) if isinstance(outs, (list, tuple)) else [outs]


__all__ = ["Join", "Split", "concatenate", "join", "stack", "split"]
