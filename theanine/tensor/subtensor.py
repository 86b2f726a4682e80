"""Indexing: basic and advanced ``__getitem__``, ``set_subtensor``, ``inc_subtensor``.

Basic indexing (ints, slices) is ``Subtensor``, a view of its input.  Indexing
with integer arrays or boolean masks is ``AdvancedSubtensor``, a copy, with
NumPy's placement of the broadcast index dimensions.  Writing through an index
is ``IncSubtensor`` / ``AdvancedIncSubtensor``, which return a new tensor (or,
with ``inplace=True``, set by the inplace pass, overwrite ``x``).  See
``theanine.tensor.indexing`` for how an index is stored.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.alloc import (
    INT_DTYPES,
    ARange,
    alloc,
    static_int,
    sum_to_shape,
    zeros_like,
)
from theanine.tensor.elemwise import DimShuffle, broadcast_static_shape, dimshuffle
from theanine.tensor.indexing import (
    build_index,
    consumed_axes,
    format_index,
    index_input_count,
    index_layout,
    is_advanced,
    parse_index,
    slice_length,
    static_out_shape,
)
from theanine.tensor.shape import reshape, shape_tuple
from theanine.tensor.type import TensorType

_DISCRETE = INT_DTYPES + ("bool",)


def index_error(exc, x, idx_list, values):
    """An IndexError naming the index, the failing axis and the shape of ``x``."""
    return IndexError(f"{exc} (indexing a tensor of shape {np.shape(x)} with "
                      f"[{format_index(idx_list)}], index inputs "
                      f"{[np.asarray(v).tolist() for v in values]})")


class _IndexOp(Op):
    """What the four indexing ops share: the index, its inputs and its checks."""

    def _check_inputs(self, x, inputs):
        if len(inputs) != index_input_count(self.idx_list):
            raise TypeError(f"{self}: expected {index_input_count(self.idx_list)} index "
                            f"inputs, got {len(inputs)}")
        inputs = [tb.as_tensor_variable(v) for v in inputs]
        kinds = [c for e in self.idx_list if not isinstance(e, int)
                 for c in (e[1:] if type(e) is tuple else (e,)) if c in ("i", "a", "b")]
        for pos, (kind, v) in enumerate(zip(kinds, inputs)):
            ok = {"i": v.ndim == 0 and v.dtype in INT_DTYPES,
                  "a": v.ndim >= 1 and v.dtype in INT_DTYPES,
                  "b": v.ndim >= 1 and v.dtype == "bool"}[kind]
            if not ok:
                want = {"i": "an integer scalar", "a": "an integer array",
                        "b": "a boolean array"}[kind]
                raise TypeError(f"{self}: index input {pos} must be {want}, got {v} of "
                                f"type {v.type}")
        if consumed_axes(self.idx_list, inputs) > x.ndim:
            raise IndexError(f"{self}: too many indices for {x} of {x.ndim} dims")
        return inputs

    def _sub_shape(self, x, values_shapes, node_inputs):
        """Symbolic shape of ``x[index]`` for ``infer_shape``."""
        shapes = dict(zip(map(id, node_inputs), values_shapes))

        def shape_of(v):
            return shapes[id(v)]

        def mask_count(v):
            return tm.sum(v, dtype="int64")

        def broadcast(shape_list):
            ndim = max((len(s) for s in shape_list), default=0)
            out = []
            for axis in range(ndim):
                dims = [s[axis - ndim + len(s)] for s in shape_list
                        if axis - ndim + len(s) >= 0]
                size = 1
                for d in dims:  # broadcasting: a size-1 entry gives way to the other
                    if static_int(d) == 1:
                        continue
                    size = d if static_int(size) == 1 else tm.switch(tm.eq(d, 1), size, d)
                out.append(size)
            return out

        return tuple(index_layout(self.idx_list, x, node_inputs, shape_of, mask_count,
                                  slice_length, broadcast))


class _ReadBase(_IndexOp):
    """What ``x[index]`` shares between the basic and the advanced op."""

    #: the op that writes through the same index (set below, once it is defined)
    inc_op_class: type

    def make_node(self, x, *inputs):
        x = tb.as_tensor_variable(x)
        inputs = self._check_inputs(x, inputs)
        shape = static_out_shape(x, self.idx_list, inputs, str(self))
        return Apply(self, [x, *inputs], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        x, *values = inputs
        try:
            out = x[build_index(self.idx_list, values)]
        except IndexError as exc:
            raise index_error(exc, x, self.idx_list, values) from None
        output_storage[0][0] = np.asarray(out)

    def infer_shape(self, fgraph, node, input_shapes):
        return [self._sub_shape(list(input_shapes[0]), input_shapes[1:], node.inputs[1:])]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        x, *values = inputs
        (g,) = output_grads
        if x.dtype in _DISCRETE:
            return [None] * len(inputs)
        gx = self.inc_op_class(self.idx_list)(zeros_like(x), g, *values)
        return [gx] + [disconnected_type() for _ in values]


class Subtensor(_ReadBase):
    """``x[ints and slices]``: a view of ``x``."""

    __props__ = ("idx_list",)
    view_map = {0: [0]}

    def __init__(self, idx_list):
        self.idx_list = tuple(idx_list)
        if is_advanced(self.idx_list):
            raise ValueError(f"Subtensor takes basic indices only, got {self.idx_list}")

    def __str__(self):
        return f"Subtensor{{{format_index(self.idx_list)}}}"


class AdvancedSubtensor(_ReadBase):
    """``x[index]`` with integer arrays or boolean masks (NumPy semantics); a copy."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = tuple(idx_list)

    def __str__(self):
        return f"AdvancedSubtensor{{{format_index(self.idx_list)}}}"


