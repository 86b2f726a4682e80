"""TensorVariable: the NumPy-like face of tensor Variables (operators, methods)."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.graph.shared import SharedVariable, lend, register_shared_constructor
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import elemwise as te
from theanine.tensor import math as tm
from theanine.tensor import shape as tsh
from theanine.tensor import subtensor as tsub
from theanine.tensor.type import TensorType

_COMPARISONS = (ts.Lt, ts.Gt, ts.Le, ts.Ge, ts.Eq, ts.Neq)   # results with no truth value


class _TensorOperators:
    """Operators and methods shared by tensor variables, constants and shared values.

    ``==`` keeps Python identity semantics (as in Theano); use ``tt.eq``.
    """

    # arithmetic
    def __add__(self, other): return tm.add(self, other)
    def __radd__(self, other): return tm.add(other, self)
    def __sub__(self, other): return tm.sub(self, other)
    def __rsub__(self, other): return tm.sub(other, self)
    def __mul__(self, other): return tm.mul(self, other)
    def __rmul__(self, other): return tm.mul(other, self)
    def __truediv__(self, other): return tm.true_div(self, other)
    def __rtruediv__(self, other): return tm.true_div(other, self)
    def __floordiv__(self, other): return tm.int_div(self, other)
    def __rfloordiv__(self, other): return tm.int_div(other, self)
    def __mod__(self, other): return tm.mod(self, other)
    def __rmod__(self, other): return tm.mod(other, self)
    def __pow__(self, other): return tm.pow(self, other)
    def __rpow__(self, other): return tm.pow(other, self)
    def __neg__(self): return tm.neg(self)
    def __pos__(self): return self
    def __abs__(self): return tm.abs(self)
    def __matmul__(self, other): return tm.matmul(self, other)
    def __rmatmul__(self, other): return tm.matmul(other, self)
    # comparisons (not == / !=)
    def __lt__(self, other): return tm.lt(self, other)
    def __le__(self, other): return tm.le(self, other)
    def __gt__(self, other): return tm.gt(self, other)
    def __ge__(self, other): return tm.ge(self, other)
    # logic
    def __and__(self, other): return tm.and_(self, other)
    def __rand__(self, other): return tm.and_(other, self)
    def __or__(self, other): return tm.or_(self, other)
    def __ror__(self, other): return tm.or_(other, self)
    def __xor__(self, other): return tm.xor(self, other)
    def __rxor__(self, other): return tm.xor(other, self)
    def __invert__(self): return tm.invert(self)

    __hash__ = Variable.__hash__

    def __bool__(self):
        """True, as in Theano (``if W:`` tests that a variable was given), except for
        a comparison's result, which has no truth value while the graph is built: a
        chained ``a < b < c`` would otherwise silently keep only ``b < c``."""
        owner = self.owner
        if owner is not None and isinstance(getattr(owner.op, "scalar_op", None),
                                            _COMPARISONS):
            raise TypeError(
                f"a comparison ({self}) has no truth value while the graph is built (so "
                "a < b < c cannot work); use tt.and_ for chained comparisons and "
                "tt.switch / ifelse for conditions")
        return True

    def __iter__(self):
        static = self.type.shape[0] if self.ndim else None
        if static is None:
            raise TypeError(f"cannot iterate over {self}: its length is not known statically")
        for i in range(static):
            yield self[i]

    def __len__(self):
        raise TypeError("len() of a symbolic tensor is not a Python int; use x.shape[0]")

    # attributes
    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        return tsh.shape(self)

    @property
    def size(self):
        return tm.prod(self.shape)

    @property
    def T(self):
        return te.dimshuffle(self, tuple(reversed(range(self.ndim))))

    def transpose(self, *axes):
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        elif len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        return te.dimshuffle(self, axes)

    def dimshuffle(self, *pattern):
        return te.dimshuffle(self, *pattern)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1:
            shape = shape[0]
        return tsh.reshape(self, shape, ndim=ndim)

    def flatten(self, ndim=1):
        return tm.flatten(self, ndim)

    def ravel(self):
        return tm.flatten(self, 1)

    def astype(self, dtype):
        return tb.cast(self, dtype)

    def squeeze(self, axis=None):
        return tm.squeeze(self, axis)

    # reductions
    def sum(self, axis=None, keepdims=False, dtype=None):
        return tm.sum(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def prod(self, axis=None, keepdims=False, dtype=None):
        return tm.prod(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis=None, keepdims=False, dtype=None):
        return tm.mean(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def var(self, axis=None, ddof=0, keepdims=False):
        return tm.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return tm.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return tm.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return tm.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return tm.argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return tm.argmin(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return tm.all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return tm.any(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None):
        return tm.cumsum(self, axis=axis)

    def cumprod(self, axis=None):
        return tm.cumprod(self, axis=axis)

    def dot(self, other):
        return tm.dot(self, other)

    def clip(self, a_min, a_max):
        return tm.clip(self, a_min, a_max)

    def nonzero(self):
        return tm.nonzero(self)

    # elementwise methods
    def exp(self): return tm.exp(self)
    def log(self): return tm.log(self)
    def sqrt(self): return tm.sqrt(self)
    def round(self): return tm.round(self)

    # indexing
    def __getitem__(self, index):
        return tsub.getitem(self, index)

    def __setitem__(self, index, value):
        raise TypeError("symbolic tensors are immutable: use "
                        "tt.set_subtensor(x[idx], value) or tt.inc_subtensor(x[idx], value)")


class TensorVariable(_TensorOperators, Variable):
    """A symbolic tensor."""


class TensorConstant(_TensorOperators, Constant):
    """A tensor with a fixed value."""

    def __str__(self):
        if self.name is not None:
            return self.name
        data = np.asarray(self.data)
        text = np.array2string(data, threshold=8, max_line_width=60)
        if len(text) > 40:
            text = f"{data.dtype}{list(data.shape)}"
        return text


class TensorSharedVariable(_TensorOperators, SharedVariable):
    """A shared variable holding an ndarray (or, after a JAX function updated it, a
    device array, until a NumPy engine or ``get_value`` needs it on the host)."""

    def get_value(self, borrow: bool = False, return_internal_type: bool = False):
        """A NumPy array of the value; with ``borrow`` or ``return_internal_type``, the
        stored object itself (a device array when a JAX function left one)."""
        value = self.container[0]
        if borrow or return_internal_type:
            return lend(value)
        return np.array(value)

    def __str__(self):
        return self.name if self.name is not None else "<shared>"


TensorType.variable_type = TensorVariable
TensorType.constant_type = TensorConstant


def tensor_shared_constructor(value, name=None, strict=False, allow_downcast=None,
                              borrow=False, shape=None, broadcastable=None):
    """``shared(ndarray or number)``: static shape unknown unless ``shape`` is given."""
    if isinstance(value, Variable) or not isinstance(
            value, (np.ndarray, np.generic, int, float, bool, complex, list, tuple)):
        raise TypeError("not array data")
    if isinstance(value, (int, float, bool, complex)):
        arr = tb.constant(value).data
    else:
        arr = np.asarray(value)
        if arr.dtype.kind in "OUSV":
            raise TypeError("not numeric data")
    if shape is None:
        if broadcastable is not None:
            shape = tuple(1 if b else None for b in broadcastable)
        else:
            shape = (None,) * arr.ndim
    ttype = TensorType(str(arr.dtype), shape)
    return TensorSharedVariable(ttype, value if isinstance(value, np.ndarray) else arr,
                                name=name, strict=strict, allow_downcast=allow_downcast,
                                borrow=borrow)


register_shared_constructor(tensor_shared_constructor)
