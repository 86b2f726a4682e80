"""Products with NumPy semantics (matmul, tensordot, outer, batched_dot) and cumulative ops.

Only ``elemwise``/``shape``/``basic`` are imported, so ``math`` can re-export
``matmul``/``cumsum``/``cumprod`` (``TensorVariable`` methods reach them there).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import (
    broadcast_static_shape,
    dimshuffle,
    elemwise_fn,
    normalize_axis,
    reduce,
)
from theanine.tensor.shape import reshape, shape_i
from theanine.tensor.type import TensorType

_add = elemwise_fn(ts.add)
_sub = elemwise_fn(ts.sub)
_mul = elemwise_fn(ts.mul)
_true_div = elemwise_fn(ts.true_div)


def _fmt(shape) -> str:
    inner = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({inner}{',' if len(shape) == 1 else ''})"


def _grad_like(g, x):
    """Cast a gradient to its input's float dtype (integer inputs get float64)."""
    dtype = x.dtype if x.dtype.startswith("float") else "float64"
    return tb.cast(g, dtype)


def _sum_to(g, target_shape):
    """Sum ``g`` over its leading extra axes and over axes where the target is 1."""
    extra = g.ndim - len(target_shape)
    if extra > 0:
        g = reduce("sum", g, tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(target_shape) if s == 1 and g.type.shape[i] != 1)
    if axes:
        g = reduce("sum", g, axes, keepdims=True)
    return g


def _matmul_dtype(a, b) -> str:
    return str(np.matmul(np.ones((1, 1), a), np.ones((1, 1), b)).dtype)


# -- matmul ---------------------------------------------------------------------------


