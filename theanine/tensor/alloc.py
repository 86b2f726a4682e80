"""Fresh arrays: ``Alloc`` (a shape filled with a broadcast value) and ``ARange``.

The base of ``zeros``/``ones``/``fill``/``arange`` and of the zero gradients
that the indexing and joining ops need, kept free of those ops so they can
import it.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import broadcast_static_shape, dimshuffle
from theanine.tensor.shape import Shape, shape_i, shape_tuple
from theanine.tensor.type import TensorType

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def as_int_scalar(v, what: str) -> Variable:
    """``v`` (a Python int or 0-d integer tensor) as an int64 0-d tensor."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} must be an integer, got bool {v!r}")
    if isinstance(v, (int, np.integer)):
        return tb.constant(np.int64(v))
    var = tb.as_tensor_variable(v)
    if var.ndim != 0 or var.dtype not in INT_DTYPES:
        raise TypeError(f"{what} must be an integer scalar, got {var} of type {var.type}")
    return tb.cast(var, "int64")


def static_int(v):
    """The Python int held by a constant scalar, else None."""
    try:
        return int(tb.get_scalar_constant_value(v))
    except (tb.NotScalarConstantError, TypeError):
        return None


def shape_entries(shape, what="shape") -> list[Variable]:
    """A shape given as ints/scalars, a constant, or the vector ``x.shape``."""
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    if isinstance(shape, Variable) and shape.ndim == 1:
        if shape.owner is not None and isinstance(shape.owner.op, Shape):
            return list(shape_tuple(shape.owner.inputs[0]))
        if shape.owner is not None and isinstance(shape.owner.op, tb.MakeVector):
            return [as_int_scalar(s, what) for s in shape.owner.inputs]
        if isinstance(shape, Constant):
            return [as_int_scalar(int(s), what) for s in shape.data]
        raise TypeError(f"{what}: pass a tuple of sizes, or a vector of known length; got "
                        f"{shape} of type {shape.type}")
    if isinstance(shape, np.ndarray):
        shape = shape.tolist()
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"{what} must be a tuple of integers, got {shape!r}")
    return [as_int_scalar(s, f"{what}[{i}]") for i, s in enumerate(shape)]


class Alloc(Op):
    """``out = empty(shape); out[...] = value``: a new, writable array.

    ``value`` broadcasts against the trailing axes of ``shape``.
    """

    def make_node(self, value, *shape):
        value = tb.as_tensor_variable(value)
        shape = [as_int_scalar(s, f"Alloc: shape[{i}]") for i, s in enumerate(shape)]
        if value.ndim > len(shape):
            raise ValueError(f"Alloc: value {value} has {value.ndim} dims, more than the "
                             f"{len(shape)} of the requested shape")
        static = [static_int(s) for s in shape]
        for i, s in enumerate(static):
            if s is not None and s < 0:
                raise ValueError(f"Alloc: negative size {s} at shape[{i}]")
        lead = len(shape) - value.ndim
        out_static = list(static)
        for i, vs in enumerate(value.type.shape):
            want = static[lead + i]
            if vs is not None and vs != 1 and want is not None and want != vs:
                raise ValueError(f"Alloc: value of static shape {value.type.shape} does not "
                                 f"broadcast to shape {tuple(static)}")
            if want is None and vs is not None and vs != 1:
                out_static[lead + i] = vs
        return Apply(self, [value, *shape], [TensorType(value.dtype, tuple(out_static))()])

    def perform(self, node, inputs, output_storage):
        value, *shape = inputs
        shape = tuple(int(s) for s in shape)
        try:
            out = np.empty(shape, dtype=node.outputs[0].dtype)
            out[...] = value
        except ValueError as exc:
            raise ValueError(f"Alloc: cannot fill shape {shape} with a value of shape "
                             f"{np.shape(value)}: {exc}") from None
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def connection_pattern(self, node):
        return [[True]] + [[False]] * (len(node.inputs) - 1)

    def L_op(self, inputs, outputs, output_grads):
        value = inputs[0]
        (g,) = output_grads
        gv = sum_to_shape(g, value) if value.dtype not in INT_DTYPES + ("bool",) else None
        return [gv] + [None] * (len(inputs) - 1)


_alloc = Alloc()


def alloc(value, *shape):
    """``value`` broadcast into a new array of ``shape`` (sizes as ints or scalars)."""
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple, np.ndarray)) or (
            isinstance(shape[0], Variable) and shape[0].ndim == 1)):
        shape = tuple(shape_entries(shape[0], "alloc"))
    return _alloc(value, *shape)


