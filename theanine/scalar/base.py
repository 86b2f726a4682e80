"""Scalar types and the ScalarOp base: the per-element meaning of elementwise tensor ops.

Each ScalarOp names a NumPy (or SciPy) ufunc-like function ``nfunc`` that is both
its reference implementation and the source of its output dtype: output dtypes
are whatever NumPy gives for the input dtypes, so every backend agrees with NumPy.
``kernel_name`` is the op's name in the fused-kernel vocabulary.  The concrete ops
live in ``arithmetic.py`` and ``transcendental.py``, which import from here;
``basic.py`` gathers all of it under one name.
"""

from __future__ import annotations

import functools

import numpy as np

from theanine.config import config
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.type import Type
from theanine.graph.utils import MethodNotDefined

ALL_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float16", "float32", "float64", "complex64", "complex128")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES
CONTINUOUS_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES


def python_scalar_dtype(value) -> str:
    """Default dtype of a Python number that stands alone (no tensor to follow)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int64" if not isinstance(value, np.integer) else str(value.dtype)
    if isinstance(value, (float, np.floating)):
        return config.floatX if not isinstance(value, np.floating) else str(value.dtype)
    if isinstance(value, (complex, np.complexfloating)):
        return "complex128"
    raise TypeError(f"not a number: {value!r}")


class ScalarType(Type):
    """A single number of a given dtype (used inside fused kernels' inner graphs)."""

    def __init__(self, dtype: str):
        dtype = str(np.dtype(dtype))
        if dtype not in ALL_DTYPES:
            raise TypeError(f"unsupported scalar dtype {dtype!r}")
        self.dtype = dtype

    def __eq__(self, other):
        return type(self) is type(other) and self.dtype == other.dtype

    def __hash__(self):
        return hash((ScalarType, self.dtype))

    def __str__(self):
        return self.dtype

    __repr__ = __str__

    def filter(self, data, strict=False, allow_downcast=None):
        arr = np.asarray(data)
        if arr.ndim != 0:
            raise TypeError(f"expected a scalar of dtype {self.dtype}, got shape {arr.shape}")
        if arr.dtype != self.dtype:
            if strict:
                raise TypeError(f"expected dtype {self.dtype}, got {arr.dtype}")
            arr = arr.astype(self.dtype)
        return arr[()]

    def value_signature(self, data):
        return (self.dtype, data.item() if hasattr(data, "item") else data)


def get_scalar_type(dtype) -> ScalarType:
    return _scalar_type_cache(str(np.dtype(dtype)))


@functools.cache
def _scalar_type_cache(dtype: str) -> ScalarType:
    return ScalarType(dtype)


@functools.cache
@functools.lru_cache(maxsize=4096)
def numpy_output_dtypes(fn, in_dtypes: tuple[str, ...], nout: int = 1) -> tuple[str, ...]:
    """What NumPy gives for ``fn`` on inputs of these dtypes (raises TypeError if none).

    The one dtype probe: every op, thunk and kernel that needs "what dtype does this
    NumPy function return" asks here (cached per function and dtypes)."""
    samples = [np.ones(1, dtype=dt) for dt in in_dtypes]
    try:
        with np.errstate(all="ignore"):
            out = fn(*samples)
    except (TypeError, np.exceptions.DTypePromotionError) as exc:
        raise TypeError(str(exc)) from None
    outs = out if nout > 1 else (out,)
    return tuple(str(np.asarray(o).dtype) for o in outs)


_GRADS: dict = {}


def upcast(dtype, *dtypes) -> str:
    """Theano's ``scalar.upcast``: the dtype NumPy promotes these dtypes to."""
    return str(np.result_type(*[np.dtype(d) for d in (dtype, *dtypes)]))


def register_grad(*op_classes):
    """Register ``fn(op, inputs, outputs, output_grads)`` as the scalar gradient of classes.

    The formulas live in ``theanine/scalar/grads.py``, beside the catalogue.
    """
    def deco(fn):
        for cls in op_classes:
            _GRADS[cls] = fn
        return fn
    return deco


class ScalarOp(Op):
    """An operation on numbers; ``Elemwise`` broadcasts it over tensors."""

    nin = 1
    nout = 1
    nfunc = None            # NumPy/SciPy callable: reference and dtype oracle
    kernel_name = ""        # name in the fused-kernel vocabulary ("" = not fusable)
    symbol: str | None = None   # infix symbol for pretty printing
    precedence = 100
    commutative = False
    associative = False
    identity = None         # neutral element for reductions
    allowed_dtypes: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.kernel_name or type(self).__name__.lower()

    def __str__(self) -> str:
        return self.name

    def output_dtypes(self, in_dtypes) -> tuple[str, ...]:
        # memo per op (every Elemwise node built asks; a gradient builds thousands);
        # kept in __dict__ directly, so the op's cached hash stays
        key = tuple(in_dtypes)
        memo = self.__dict__.get("_dtypes_memo")
        if memo is None:
            memo = self.__dict__["_dtypes_memo"] = {}
        found = memo.get(key)
        if found is None:
            found = memo[key] = self._output_dtypes(tuple(str(d) for d in key))
        return found

    def _output_dtypes(self, in_dtypes: tuple[str, ...]) -> tuple[str, ...]:
        if self.allowed_dtypes is not None:
            for dt in in_dtypes:
                if dt not in self.allowed_dtypes:
                    raise TypeError(
                        f"{self.name} does not accept dtype {dt} (allowed: "
                        f"{', '.join(self.allowed_dtypes)}); cast the input first"
                    )
        try:
            return numpy_output_dtypes(self.nfunc, in_dtypes, self.nout)
        except TypeError:
            raise TypeError(
                f"{self.name} is not defined for dtypes {', '.join(in_dtypes)}"
            ) from None

    def impl(self, *inputs):
        return self.nfunc(*inputs)

    def L_op(self, inputs, outputs, output_grads):
        """Gradient as a scalar graph (``Elemwise.L_op`` maps it to tensor ops)."""
        fn = _GRADS.get(type(self))
        if fn is None:
            raise MethodNotDefined(f"{self.name}: no scalar gradient registered")
        return fn(self, inputs, outputs, output_grads)

    def make_node(self, *inputs):
        if len(inputs) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} inputs, got {len(inputs)}")
        ins = [as_scalar(i) for i in inputs]
        dtypes = self.output_dtypes([i.type.dtype for i in ins])
        return Apply(self, ins, [get_scalar_type(dt)() for dt in dtypes])

    def perform(self, node, inputs, output_storage):
        with np.errstate(all="ignore"):
            result = self.impl(*inputs)
        if self.nout == 1:
            result = (result,)
        for store, value, out in zip(output_storage, result, node.outputs):
            store[0] = np.asarray(value, dtype=out.type.dtype)[()]


def as_scalar(value) -> Variable:
    if isinstance(value, Variable):
        if not isinstance(value.type, ScalarType):
            raise TypeError(f"expected a scalar variable, got {value} of type {value.type}")
        return value
    return Constant(get_scalar_type(python_scalar_dtype(value)), value)