class _IncBase(_IndexOp):
    """``x`` with ``x[index]`` set to (or incremented by) ``y``."""

    __props__ = ("idx_list", "inplace", "set_instead_of_inc")
    sub_op_class: type = Subtensor

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False):
        self.idx_list = tuple(idx_list)
        self.inplace = bool(inplace)
        self.set_instead_of_inc = bool(set_instead_of_inc)
        self.destroy_map = {0: [0]} if self.inplace else {}

    def inplace_variant(self):
        """The form writing into ``x`` (see ``Op.inplace_variant``)."""
        if self.inplace:
            return None
        return type(self)(self.idx_list, inplace=True,
                          set_instead_of_inc=self.set_instead_of_inc)

    def __str__(self):
        verb = "Set" if self.set_instead_of_inc else "Inc"
        extra = ", inplace" if self.inplace else ""
        return f"{type(self).__name__}{{{verb}: {format_index(self.idx_list)}{extra}}}"

    def make_node(self, x, y, *inputs):
        x = tb.as_tensor_variable(x)
        y = tb.as_tensor_variable(y)
        inputs = self._check_inputs(x, inputs)
        if y.dtype != x.dtype:
            raise TypeError(f"{self}: y has dtype {y.dtype}, expected {x.dtype} like x "
                            "(set_subtensor / inc_subtensor cast it for you)")
        target = static_out_shape(x, self.idx_list, inputs, str(self))
        if y.ndim > len(target):
            raise ValueError(f"{self}: y ({y.type}) has more dims than x[index] "
                             f"(static shape {target})")
        merged = broadcast_static_shape([target, y.type.shape], f"{self}: ")
        for axis, (t, m) in enumerate(zip(target, merged)):
            if t is not None and m is not None and t != m:
                raise ValueError(f"{self}: y of static shape {y.type.shape} cannot be "
                                 f"broadcast to x[index] of static shape {target} "
                                 f"(axis {axis})")
        return Apply(self, [x, y, *inputs], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y, *values = inputs
        out = x if self.inplace else x.copy()
        idx = build_index(self.idx_list, values)
        try:
            self._write(out, idx, y)
        except IndexError as exc:
            raise index_error(exc, x, self.idx_list, values) from None
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[True], [True]] + [[False]] * (len(node.inputs) - 2)

    def L_op(self, inputs, outputs, output_grads):
        x, y, *values = inputs
        (g,) = output_grads
        if x.dtype in _DISCRETE:
            return [None] * len(inputs)
        if self.set_instead_of_inc:
            zero = tb.constant(np.array(0, dtype=g.dtype))
            gx = type(self)(self.idx_list, set_instead_of_inc=True)(g, zero, *values)
        else:
            gx = g
        gsub = self.sub_op_class(self.idx_list)(g, *values)
        if self.set_instead_of_inc and "a" in self.idx_list:
            gsub = tm.mul(gsub, self._winners(x, values, gsub))
        gy = sum_to_shape(gsub, y)
        return [gx, gy] + [disconnected_type() for _ in values]

    def _winners(self, x, values, like):
        """1 where an entry of (broadcast) ``y`` is the value a repeated index keeps.

        With repeated indices the last write wins, so earlier duplicates get no
        gradient: write each position's ordinal, read back, and compare.
        """
        shape = shape_tuple(like)
        size = tb.constant(np.int64(1))
        for d in shape:
            size = tm.mul(size, d)
        one = tb.constant(np.int64(1))
        ordinals = reshape(ARange("int64")(tb.constant(np.int64(0)), size, one), shape)
        written = type(self)(self.idx_list, set_instead_of_inc=True)(
            alloc(np.int64(-1), *shape_tuple(x)), ordinals, *values)
        read = self.sub_op_class(self.idx_list)(written, *values)
        return tb.cast(tm.eq(read, ordinals), like.dtype)


