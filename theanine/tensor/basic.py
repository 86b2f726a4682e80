"""Converting Python values to tensor Variables, constants, and small helpers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theanine.config import config
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.null_type import grad_not_implemented
from theanine.graph.op import Op
from theanine.scalar.basic import (
    ALL_DTYPES,
    CONTINUOUS_DTYPES,
    ScalarType,
    get_scalar_type,
    python_scalar_dtype,
)
from theanine.tensor.type import TensorType

_PY_NUMBERS = (bool, int, float, complex)


def constant(x, name=None, ndim=None, dtype=None) -> Constant:
    """A tensor Constant holding ``x`` (Python floats become ``floatX``)."""
    if isinstance(x, Constant) and isinstance(x.type, TensorType):
        return x
    if dtype is not None:
        arr = np.asarray(x, dtype=dtype)
    elif isinstance(x, _PY_NUMBERS):
        arr = np.asarray(x, dtype=python_scalar_dtype(x))
    else:
        try:
            arr = np.asarray(x)
        except ValueError:
            raise TypeError(f"cannot make a constant of ragged data {x!r:.60}") from None
        if arr.dtype.kind in "OUSV":
            raise TypeError(f"cannot make a tensor constant of {type(x).__name__} {x!r:.60}")
        if not isinstance(x, (np.ndarray, np.generic)) and arr.dtype == np.float64:
            arr = arr.astype(config.floatX)
    if ndim is not None and arr.ndim != ndim:
        if arr.ndim < ndim:
            arr = arr.reshape((1,) * (ndim - arr.ndim) + arr.shape)
        else:
            raise ValueError(f"constant {x!r:.40} has {arr.ndim} dims, expected {ndim}")
    dtype_name = _DTYPE_NAMES.get(arr.dtype)
    ttype = TensorType(dtype_name or str(arr.dtype), arr.shape)
    return ttype.make_constant(arr, name=name)


# str(dtype) goes through NumPy's Python-level name lookup; graph building asks often
_DTYPE_NAMES = {np.dtype(n): n for n in ALL_DTYPES}


def as_tensor_variable(x, name=None, ndim=None, dtype=None) -> Variable:
    """Return ``x`` as a tensor Variable (making a constant from Python data)."""
    if isinstance(x, Apply):
        x = x.out
    if isinstance(x, Variable):
        if isinstance(x.type, ScalarType):
            x = tensor_from_scalar(x)
        if not isinstance(x.type, TensorType):
            raise TypeError(f"expected a tensor variable, got {x} of type {x.type}")
        if ndim is not None and x.ndim != ndim:
            raise ValueError(f"{x} has {x.ndim} dimensions, expected {ndim}")
        if dtype is not None and x.dtype != dtype:
            raise TypeError(f"{x} has dtype {x.dtype}, expected {dtype}")
        return x
    if isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten(x)):
        return make_vector_or_stack(x)
    return constant(x, name=name, ndim=ndim, dtype=dtype)


def _flatten(seq):
    stack = [seq]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            yield item


class TensorFromScalar(Op):
    """Wrap a ScalarType variable as a 0-d tensor."""

    def make_node(self, s):
        return Apply(self, [s], [TensorType(s.type.dtype, ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0], dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [scalar_from_tensor(output_grads[0])]


tensor_from_scalar = TensorFromScalar()


class ScalarFromTensor(Op):
    """Unwrap a 0-d tensor as a ScalarType variable (the gradient of TensorFromScalar)."""

    def make_node(self, t):
        t = as_tensor_variable(t)
        if t.ndim != 0:
            raise TypeError(f"ScalarFromTensor: {t} has {t.ndim} dims, expected 0")
        return Apply(self, [t], [get_scalar_type(t.dtype)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(inputs[0], dtype=node.outputs[0].type.dtype)[()]

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [tensor_from_scalar(output_grads[0])]


scalar_from_tensor = ScalarFromTensor()


class MakeVector(Op):
    """Build a vector from 0-d tensors (used for symbolic shapes)."""

    __props__ = ("dtype",)

    def __init__(self, dtype="int64"):
        self.dtype = dtype

    def make_node(self, *inputs):
        ins = [as_tensor_variable(i) for i in inputs]
        for pos, inp in enumerate(ins):
            if inp.ndim != 0:
                raise TypeError(f"MakeVector: element {pos} ({inp}) is not a scalar")
            if not np.can_cast(inp.dtype, self.dtype, "same_kind") and self.dtype != "bool":
                raise TypeError(f"MakeVector: element {pos} has dtype {inp.dtype}, "
                                f"cannot go into a {self.dtype} vector")
        return Apply(self, ins, [TensorType(self.dtype, (len(ins),))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(len(node.inputs),)]

    def L_op(self, inputs, outputs, output_grads):
        """Entry ``i`` of the output gradient goes to input ``i`` (zeros for integers)."""
        (g,) = output_grads
        return [VectorEntry(i)(g) if inp.dtype in CONTINUOUS_DTYPES else
                constant(np.zeros((), dtype=config.floatX))
                for i, inp in enumerate(inputs)]


class VectorEntry(Op):
    """Entry ``i`` of a vector as a 0-d tensor (the gradient of MakeVector)."""

    __props__ = ("i",)

    def __init__(self, i: int):
        self.i = int(i)

    def make_node(self, v):
        v = as_tensor_variable(v)
        if v.ndim != 1:
            raise TypeError(f"{self}: expected a vector, got {v.type}")
        if v.type.shape[0] is not None and not self.i < v.type.shape[0]:
            raise IndexError(f"{self}: index {self.i} out of range for {v.type}")
        return Apply(self, [v], [TensorType(v.dtype, ())()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.array(inputs[0][self.i], dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        """A one-hot vector carrying the gradient (needs the static length)."""
        (v,), (g,) = inputs, output_grads
        n = v.type.shape[0]
        if n is None:
            return [grad_not_implemented(self, 0, v, "the vector's length is not static")]
        zero = constant(np.zeros((), dtype=g.dtype))
        return [MakeVector(g.dtype)(*[g if j == self.i else zero for j in range(n)])]


def make_vector_or_stack(seq: Sequence):
    """A list mixing numbers and scalar Variables becomes a MakeVector."""
    items = [as_tensor_variable(e) for e in seq]
    if all(i.ndim == 0 for i in items):
        dtype = np.result_type(*[i.dtype for i in items]).name if items else config.floatX
        converted = [i if i.dtype == dtype else cast(i, dtype) for i in items]
        return MakeVector(dtype)(*converted)
    return _stack_fn(items)


_stack_fn = None


def set_stack_function(fn) -> None:
    """Install ``stack`` (defined with Join) for lists of non-scalar Variables."""
    global _stack_fn
    _stack_fn = fn


def cast(x, dtype):
    """Elementwise conversion to ``dtype`` (no-op if already that dtype)."""
    x = as_tensor_variable(x)
    if dtype == "floatX":
        dtype = config.floatX
    dtype = str(np.dtype(dtype))
    if x.dtype == dtype:
        return x
    return _cast_fn(x, dtype)


_cast_fn = None


def set_cast_function(fn) -> None:
    global _cast_fn
    _cast_fn = fn


def get_scalar_constant_value(v, elemwise=True):
    """The Python value of a constant 0-d (or all-equal) tensor, else raise."""
    if isinstance(v, (int, float, bool, np.number)):
        return np.asarray(v)
    if isinstance(v, Constant):
        data = np.asarray(v.data)
        if data.size == 1:
            return data.reshape(())
        if data.size > 0 and np.all(data == data.flat[0]):
            return np.asarray(data.flat[0])
    raise NotScalarConstantError(f"{v} is not a scalar constant")


class NotScalarConstantError(ValueError):
    """Raised by ``get_scalar_constant_value`` for non-constant inputs."""
