"""TensorType: an n-d array type with a dtype and a static shape (None = unknown)."""

from __future__ import annotations

import numpy as np

from theanine.config import config
from theanine.graph.type import Type
from theanine.scalar.basic import ALL_DTYPES


def _ragged_error(data) -> TypeError:
    return TypeError(f"cannot make an array from {type(data).__name__} {data!r:.60}: "
                     "ragged or non-numeric (expected a number, a nested list of numbers "
                     "or an ndarray)")


_NP_DTYPES = {name: np.dtype(name) for name in ALL_DTYPES}


def _canonical_dtype(dtype) -> str:
    if isinstance(dtype, str) and dtype in _NP_DTYPES:
        return dtype
    try:
        name = str(np.dtype(dtype))
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}") from None
    if name not in _NP_DTYPES:
        raise TypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(ALL_DTYPES)}")
    return name


def _canonical_shape(shape) -> tuple:
    out = tuple(None if s is None else int(s) for s in shape)
    for s in out:
        if s is not None and s < 0:
            raise ValueError(f"static shape entries must be >= 0 or None, got {out}")
    return out


#: shapes of unknown lengths only: nothing in them to canonicalize
_PLAIN_SHAPES: set = {(), (None,), (None, None), (None, None, None)}


class TensorType(Type):
    """Arrays of a dtype with ``ndim = len(shape)``; ``shape[i]`` an int or None."""

    def __init__(self, dtype, shape=None, broadcastable=None, name=None):
        if type(dtype) is not str or dtype not in _NP_DTYPES:     # (most calls: no)
            if dtype == "floatX":
                dtype = config.floatX
            dtype = _canonical_dtype(dtype)
        if shape is not None and len(shape) and isinstance(shape[0], (bool, np.bool_)) \
                and all(isinstance(s, (bool, np.bool_)) for s in shape):
            shape, broadcastable = None, shape      # Theano's TensorType(dtype, broadcastable)
        if shape is None:
            if broadcastable is None:
                raise TypeError("TensorType needs a shape (or broadcastable pattern)")
            shape = tuple(1 if b else None for b in broadcastable)
        shape = tuple(shape)
        if shape not in _PLAIN_SHAPES:
            for s in shape:
                if s is not None and (type(s) is not int or s < 0):
                    shape = _canonical_shape(shape)
                    break
        self.dtype = dtype
        self._np_dtype = _NP_DTYPES[dtype]
        self.shape = shape
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(s == 1 for s in self.shape)

    @property
    def numpy_dtype(self):
        return self._np_dtype

    def clone(self, dtype=None, shape=None):
        return TensorType(self.dtype if dtype is None else dtype,
                          self.shape if shape is None else shape)

    def __eq__(self, other):
        return type(self) is type(other) and self.dtype == other.dtype \
            and self.shape == other.shape

    def __hash__(self):
        return hash((TensorType, self.dtype, self.shape))

    def __str__(self):
        if self.name:
            return self.name
        dims = ", ".join("?" if s is None else str(s) for s in self.shape)
        if self.ndim == 1:
            dims += ","
        return f"TensorType({self.dtype}, shape=({dims}))"

    __repr__ = __str__

    # -- values --------------------------------------------------------------
    def filter(self, data, strict=False, allow_downcast=None):
        """Convert ``data`` to an ndarray of this type or raise TypeError/ValueError."""
        if type(data) is np.ndarray and data.dtype is self._np_dtype:
            arr = data
        elif strict:
            if not isinstance(data, np.ndarray):
                raise TypeError(f"expected an ndarray of dtype {self.dtype}, got "
                                f"{type(data).__name__}")
            raise TypeError(f"expected dtype {self.dtype}, got {data.dtype}")
        else:
            arr = self._convert(data, allow_downcast)
        if arr.ndim != self.ndim:
            raise TypeError(f"expected {self.ndim} dimensions (type {self}), got an array "
                            f"with {arr.ndim} dimensions of shape {arr.shape}")
        for axis, (want, got) in enumerate(zip(self.shape, arr.shape)):
            if want is not None and want != got:
                raise ValueError(f"shape {arr.shape} contradicts the static shape "
                                 f"{self.shape} of type {self} at axis {axis}")
        return arr

    def _convert(self, data, allow_downcast):
        if data is None or isinstance(data, (str, bytes)):
            raise TypeError(f"expected a number or array of dtype {self.dtype}, got "
                            f"{type(data).__name__} {data!r:.40}")
        is_array = isinstance(data, (np.ndarray, np.generic))
        try:
            arr = np.asarray(data)
        except ValueError:
            raise _ragged_error(data) from None
        if arr.dtype.kind in "OUSV":
            raise _ragged_error(data)
        if arr.dtype == self.dtype:
            return arr
        if allow_downcast or np.can_cast(arr.dtype, self.dtype, "safe"):
            return arr.astype(self.dtype)
        if not is_array and allow_downcast is None:
            # Python numbers and lists: accept when the value survives the cast, or
            # a Python float going to floatX (the usual Theano convenience).
            with np.errstate(all="ignore"):
                cast = arr.astype(self.dtype)
            if arr.dtype.kind == "f" and self.dtype == config.floatX:
                return cast
            if np.array_equal(cast, arr):
                return cast
        raise TypeError(
            f"cannot convert {'array' if is_array else 'value'} of dtype {arr.dtype} to "
            f"{self.dtype} without losing precision; cast it yourself or pass "
            "allow_input_downcast=True"
        )

    def is_valid_value(self, data) -> bool:
        return (isinstance(data, np.ndarray) and data.dtype == self.dtype
                and data.ndim == self.ndim
                and all(w is None or w == g for w, g in zip(self.shape, data.shape)))

    def convert_variable(self, var):
        """Accept ``var`` when it has our dtype/ndim and a compatible static shape."""
        vt = var.type
        if vt == self:
            return var
        if not isinstance(vt, TensorType) or vt.dtype != self.dtype or vt.ndim != self.ndim:
            return None
        for a, b in zip(self.shape, vt.shape):
            if a is not None and b is not None and a != b:
                return None
        if all(a is None or a == b for a, b in zip(self.shape, vt.shape)):
            return var  # var is at least as specific: usable wherever self is
        return None

    def values_eq(self, a, b) -> bool:
        return a.shape == b.shape and bool(np.all(a == b))

    def values_eq_approx(self, a, b, rtol=None, atol=None) -> bool:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if self.dtype in ("float16", "float32", "complex64"):
            rtol = 1e-3 if rtol is None else rtol
            atol = 1e-4 if atol is None else atol
        else:
            rtol = 1e-5 if rtol is None else rtol
            atol = 1e-8 if atol is None else atol
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))

    def value_signature(self, data):
        data = np.asarray(data)
        if data.size <= 16:
            return (data.dtype.str, data.shape, data.tobytes())
        return (data.dtype.str, data.shape, hash(data.tobytes()))

    def may_share_memory(self, a, b) -> bool:
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) \
            and np.may_share_memory(a, b)

    def get_size(self, shape) -> int:
        return int(np.prod(shape)) * self.numpy_dtype.itemsize
