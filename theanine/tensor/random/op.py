"""Random variables: ops taking a generator and returning (new generator, sample).

The input generator is never modified: ``perform`` draws from a copy and returns the
copy as the new generator, so graphs stay pure and a shared generator advances only
through its (default) update.
"""

from __future__ import annotations

import copy

import numpy as np

from theanine.config import config
from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import broadcast_static_shape
from theanine.tensor.shape import _static_ints, shape_from_vector
from theanine.tensor.type import TensorType

from .type import random_generator_type


def _as_size(size):
    """``size`` as an int64 vector Variable, or None."""
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) or (isinstance(size, Variable) and size.ndim == 0):
        size = (size,)
    if isinstance(size, (list, tuple)):
        if all(isinstance(s, (int, np.integer)) for s in size):
            if any(s < 0 for s in size):
                raise ValueError(f"random size must be non-negative, got {tuple(size)}")
            return tb.constant(np.array(size, dtype="int64"))
        return tb.MakeVector("int64")(*[tb.cast(tb.as_tensor_variable(s), "int64")
                                        for s in size])
    size = tb.as_tensor_variable(size)
    if size.ndim != 1 or size.dtype not in ts.INT_DTYPES:
        raise TypeError(f"random size must be an int, a tuple or an integer vector, got "
                        f"{size.type}")
    return tb.cast(size, "int64")


def _check_generator(rng):
    if not isinstance(rng, Variable) or rng.type != random_generator_type:
        raise TypeError(f"expected a random generator variable (RandomGeneratorType), got "
                        f"{rng!r:.60}")