class IncSubtensor(_IncBase):
    """Write ``y`` into a basic-index view of (a copy of) ``x``."""

    sub_op_class = Subtensor

    def __init__(self, idx_list, inplace=False, set_instead_of_inc=False):
        super().__init__(idx_list, inplace, set_instead_of_inc)
        if is_advanced(self.idx_list):
            raise ValueError(f"IncSubtensor takes basic indices only, got {self.idx_list}")

    def _write(self, out, idx, y):
        if self.set_instead_of_inc:
            out[idx] = y
        else:
            out[idx] += y


class AdvancedIncSubtensor(_IncBase):
    """Write ``y`` at advanced indices; increments at repeated indices accumulate."""

    sub_op_class = AdvancedSubtensor

    def _write(self, out, idx, y):
        if self.set_instead_of_inc:
            out[idx] = y
        else:
            np.add.at(out, idx, y)


Subtensor.inc_op_class = IncSubtensor
AdvancedSubtensor.inc_op_class = AdvancedIncSubtensor


# -- user functions ---------------------------------------------------------------


def getitem(x, index):
    """``x[index]`` with NumPy semantics (basic indices give a view)."""
    x = tb.as_tensor_variable(x)
    x2, idx_list, inputs = parse_index(x, index)
    if is_advanced(idx_list):
        return AdvancedSubtensor(idx_list)(x2, *inputs)
    return Subtensor(idx_list)(x2, *inputs)


def _as_y(x, y, what):
    """``y`` converted to ``x``'s dtype when that loses no kind (float into int does)."""
    if isinstance(y, (bool, int, float, complex)):
        try:
            dtype = np.result_type(x.dtype, y).name
        except OverflowError:
            raise TypeError(f"{what}: value {y!r} does not fit dtype {x.dtype}") from None
        if dtype != x.dtype:
            _reject(x, y, what)
        return tb.constant(y, dtype=x.dtype)
    y = tb.as_tensor_variable(y)
    if y.dtype == x.dtype:
        return y
    if not np.can_cast(y.dtype, x.dtype, "same_kind"):
        _reject(x, y, what)
    return tb.cast(y, x.dtype)


def _reject(x, y, what):
    ydt = y.dtype if isinstance(y, Variable) else type(y).__name__
    raise TypeError(f"{what}: cannot write a value of dtype {ydt} into {x} of dtype "
                    f"{x.dtype} (cast it explicitly)")


def _write(sub, y, set_instead_of_inc, what):
    if not isinstance(sub, Variable) or sub.owner is None or not isinstance(
            sub.owner.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError(f"{what}: the first argument must be an indexed tensor such as "
                        f"x[1:3] (the result of indexing), got {sub}")
    op = sub.owner.op
    base, *values = sub.owner.inputs
    y = _as_y(sub, y, what)
    cls = AdvancedIncSubtensor if isinstance(op, AdvancedSubtensor) else IncSubtensor
    new_base = cls(op.idx_list, set_instead_of_inc=set_instead_of_inc)(base, y, *values)
    if getattr(base.tag, "index_newaxis", False) and isinstance(base.owner.op, DimShuffle):
        order = base.owner.op.new_order
        new_base = dimshuffle(new_base, [i for i, o in enumerate(order) if o != "x"])
        base = base.owner.inputs[0]
    if base.owner is not None and isinstance(base.owner.op, Subtensor):
        return _write(base, new_base, True, what)
    return new_base


def set_subtensor(x, y):
    """A copy of the tensor that ``x`` indexes, with ``x``'s part replaced by ``y``.

    ``set_subtensor(a[1:3], y)`` is NumPy's ``a2 = a.copy(); a2[1:3] = y``.
    """
    return _write(x, y, True, "set_subtensor")


def inc_subtensor(x, y):
    """Like ``set_subtensor`` but adds ``y``; repeated indices accumulate (``np.add.at``)."""
    return _write(x, y, False, "inc_subtensor")


__all__ = ["Subtensor", "AdvancedSubtensor", "IncSubtensor", "AdvancedIncSubtensor",
           "getitem", "set_subtensor", "inc_subtensor"]