def sum_to_shape(g, like: Variable) -> Variable:
    """Sum ``g`` over the axes that were broadcast to reach it from ``like``'s shape.

    Leading extra axes are summed away; axes where ``like`` has static size 1 are
    summed with keepdims.  Used by the gradients of broadcasting ops.
    """
    g = tb.as_tensor_variable(g)
    extra = g.ndim - like.ndim
    if extra < 0:
        raise ValueError(f"sum_to_shape: gradient {g} has fewer dims than {like}")
    if extra:
        g = tm.sum(g, axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(like.type.shape) if s == 1 and g.type.shape[i] != 1)
    if axes:
        g = tm.sum(g, axis=axes, keepdims=True)
    if g.dtype != like.dtype:
        g = tb.cast(g, like.dtype)
    return g


def zeros_like(x, dtype=None):
    """An array of zeros with the shape of ``x`` (and its dtype unless given)."""
    x = tb.as_tensor_variable(x)
    return alloc(np.array(0, dtype=dtype or x.dtype), *shape_tuple(x))


def ones_like(x, dtype=None):
    """An array of ones with the shape of ``x`` (and its dtype unless given)."""
    x = tb.as_tensor_variable(x)
    return alloc(np.array(1, dtype=dtype or x.dtype), *shape_tuple(x))


def fill(model, value):
    """``value`` broadcast to the broadcast shape of ``model`` and ``value``.

    The dtype is ``value``'s (a Python number takes ``model``'s dtype family).
    """
    model = tb.as_tensor_variable(model)
    if isinstance(value, (bool, int, float, complex)):
        value = tb.constant(value, dtype=np.result_type(model.dtype, value).name)
    value = tb.as_tensor_variable(value)
    ndim = max(model.ndim, value.ndim)
    shapes = [(1,) * (ndim - v.ndim) + v.type.shape for v in (model, value)]
    broadcast_static_shape(shapes, "fill: ")
    if value.ndim > model.ndim:
        model = dimshuffle(model, ("x",) * (ndim - model.ndim) + tuple(range(model.ndim)))
    mshape = shape_tuple(model)
    lead = ndim - value.ndim
    dims = []
    for i in range(ndim):
        vdim = value.type.shape[i - lead] if i >= lead else 1
        dims.append(shape_tuple(value)[i - lead] if model.type.shape[i] == 1 and vdim != 1
                    else mshape[i])
    return alloc(value, *dims)


second = fill


# -- arange ---------------------------------------------------------------------


def arange_dtype(*dtypes) -> str:
    samples = [np.ones((), dtype=d)[()] for d in dtypes]
    return str(np.arange(*samples).dtype)


class ARange(Op):
    """``np.arange(start, stop, step)`` with scalar inputs."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    def __str__(self):
        return f"ARange{{{self.dtype}}}"

    def make_node(self, start, stop, step):
        ins = [tb.as_tensor_variable(v) for v in (start, stop, step)]
        for name, v in zip(("start", "stop", "step"), ins):
            if v.ndim != 0:
                raise TypeError(f"arange: {name} must be a scalar, got {v} of type {v.type}")
            if v.dtype.startswith("complex") or v.dtype == "bool":
                raise TypeError(f"arange: {name} has unsupported dtype {v.dtype}")
        consts = [static_value(v) for v in ins]
        length = None
        if None not in consts:
            if consts[2] == 0:
                raise ValueError("arange: step must not be zero")
            length = len(np.arange(*consts))
        return Apply(self, ins, [TensorType(self.dtype, (length,))()])

    def perform(self, node, inputs, output_storage):
        start, stop, step = inputs
        if step == 0:
            raise ValueError("arange: step must not be zero")
        output_storage[0][0] = np.arange(start, stop, step, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        if node.outputs[0].type.shape[0] is not None:
            return [(node.outputs[0].type.shape[0],)]
        start, stop, step = node.inputs
        if all(v.dtype in INT_DTYPES for v in node.inputs):
            n = tm.int_div(stop - start + step - tm.sign(step), step)
        else:
            n = tm.ceil(tm.true_div(stop - start, step))
        return [(tb.cast(tm.maximum(n, 0), "int64"),)]

    def L_op(self, inputs, outputs, output_grads):
        (g,) = output_grads
        if self.dtype in INT_DTYPES:
            return [None, None, None]
        # out[i] = start + i * step: d/dstart = 1, d/dstep = i, stop only sets the length
        index = ARange(self.dtype)(tb.constant(np.array(0, dtype=self.dtype)),
                                   tb.cast(shape_i(outputs[0], 0), self.dtype),
                                   tb.constant(np.array(1, dtype=self.dtype)))
        grads = [tm.sum(g), tm.mul(tm.sum(g), 0), tm.sum(tm.mul(g, index))]
        return [None if v.dtype in INT_DTYPES else tb.cast(gv, v.dtype)
                for v, gv in zip(inputs, grads)]


def static_value(v):
    """The Python number held by a 0-d constant, else None."""
    try:
        return tb.get_scalar_constant_value(v)[()]
    except tb.NotScalarConstantError:
        return None