class RandomVariable(Op):
    """A draw ``getattr(generator, method)(*params, size=size)`` with broadcasting params.

    Inputs: ``(rng, size, *params)`` when ``has_size`` else ``(rng, *params)``.
    Outputs: the advanced generator, and the sample (the default output).
    """

    __props__ = ("method", "dtype", "has_size", "nparams")
    default_output = 1

    def __init__(self, method: str, dtype: str, has_size: bool, nparams: int):
        self.method = method
        self.dtype = str(np.dtype(dtype))
        self.has_size = bool(has_size)
        self.nparams = int(nparams)

    def __str__(self):
        return f"RandomVariable{{{self.method}, {self.dtype}}}"

    def _split(self, inputs):
        rng = inputs[0]
        size = inputs[1] if self.has_size else None
        return rng, size, list(inputs[2 if self.has_size else 1:])

    def make_node(self, rng, size, *params):
        _check_generator(rng)
        params = [tb.as_tensor_variable(p) for p in params]
        if len(params) != self.nparams:
            raise TypeError(f"{self} takes {self.nparams} parameters, got {len(params)}")
        try:
            pshape = broadcast_static_shape([p.type.shape for p in params], f"{self}: ")
        except ValueError as exc:
            raise ValueError(f"{exc} (parameters of {self.method})") from None
        if self.has_size:
            size = _as_size(size)
            n = size.type.shape[0]
            if n is None:
                raise ValueError(f"{self}: the length of the size vector {size} must be known "
                                 "statically; use a tuple, or tt.specify_shape(size, (n,))")
            shape = tuple(None if s is None or s < 0 else s for s in _static_ints(size))
            if len(shape) < len(pshape):
                raise ValueError(f"{self}: size has {len(shape)} dims but the parameters "
                                 f"broadcast to {len(pshape)} dims")
            for s, p in zip(shape[len(shape) - len(pshape):], pshape):
                if s is not None and p is not None and p != 1 and s != p:
                    raise ValueError(f"{self}: size {shape} does not match the parameters' "
                                     f"broadcast shape {pshape}")
            inputs = [rng, size] + params
        else:
            shape = pshape
            inputs = [rng] + params
        outputs = [random_generator_type(), TensorType(self.dtype, shape)()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        rng, size, params = self._split(inputs)
        rng = copy.deepcopy(rng)
        size = None if size is None else tuple(int(s) for s in size)
        sample = getattr(rng, self.method)(*params, size=size)
        output_storage[0][0] = rng
        output_storage[1][0] = np.asarray(sample, dtype=self.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        if self.has_size:
            return [(), shape_from_vector(node.inputs[1], (), node.outputs[1].ndim)]
        params, pshapes = node.inputs[1:], input_shapes[1:]
        out_static = node.outputs[1].type.shape
        out = []
        for axis, static in enumerate(out_static):
            if static is not None:
                out.append(static)
                continue
            dims = []
            for shp, p in zip(pshapes, params):
                k = axis - (len(out_static) - p.ndim)
                if k >= 0 and p.type.shape[k] != 1:
                    dims.append(shp[k])
            out.append(dims[0] if dims else 1)
        return [(), tuple(out)]

    def connection_pattern(self, node):
        return [[False, False] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        raise TypeError(f"{self} has no gradient: samples are not differentiable with "
                        "respect to the generator, the size or the parameters")


def random_variable(method, rng, size, params, dtype):
    """Build the draw, broadcasting params to a common ndim (NumPy rules)."""
    params = [tb.as_tensor_variable(p) for p in params]
    return RandomVariable(method, dtype, size is not None, len(params)).make_node(
        rng, size, *params)


class Choice(Op):
    """``generator.choice(a, size, replace, p)`` for a vector ``a`` (or an int: arange)."""

    __props__ = ("replace", "has_size", "has_p")
    default_output = 1

    def __init__(self, replace=True, has_size=False, has_p=False):
        self.replace = bool(replace)
        self.has_size = bool(has_size)
        self.has_p = bool(has_p)

    def make_node(self, rng, size, a, p=None):
        _check_generator(rng)
        a = tb.as_tensor_variable(a)
        if a.ndim not in (0, 1):
            raise ValueError(f"choice: a must be an int or a vector, got {a.type}")
        if a.ndim == 0 and a.dtype not in ts.INT_DTYPES:
            raise TypeError(f"choice: a scalar a must be an integer (the population size), "
                            f"got {a.type}")
        inputs = [rng]
        shape = ()
        if self.has_size:
            size = _as_size(size)
            shape = tuple(None if s is None or s < 0 else s for s in _static_ints(size))
            inputs.append(size)
        inputs.append(a)
        if self.has_p:
            p = tb.as_tensor_variable(p)
            if p.ndim != 1 or p.dtype not in ts.FLOAT_DTYPES:
                raise TypeError(f"choice: p must be a float vector, got {p.type}")
            if a.ndim == 1 and None not in (a.type.shape[0], p.type.shape[0]) \
                    and a.type.shape[0] != p.type.shape[0]:
                raise ValueError(f"choice: a has {a.type.shape[0]} entries but p has "
                                 f"{p.type.shape[0]}")
            inputs.append(p)
        dtype = "int64" if a.ndim == 0 else a.dtype
        return Apply(self, inputs, [random_generator_type(), TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        rng = copy.deepcopy(inputs[0])
        rest = list(inputs[1:])
        size = tuple(int(s) for s in rest.pop(0)) if self.has_size else None
        a = rest.pop(0)
        p = rest.pop(0) if self.has_p else None
        a = int(a) if np.ndim(a) == 0 else a
        sample = rng.choice(a, size=size, replace=self.replace, p=p)
        output_storage[0][0] = rng
        output_storage[1][0] = np.asarray(sample, dtype=node.outputs[1].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        if not self.has_size:
            return [(), ()]
        return [(), shape_from_vector(node.inputs[1], (), node.outputs[1].ndim)]

    def connection_pattern(self, node):
        return [[False, False] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        raise TypeError("choice has no gradient")


class Permutation(Op):
    """``generator.permutation(x)``: a shuffled copy of a vector, or of ``arange(n)``."""

    default_output = 1

    def make_node(self, rng, x):
        _check_generator(rng)
        x = tb.as_tensor_variable(x)
        if x.ndim == 0:
            if x.dtype not in ts.INT_DTYPES:
                raise TypeError(f"permutation: a scalar must be an integer, got {x.type}")
            try:
                n = int(tb.get_scalar_constant_value(x))
            except tb.NotScalarConstantError:
                n = None
            out = TensorType("int64", (n,))()
        else:
            out = TensorType(x.dtype, x.type.shape)()
        return Apply(self, [rng, x], [random_generator_type(), out])

    def perform(self, node, inputs, output_storage):
        rng, x = copy.deepcopy(inputs[0]), inputs[1]
        sample = rng.permutation(int(x) if np.ndim(x) == 0 else x)
        output_storage[0][0] = rng
        output_storage[1][0] = np.asarray(sample, dtype=node.outputs[1].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        x = node.inputs[1]
        if x.ndim == 0:
            return [(), (tb.cast(x, "int64"),)]
        return [(), tuple(input_shapes[1])]

    def connection_pattern(self, node):
        return [[False, False] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        raise TypeError("permutation has no gradient")


def float_dtype(dtype, params) -> str:
    """The sample dtype of a continuous draw: ``dtype``, else the params' float, else
    floatX."""
    if dtype is not None:
        dtype = config.floatX if dtype == "floatX" else str(np.dtype(dtype))
        if dtype not in ts.FLOAT_DTYPES:
            raise TypeError(f"a continuous distribution needs a float dtype, got {dtype}")
        return dtype
    dts = [tb.as_tensor_variable(p).dtype for p in params
           if isinstance(p, (Variable, np.ndarray, np.generic))]
    floats = [d for d in dts if d in ts.FLOAT_DTYPES]
    return np.result_type(*floats).name if floats else config.floatX


__all__ = ["RandomVariable", "Choice", "Permutation", "random_variable", "float_dtype"]
