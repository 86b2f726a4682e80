"""Shape ops: ``x.shape``, one dimension, reshape, and static-shape assertions."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.type import TensorType


class Shape(Op):
    """The int64 vector of a tensor's shape."""

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs[0].shape, dtype="int64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[0].ndim,)]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type()]


class ShapeI(Op):
    """One entry of a tensor's shape, as an int64 scalar."""

    __props__ = ("i",)

    def __init__(self, i: int):
        self.i = int(i)

    def __str__(self):
        return f"Shape_i{{{self.i}}}"

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise ValueError(f"{self}: {x} has only {x.ndim} dims")
        return Apply(self, [x], [TensorType("int64", ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs[0].shape[self.i], dtype="int64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type()]


shape = Shape()


def shape_i(x, i: int):
    """Size of axis ``i`` as a symbolic int64 (a constant if statically known)."""
    x = tb.as_tensor_variable(x)
    static = x.type.shape[i]
    if static is not None:
        return tb.constant(np.int64(static))
    return ShapeI(i)(x)


def shape_tuple(x) -> tuple:
    """``x.shape`` as a tuple of symbolic scalars (constants where known)."""
    x = tb.as_tensor_variable(x)
    return tuple(shape_i(x, i) for i in range(x.ndim))


def _static_ints(shape_var) -> tuple:
    """Static entries of a shape vector: ints where constant, else None."""
    if isinstance(shape_var, Constant):
        return tuple(int(s) for s in shape_var.data)
    owner = shape_var.owner
    if owner is not None and isinstance(owner.op, tb.MakeVector):
        out = []
        for inp in owner.inputs:
            try:
                out.append(int(tb.get_scalar_constant_value(inp)))
            except tb.NotScalarConstantError:
                out.append(None)
        return tuple(out)
    return (None,) * (shape_var.type.shape[0] or 0)


class Reshape(Op):
    """Reshape to ``ndim`` dims given a shape vector (one entry may be -1); a view."""

    __props__ = ("ndim",)
    view_map = {0: [0]}

    def __init__(self, ndim: int):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        x = tb.as_tensor_variable(x)
        shp = tb.as_tensor_variable(shp)
        if shp.ndim != 1 or shp.dtype not in ("int8", "int16", "int32", "int64", "uint8",
                                              "uint16", "uint32"):
            raise TypeError(f"reshape: the shape must be an integer vector, got {shp.type}")
        if shp.type.shape[0] is not None and shp.type.shape[0] != self.ndim:
            raise ValueError(f"reshape: shape has {shp.type.shape[0]} entries, "
                             f"expected {self.ndim}")
        static = list(_static_ints(shp)) if shp.type.shape[0] is not None else \
            [None] * self.ndim
        if len(static) != self.ndim:
            static = [None] * self.ndim
        known_in = None if None in x.type.shape else int(np.prod(x.type.shape))
        if static.count(-1) == 1 and known_in is not None and None not in static:
            rest = int(np.prod([s for s in static if s != -1]))
            static[static.index(-1)] = known_in // rest if rest else 0
        static = [None if s is None or s < 0 else s for s in static]
        if known_in is not None and None not in static and int(np.prod(static)) != known_in:
            raise ValueError(f"reshape: cannot reshape {x} of static shape {x.type.shape} "
                             f"to {tuple(static)}")
        return Apply(self, [x, shp], [TensorType(x.dtype, tuple(static))()])

    def perform(self, node, inputs, output_storage):
        x, shp = inputs
        try:
            output_storage[0][0] = np.reshape(x, tuple(int(s) for s in shp))
        except ValueError as exc:
            raise ValueError(f"reshape: cannot reshape array of shape {x.shape} into "
                             f"{tuple(int(s) for s in shp)}: {exc}") from None

    def infer_shape(self, fgraph, node, input_shapes):
        return [shape_from_vector(node.inputs[1], input_shapes[0], self.ndim)]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        """The gradient takes the input's shape back; the shape vector gets none."""
        (x, _), (g,) = inputs, output_grads
        return [Reshape(x.ndim)(g, shape(x)), disconnected_type()]


def shape_from_vector(shp, in_shape, ndim):
    """Symbolic output shape of a reshape, resolving a -1 entry."""
    from_static = _static_ints(shp)
    entries = shp.owner.inputs if shp.owner is not None and isinstance(
        shp.owner.op, tb.MakeVector) else None
    out = []
    for i in range(ndim):
        s = from_static[i] if i < len(from_static) else None
        if s is not None and s >= 0:
            out.append(s)
        elif s == -1:
            out.append(None)  # resolved below
        else:
            out.append(entries[i] if entries is not None else shp[i])
    if any(s == -1 for s in from_static):
        total = 1
        for d in in_shape:
            total = total * d
        known = 1
        for i, s in enumerate(from_static):
            if s != -1:
                known = known * out[i]
        out[from_static.index(-1)] = total // known
    return tuple(out)


def reshape(x, newshape, ndim=None):
    """``x.reshape(newshape)``; ``newshape`` a tuple of ints/scalars or a vector."""
    x = tb.as_tensor_variable(x)
    if isinstance(newshape, (int, np.integer, Variable)) and not (
            isinstance(newshape, Variable) and newshape.ndim == 1):
        newshape = (newshape,)
    if isinstance(newshape, (list, tuple)):
        entries = [tb.as_tensor_variable(s) if isinstance(s, Variable) else int(s)
                   for s in newshape]
        if all(isinstance(s, int) for s in entries):
            if entries.count(-1) > 1:
                raise ValueError(f"reshape: only one -1 allowed in {tuple(entries)}")
            shp = tb.constant(np.array(entries, dtype="int64"))
        else:
            shp = tb.MakeVector("int64")(*[tb.cast(tb.as_tensor_variable(s), "int64")
                                          for s in entries])
        ndim = len(entries)
    else:
        shp = tb.as_tensor_variable(newshape)
        if ndim is None:
            ndim = shp.type.shape[0]
            if ndim is None:
                raise ValueError("reshape: pass ndim when the shape vector's length is unknown")
    return Reshape(ndim)(x, shp)


class SpecifyShape(Op):
    """Assert a static shape at run time and expose it to the type system."""

    __props__ = ("shape",)
    view_map = {0: [0]}

    def __init__(self, shape):
        self.shape = tuple(None if s is None else int(s) for s in shape)

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if x.ndim != len(self.shape):
            raise ValueError(f"specify_shape: {x} has {x.ndim} dims, shape {self.shape} given")
        merged = []
        for a, b in zip(x.type.shape, self.shape):
            if a is not None and b is not None and a != b:
                raise ValueError(f"specify_shape: static shape {x.type.shape} of {x} "
                                 f"contradicts {self.shape}")
            merged.append(a if b is None else b)
        return Apply(self, [x], [TensorType(x.dtype, tuple(merged))()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        for want, got in zip(self.shape, x.shape):
            if want is not None and want != got:
                raise ValueError(f"specify_shape: expected shape {self.shape}, got {x.shape}")
        output_storage[0][0] = x

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(s if s is not None else d for s, d in zip(self.shape, input_shapes[0]))]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


class Unbroadcast(Op):
    """Forget that some axes have static size 1 (Theano's ``unbroadcast``): the same
    value, a type with ``None`` at ``axes``, so it can meet values of any length there."""

    __props__ = ("axes",)
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        for a in self.axes:
            if not 0 <= a < x.ndim:
                raise ValueError(f"unbroadcast: axis {a} is out of range for {x.type}")
        shape = tuple(None if i in self.axes else s for i, s in enumerate(x.type.shape))
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        fixed = tuple(s if s == 1 else None for s in x.type.shape)
        return [SpecifyShape(fixed)(g) if any(s == 1 for s in fixed) else g]


def specify_shape(x, shape):
    return SpecifyShape(shape)(x)
