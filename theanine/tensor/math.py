"""User-facing math: elementwise functions, reductions, and dot."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import (
    CAReduce,
    dimshuffle,
    elemwise_fn,
    keep_dims,
    normalize_axis,
    reduce,
)
from theanine.tensor.linalg import TensorDot, cumprod, cumsum, matmul  # noqa: F401
from theanine.tensor.nonzero import flatnonzero, nonzero  # noqa: F401  (re-exported)
from theanine.tensor.reshaping import flatten, squeeze  # noqa: F401  (re-exported)
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType

# -- elementwise ----------------------------------------------------------------
add = elemwise_fn(ts.add)
sub = elemwise_fn(ts.sub)
mul = elemwise_fn(ts.mul)
true_div = elemwise_fn(ts.true_div)
int_div = elemwise_fn(ts.int_div)
floor_div = int_div
mod = elemwise_fn(ts.mod)
pow = elemwise_fn(ts.pow)
neg = elemwise_fn(ts.neg)
reciprocal = elemwise_fn(ts.reciprocal)
abs = elemwise_fn(ts.abs)
sign = elemwise_fn(ts.sign)
floor = elemwise_fn(ts.floor)
ceil = elemwise_fn(ts.ceil)
round_half_to_even = elemwise_fn(ts.round_half_to_even)
round_half_away_from_zero = elemwise_fn(ts.round_half_away_from_zero)
trunc = elemwise_fn(ts.trunc)
maximum = elemwise_fn(ts.maximum)
minimum = elemwise_fn(ts.minimum)
sqr = elemwise_fn(ts.sqr)
sqrt = elemwise_fn(ts.sqrt)
exp = elemwise_fn(ts.exp)
exp2 = elemwise_fn(ts.exp2)
expm1 = elemwise_fn(ts.expm1)
log = elemwise_fn(ts.log)
log2 = elemwise_fn(ts.log2)
log10 = elemwise_fn(ts.log10)
log1p = elemwise_fn(ts.log1p)
sin = elemwise_fn(ts.sin)
cos = elemwise_fn(ts.cos)
tan = elemwise_fn(ts.tan)
arcsin = elemwise_fn(ts.arcsin)
arccos = elemwise_fn(ts.arccos)
arctan = elemwise_fn(ts.arctan)
arctan2 = elemwise_fn(ts.arctan2)
sinh = elemwise_fn(ts.sinh)
cosh = elemwise_fn(ts.cosh)
tanh = elemwise_fn(ts.tanh)
arcsinh = elemwise_fn(ts.arcsinh)
arccosh = elemwise_fn(ts.arccosh)
arctanh = elemwise_fn(ts.arctanh)
sigmoid = elemwise_fn(ts.sigmoid)
softplus = elemwise_fn(ts.softplus)
erf = elemwise_fn(ts.erf)
erfc = elemwise_fn(ts.erfc)
erfinv = elemwise_fn(ts.erfinv)
gammaln = elemwise_fn(ts.gammaln)
psi = elemwise_fn(ts.psi)
lt = less = elemwise_fn(ts.lt)
gt = greater = elemwise_fn(ts.gt)
le = less_equal = elemwise_fn(ts.le)
ge = greater_equal = elemwise_fn(ts.ge)
eq = equal = elemwise_fn(ts.eq)
neq = not_equal = elemwise_fn(ts.neq)
and_ = bitwise_and = elemwise_fn(ts.and_)
or_ = bitwise_or = elemwise_fn(ts.or_)
xor = bitwise_xor = elemwise_fn(ts.xor)
invert = bitwise_not = elemwise_fn(ts.invert)
isnan = elemwise_fn(ts.isnan)
isinf = elemwise_fn(ts.isinf)
_switch = elemwise_fn(ts.switch)
_clip = elemwise_fn(ts.clip)
cast = tb.cast
round = round_half_to_even


def switch(cond, ift, iff):
    """Elementwise choice: ``ift`` where ``cond`` is true, else ``iff`` (both computed)."""
    return _switch(cond, ift, iff)


where = switch


def clip(x, min, max):
    return _clip(x, min, max)


def relu(x, alpha=0):
    """``max(x, 0)``; with ``alpha``, a leaky ReLU ``where(x > 0, x, alpha * x)``."""
    x = tb.as_tensor_variable(x)
    if alpha == 0:
        return maximum(x, 0)
    return switch(gt(x, 0), x, mul(alpha, x))


def isclose(a, b, rtol=1e-5, atol=1e-8):
    return le(abs(sub(a, b)), add(atol, mul(rtol, abs(b))))


# -- reductions -----------------------------------------------------------------


def sum(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    x = tb.as_tensor_variable(x)
    if dtype is not None:
        x = cast(x, dtype)
    return reduce("sum", x, axis, keepdims)


def prod(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    x = tb.as_tensor_variable(x)
    if dtype is not None:
        x = cast(x, dtype)
    return reduce("prod", x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    return reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    return reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    return reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    return reduce("any", x, axis, keepdims)


def _count(x, axes):
    """Number of elements reduced over ``axes``, as a symbolic int64 scalar."""
    n = None
    for a in axes:
        d = shape_i(x, a)
        n = d if n is None else mul(n, d)
    return tb.constant(np.int64(1)) if n is None else n


def mean(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    """Arithmetic mean; integers average in float64 like NumPy."""
    x = tb.as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    if dtype is not None:
        x = cast(x, dtype)
    total = sum(x, axis=axis, keepdims=keepdims)
    if total.dtype in ts.DISCRETE_DTYPES:
        total = cast(total, "float64")
    n = _count(x, axes)
    return true_div(total, cast(n, total.dtype))


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    x = tb.as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    centered = sub(x, mean(x, axis=axis, keepdims=True))
    sq = sum(mul(centered, centered), axis=axis, keepdims=keepdims)
    n = _count(x, axes)
    if ddof or corrected:
        n = sub(n, ddof or 1)
    return true_div(sq, cast(n, sq.dtype))


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims, corrected=corrected))


class Argmax(Op):
    """Index of the maximum (``kind='max'``) or minimum along ``axis`` (None = flat)."""

    __props__ = ("kind", "axis")

    def __init__(self, kind="max", axis=None):
        self.kind = kind
        self.axis = axis

    def __str__(self):
        return f"Arg{self.kind}{{{self.axis}}}"

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if self.axis is None:
            shape = ()
        else:
            (ax,) = normalize_axis(self.axis, x.ndim)
            if ax != self.axis:
                return Argmax(self.kind, ax).make_node(x)
            shape = tuple(s for i, s in enumerate(x.type.shape) if i != ax)
        return Apply(self, [x], [TensorType("int64", shape)()])

    def perform(self, node, inputs, output_storage):
        fn = np.argmax if self.kind == "max" else np.argmin
        output_storage[0][0] = np.asarray(fn(inputs[0], axis=self.axis), dtype="int64")

    def infer_shape(self, fgraph, node, input_shapes):
        if self.axis is None:
            return [()]
        return [tuple(s for i, s in enumerate(input_shapes[0]) if i != self.axis)]

    def connection_pattern(self, node):
        return [[False]]

    def L_op(self, inputs, outputs, output_grads):
        """An index does not vary with the values: no gradient flows."""
        return [disconnected_type()]


def _arg_extremum(kind, x, axis, keepdims):
    x = tb.as_tensor_variable(x)
    out = Argmax(kind, axis)(x)
    if keepdims:
        out = keep_dims(out, x.ndim, normalize_axis(axis, x.ndim))
    return out


def argmax(x, axis=None, keepdims=False):
    return _arg_extremum("max", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    return _arg_extremum("min", x, axis, keepdims)


# -- products -------------------------------------------------------------------


class Dot(Op):
    """``np.dot``: inner product over the last axis of a and the second-to-last of b."""

    def make_node(self, a, b):
        a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise TypeError("dot of a 0-d tensor: use multiplication instead")
        ka = a.type.shape[-1]
        kb = b.type.shape[0] if b.ndim == 1 else b.type.shape[-2]
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"dot: shapes {_fmt(a.type.shape)} and {_fmt(b.type.shape)} "
                             f"are not aligned ({ka} != {kb})")
        shape = a.type.shape[:-1] + (b.type.shape[:-2] + b.type.shape[-1:] if b.ndim > 1 else ())
        dtype = np.result_type(a.dtype, b.dtype).name
        return Apply(self, [a, b], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        try:
            out = np.dot(a, b)
        except ValueError:
            raise ValueError(f"dot: shapes {a.shape} and {b.shape} not aligned") from None
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(sa[:-1]) + (tuple(sb[:-2]) + tuple(sb[-1:]) if len(sb) > 1 else ())]

    def L_op(self, inputs, outputs, output_grads):
        """For vectors and matrices: ``ga = g . b^T``, ``gb = a^T . g`` (outer
        products where one side is a vector)."""
        (a, b), (g,) = inputs, output_grads
        if a.ndim > 2 or b.ndim > 2:  # np.dot is tensordot over (last of a, -2 of b)
            same = TensorDot([a.ndim - 1], [b.ndim - 2 if b.ndim > 1 else 0])
            return same.L_op(inputs, outputs, output_grads)
        if a.ndim == 1 and b.ndim == 1:
            return [mul(g, b), mul(g, a)]
        if a.ndim == 2 and b.ndim == 1:
            return [mul(dimshuffle(g, (0, "x")), dimshuffle(b, ("x", 0))), dot(a.T, g)]
        if a.ndim == 1 and b.ndim == 2:
            return [dot(b, g), mul(dimshuffle(a, (0, "x")), dimshuffle(g, ("x", 0)))]
        return [dot(g, b.T), dot(a.T, g)]


def _fmt(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


_dot = Dot()


def dot(a, b):
    """Matrix/vector product with ``np.dot`` semantics; scalars multiply."""
    a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    return _dot(a, b)


def power_by_squaring(x, n: int, multiply, square):
    """``x**n`` for an int ``n >= 1`` in at most ``2*log2(n)`` products (``multiply``
    and ``square`` say which product: elementwise, or matrix)."""
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else multiply(result, base)
        n >>= 1
        if n:
            base = square(base)
    return result


__all__ = [n for n in dir() if not n.startswith("_") and n not in (
    "np", "ts", "tb", "Apply", "Op", "TensorType", "elemwise_fn", "keep_dims", "dimshuffle",
    "disconnected_type", "grad_not_implemented",
    "normalize_axis", "reduce", "shape_i", "annotations", "power_by_squaring")] + ["CAReduce"]