class MatMul(Op):
    """``np.matmul``: batched matrix product; 1-d operands are promoted and the
    added axis dropped; batch axes broadcast."""

    def make_node(self, a, b):
        a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes "
                             f"{_fmt(a.type.shape)} and {_fmt(b.type.shape)}; use * for "
                             "scalars")
        sa, sb = a.type.shape, b.type.shape
        ka = sa[-1]
        kb = sb[0] if b.ndim == 1 else sb[-2]
        if ka is not None and kb is not None and ka != kb:
            raise ValueError(f"matmul: shapes {_fmt(sa)} and {_fmt(sb)} are not aligned: "
                             f"{ka} (last axis of the first) != {kb} "
                             f"({'only' if b.ndim == 1 else 'second-to-last'} axis of the "
                             "second)")
        try:
            batch = broadcast_static_shape([sa[:-2], sb[:-2]]) if max(a.ndim, b.ndim) > 2 \
                else ()
        except ValueError as exc:
            raise ValueError(f"matmul: the batch axes of shapes {_fmt(sa)} and {_fmt(sb)} do "
                             f"not broadcast ({exc})") from None
        shape = batch + (sa[-2:-1] if a.ndim >= 2 else ()) + (sb[-1:] if b.ndim >= 2 else ())
        return Apply(self, [a, b], [TensorType(_matmul_dtype(a.dtype, b.dtype), shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        try:
            out = np.matmul(a, b)
        except ValueError as exc:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape}: {exc}") from None
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        a, b = node.inputs
        sa, sb = input_shapes
        out_static = node.outputs[0].type.shape
        nbatch = max(a.ndim, b.ndim) - 2 if max(a.ndim, b.ndim) > 2 else 0
        pa = [(1, None)] * (nbatch - max(a.ndim - 2, 0)) + \
            [(s, st) for s, st in zip(sa[:-2], a.type.shape[:-2])]
        pb = [(1, None)] * (nbatch - max(b.ndim - 2, 0)) + \
            [(s, st) for s, st in zip(sb[:-2], b.type.shape[:-2])]
        batch = []
        for axis in range(nbatch):
            if out_static[axis] is not None:
                batch.append(out_static[axis])
                continue
            (da, sta), (db, stb) = pa[axis], pb[axis]
            batch.append(db if sta == 1 or (da == 1 and stb != 1) else da)
        rows = (sa[-2],) if a.ndim >= 2 else ()
        cols = (sb[-1],) if b.ndim >= 2 else ()
        return [tuple(batch) + rows + cols]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        a2 = a if a.ndim >= 2 else dimshuffle(a, "x", 0)
        b2 = b if b.ndim >= 2 else dimshuffle(b, 0, "x")
        gz2 = gz
        if a.ndim == 1:
            pattern = list(range(gz2.ndim))
            pattern.insert(gz2.ndim - (0 if b.ndim == 1 else 1), "x")
            gz2 = dimshuffle(gz2, pattern)
        if b.ndim == 1:
            gz2 = dimshuffle(gz2, list(range(gz2.ndim)) + ["x"])
        ga = _sum_to(matmul(gz2, swapaxes(b2, -1, -2)), a2.type.shape)
        gb = _sum_to(matmul(swapaxes(a2, -1, -2), gz2), b2.type.shape)
        if a.ndim == 1:
            ga = dimshuffle(ga, 1)
        if b.ndim == 1:
            gb = dimshuffle(gb, 0)
        return [_grad_like(ga, a), _grad_like(gb, b)]


_matmul = MatMul()


def matmul(a, b):
    """``a @ b`` with NumPy's ``matmul`` semantics (batching, 1-d promotion)."""
    return _matmul(a, b)


def swapaxes(x, a1: int, a2: int):
    x = tb.as_tensor_variable(x)
    order = list(range(x.ndim))
    i, j = order[a1], order[a2]
    order[i], order[j] = order[j], order[i]
    return dimshuffle(x, order)


# -- tensordot ------------------------------------------------------------------------


class TensorDot(Op):
    """``np.tensordot`` over the paired axes ``a_axes``/``b_axes``."""

    __props__ = ("a_axes", "b_axes")

    def __init__(self, a_axes, b_axes):
        self.a_axes = tuple(int(i) for i in a_axes)
        self.b_axes = tuple(int(i) for i in b_axes)
        if len(self.a_axes) != len(self.b_axes):
            raise ValueError(f"tensordot: {len(self.a_axes)} axes of the first operand "
                             f"paired with {len(self.b_axes)} of the second")

    def __str__(self):
        return f"TensorDot{{{list(self.a_axes)}, {list(self.b_axes)}}}"

    def make_node(self, a, b):
        a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
        aa = normalize_axis(self.a_axes, a.ndim, "tensordot axis") if self.a_axes else ()
        bb = normalize_axis(self.b_axes, b.ndim, "tensordot axis") if self.b_axes else ()
        if len(aa) != len(self.a_axes) or len(bb) != len(self.b_axes):
            raise ValueError(f"tensordot: repeated axes in {self.a_axes} / {self.b_axes}")
        sa, sb = a.type.shape, b.type.shape
        canon = [int(x) % a.ndim for x in self.a_axes], [int(x) % b.ndim for x in self.b_axes]
        if (tuple(canon[0]), tuple(canon[1])) != (self.a_axes, self.b_axes):
            return TensorDot(*canon).make_node(a, b)
        for i, j in zip(self.a_axes, self.b_axes):
            if sa[i] is not None and sb[j] is not None and sa[i] != sb[j]:
                raise ValueError(f"tensordot: shapes {_fmt(sa)} and {_fmt(sb)} do not match "
                                 f"on the summed axes {i} and {j} ({sa[i]} != {sb[j]})")
        shape = tuple(s for i, s in enumerate(sa) if i not in self.a_axes) + \
            tuple(s for j, s in enumerate(sb) if j not in self.b_axes)
        dtype = str(np.tensordot(np.ones(1, a.dtype), np.ones(1, b.dtype), 1).dtype)
        return Apply(self, [a, b], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        try:
            out = np.tensordot(a, b, (list(self.a_axes), list(self.b_axes)))
        except ValueError as exc:
            raise ValueError(f"tensordot: shapes {a.shape} and {b.shape} on axes "
                             f"{self.a_axes}/{self.b_axes}: {exc}") from None
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        return [tuple(s for i, s in enumerate(sa) if i not in self.a_axes) +
                tuple(s for j, s in enumerate(sb) if j not in self.b_axes)]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        a_free = [i for i in range(a.ndim) if i not in self.a_axes]
        b_free = [j for j in range(b.ndim) if j not in self.b_axes]
        nfa = len(a_free)
        pair_of_b = dict(zip(self.b_axes, self.a_axes))
        pair_of_a = dict(zip(self.a_axes, self.b_axes))
        # gz (a_free + b_free) . b over b_free -> a_free + a's summed axes (b's order)
        ga = tensordot(gz, b, [list(range(nfa, gz.ndim)), b_free])
        ga_axes = a_free + [pair_of_b[j] for j in sorted(self.b_axes)]
        ga = dimshuffle(ga, [ga_axes.index(i) for i in range(a.ndim)])
        # a . gz over a_free -> b's summed axes (a's order) + b_free
        gb = tensordot(a, gz, [a_free, list(range(nfa))])
        gb_axes = [pair_of_a[i] for i in sorted(self.a_axes)] + b_free
        gb = dimshuffle(gb, [gb_axes.index(j) for j in range(b.ndim)])
        return [_grad_like(ga, a), _grad_like(gb, b)]


def tensordot(a, b, axes=2):
    """``np.tensordot``: ``axes`` an int (last ``n`` of a with first ``n`` of b) or a
    pair of axis lists."""
    a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: axes={n} is out of range for operands with "
                             f"{a.ndim} and {b.ndim} dims")
        a_axes, b_axes = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        try:
            a_axes, b_axes = axes
        except (TypeError, ValueError):
            raise TypeError(f"tensordot: axes must be an int or a pair of axis lists, got "
                            f"{axes!r}") from None
        a_axes = [a_axes] if isinstance(a_axes, (int, np.integer)) else list(a_axes)
        b_axes = [b_axes] if isinstance(b_axes, (int, np.integer)) else list(b_axes)
    return TensorDot(a_axes, b_axes)(a, b)


def outer(x, y):
    """``np.outer``: both operands flattened."""
    x, y = tb.as_tensor_variable(x), tb.as_tensor_variable(y)
    if x.ndim != 1:
        x = reshape(x, (-1,))
    if y.ndim != 1:
        y = reshape(y, (-1,))
    return _mul(dimshuffle(x, 0, "x"), dimshuffle(y, "x", 0))


def batched_dot(a, b):
    """``out[i] = dot(a[i], b[i])`` for 2-d or 3-d operands sharing the first axis."""
    a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
    if a.ndim not in (2, 3) or b.ndim not in (2, 3):
        raise TypeError(f"batched_dot: operands must be 2-d or 3-d, got {a.ndim}-d and "
                        f"{b.ndim}-d")
    na, nb = a.type.shape[0], b.type.shape[0]
    if na is not None and nb is not None and na != nb:
        raise ValueError(f"batched_dot: batch sizes differ: shapes {_fmt(a.type.shape)} and "
                         f"{_fmt(b.type.shape)}")
    a3 = a if a.ndim == 3 else dimshuffle(a, 0, "x", 1)
    b3 = b if b.ndim == 3 else dimshuffle(b, 0, 1, "x")
    out = matmul(a3, b3)
    keep = [0] + ([1] if a.ndim == 3 else []) + ([2] if b.ndim == 3 else [])
    return dimshuffle(out, keep)


# -- cumulative sums and products ----------------------------------------------------


class CumOp(Op):
    """``np.cumsum`` / ``np.cumprod`` along ``axis`` (None: over the flattened input)."""

    __props__ = ("mode", "axis")

    def __init__(self, mode: str = "add", axis=None):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.mode = mode
        self.axis = None if axis is None else int(axis)

    def __str__(self):
        return f"Cum{'sum' if self.mode == 'add' else 'prod'}{{{self.axis}}}"

    @property
    def fn(self):
        return np.cumsum if self.mode == "add" else np.cumprod

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if self.axis is None:
            size = None if None in x.type.shape else int(np.prod(x.type.shape))
            shape = (size,)
        else:
            (axis,) = normalize_axis(self.axis, x.ndim)
            if x.ndim == 0:
                raise ValueError(f"{self}: axis {self.axis} given for 0-d {x}")
            if axis != self.axis:
                return CumOp(self.mode, axis).make_node(x)
            shape = x.type.shape
        dtype = ts.numpy_output_dtypes(self.fn, (x.dtype,))[0]
        return Apply(self, [x], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(self.fn(inputs[0], axis=self.axis),
                                          dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        if self.axis is None:
            size = tb.constant(np.int64(1))
            for s in input_shapes[0]:
                size = _mul(size, s)
            return [(size,)]
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        axis = 0 if self.axis is None else self.axis
        # the reverse cumulative sum, sum(gz) - cumsum(gz) + gz, along ``axis``
        if self.mode == "add":
            g = _reverse_cumsum(gz, axis)
        else:  # d out_j / d x_i = out_j / x_i for j >= i (x without zeros)
            g = _true_div(_reverse_cumsum(_mul(gz, out), axis),
                          x if self.axis is not None else reshape(x, (-1,)))
        if self.axis is None:
            g = reshape(g, tuple(shape_i(x, i) for i in range(x.ndim)))
        return [_grad_like(g, x)]


def _reverse_cumsum(g, axis):
    total = reduce("sum", g, (axis,), keepdims=True)
    return _add(_sub(total, CumOp("add", axis)(g)), g)


def cumsum(x, axis=None):
    """Cumulative sum (NumPy semantics: ``axis=None`` flattens)."""
    return CumOp("add", axis)(x)


def cumprod(x, axis=None):
    """Cumulative product (NumPy semantics); its gradient assumes no zeros in ``x``."""
    return CumOp("mul", axis)(x)


__all__ = ["MatMul", "TensorDot", "CumOp", "matmul", "tensordot", "outer", "batched_dot",
           "swapaxes", "cumsum", "cumprod"]
