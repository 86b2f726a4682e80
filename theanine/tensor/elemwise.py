"""Elemwise (a scalar op broadcast over tensors), DimShuffle and CAReduce."""

from __future__ import annotations

import functools

import numpy as np

from theanine.graph.basic import Apply, Variable
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.type import TensorType

_PY_NUMBERS = (bool, int, float, complex)


def _weak_constant(value, tensor_dtypes):
    """A Python number next to tensors takes their dtype family (NumPy 2 rules)."""
    if not tensor_dtypes:
        return tb.constant(value)
    try:
        dtype = np.result_type(*tensor_dtypes, value)
        return tb.constant(value, dtype=dtype)
    except OverflowError:
        raise OverflowError(
            f"Python number {value!r} does not fit the dtype "
            f"{np.result_type(*tensor_dtypes)} of the other operands; cast one of them"
        ) from None


def as_elemwise_inputs(inputs):
    """Convert inputs, treating bare Python numbers as weakly typed."""
    tensor_dtypes = [i.dtype for i in inputs
                     if isinstance(i, Variable) or isinstance(i, (np.ndarray, np.generic))]
    out = []
    for inp in inputs:
        if isinstance(inp, _PY_NUMBERS):
            out.append(_weak_constant(inp, tensor_dtypes))
        else:
            out.append(tb.as_tensor_variable(inp))
    return out


def broadcast_static_shape(shapes, context="") -> tuple:
    """Static output shape of broadcasting; ValueError on a known mismatch."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        sizes = [s[axis] for s in padded]
        known = {s for s in sizes if s is not None and s != 1}
        if len(known) > 1:
            raise ValueError(f"{context}cannot broadcast shapes "
                             f"{', '.join(str(s) for s in shapes)}: axis {axis} has sizes "
                             f"{sorted(known)}")
        if known:
            out.append(known.pop())
        elif all(s == 1 for s in sizes):
            out.append(1)
        elif any(s is None for s in sizes):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class DimShuffle(Op):
    """Reorder axes, insert broadcastable axes (``'x'``), drop size-1 axes; a view."""

    __props__ = ("input_ndim", "new_order")
    view_map = {0: [0]}

    def __init__(self, input_ndim: int, new_order):
        self.input_ndim = int(input_ndim)
        self.new_order = tuple(new_order)
        kept = [i for i in self.new_order if i != "x"]
        if len(set(kept)) != len(kept):
            raise ValueError(f"DimShuffle: repeated axis in {self.new_order}")
        for i in kept:
            if not (0 <= i < self.input_ndim):
                raise ValueError(f"DimShuffle: axis {i} out of range for {input_ndim} dims")
        self.drop = tuple(i for i in range(self.input_ndim) if i not in kept)
        self.transposition = tuple(kept) + self.drop
        self.shape_after = tuple(1 if i == "x" else None for i in self.new_order)

    def __str__(self):
        if self.new_order == tuple(reversed(range(self.input_ndim))) and self.input_ndim > 1:
            return "Transpose"
        return "DimShuffle{" + ",".join(str(i) for i in self.new_order) + "}"

    @property
    def is_identity(self) -> bool:
        return self.new_order == tuple(range(self.input_ndim))

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeError(f"{self}: expected {self.input_ndim} dims, got {x.ndim} ({x.type})")
        for i in self.drop:
            if x.type.shape[i] != 1:
                raise ValueError(f"{self}: cannot drop axis {i} of {x} which is not known "
                                 f"to have size 1 (static shape {x.type.shape})")
        shape = tuple(1 if i == "x" else x.type.shape[i] for i in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = self.apply(inputs[0])

    def apply(self, x):
        x = np.asarray(x)
        if self.transposition != tuple(range(self.input_ndim)):
            x = x.transpose(self.transposition)
        shape = [x.shape[pos] for pos in range(len(self.new_order) - self.new_order.count("x"))]
        it = iter(shape)
        new_shape = tuple(1 if i == "x" else next(it) for i in self.new_order)
        return x.reshape(new_shape)

    def infer_shape(self, fgraph, node, input_shapes):
        (ishape,) = input_shapes
        return [tuple(1 if i == "x" else ishape[i] for i in self.new_order)]


def dimshuffle(x, *pattern):
    x = tb.as_tensor_variable(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    op = DimShuffle(x.ndim, pattern)
    if op.is_identity:
        return x
    return op(x)


class Elemwise(Op):
    """A scalar op applied elementwise with NumPy broadcasting.

    ``inplace_pattern`` maps an output index to the input whose buffer it
    overwrites (set by the inplace pass, never by users).
    """

    __props__ = ("scalar_op", "inplace_pattern")

    def __init__(self, scalar_op: ts.ScalarOp, inplace_pattern=None, name=None):
        self.scalar_op = scalar_op
        self.inplace_pattern = tuple(sorted((inplace_pattern or {}).items()))
        self.destroy_map = {o: [i] for o, i in self.inplace_pattern}
        self.name = name

    def __str__(self):
        base = self.name or str(self.scalar_op)
        if self.inplace_pattern:
            pat = ",".join(f"{o}<-{i}" for o, i in self.inplace_pattern)
            return f"Elemwise{{{base}}}[inplace {pat}]"
        return f"Elemwise{{{base}}}"

    @property
    def nin(self):
        return self.scalar_op.nin

    @property
    def nout(self):
        return self.scalar_op.nout

    def make_node(self, *inputs):
        if len(inputs) != self.scalar_op.nin:
            raise TypeError(f"{self} takes {self.scalar_op.nin} inputs, got {len(inputs)}")
        ins = as_elemwise_inputs(inputs)
        ndim = max(i.ndim for i in ins)
        ins = [i if i.ndim == ndim else
               DimShuffle(i.ndim, ("x",) * (ndim - i.ndim) + tuple(range(i.ndim)))(i)
               for i in ins]
        shape = broadcast_static_shape([i.type.shape for i in ins], f"{self.scalar_op}: ")
        dtypes = self.scalar_op.output_dtypes([i.dtype for i in ins])
        outs = [TensorType(dt, shape)() for dt in dtypes]
        for o, i in self.inplace_pattern:
            if ins[i].dtype != dtypes[o] or ins[i].type.shape != shape:
                raise TypeError(f"{self}: output {o} cannot overwrite input {i} "
                                f"({ins[i].type} vs {outs[o].type})")
        return Apply(self, ins, outs)

    def perform(self, node, inputs, output_storage):
        fn = self.scalar_op.nfunc
        with np.errstate(all="ignore"):
            if self.inplace_pattern and isinstance(fn, np.ufunc) and fn.nout == 1 \
                    and _can_overwrite(inputs, self.inplace_pattern[0][1]):
                (o, i), = self.inplace_pattern
                result = fn(*inputs, out=inputs[i])
            else:
                result = self.scalar_op.impl(*inputs)
        results = result if self.nout > 1 else (result,)
        for store, value, out in zip(output_storage, results, node.outputs):
            value = np.asarray(value)
            if value.dtype != out.type.dtype:
                value = value.astype(out.type.dtype)
            store[0] = value

    def infer_shape(self, fgraph, node, input_shapes):
        out_shape = []
        for axis in range(node.outputs[0].ndim):
            dims = [s[axis] for s, inp in zip(input_shapes, node.inputs)
                    if inp.type.shape[axis] != 1]
            if not dims:
                out_shape.append(1)
            else:
                out_shape.append(_best_dim(dims, node.outputs[0].type.shape[axis]))
        return [tuple(out_shape)] * len(node.outputs)


def _can_overwrite(inputs, i) -> bool:
    """The destroyed input has the broadcast shape at run time (else compute fresh)."""
    target = inputs[i]
    return isinstance(target, np.ndarray) and target.flags.writeable and \
        target.shape == np.broadcast_shapes(*(np.shape(v) for v in inputs))


def _best_dim(dims, static):
    if static is not None:
        return static
    for d in dims:
        if isinstance(d, (int, np.integer)):
            return d
    return dims[0]


@functools.cache
def elemwise_op(scalar_op: ts.ScalarOp) -> Elemwise:
    return Elemwise(scalar_op)


def elemwise_fn(scalar_op: ts.ScalarOp, name: str | None = None):
    """The user-facing function broadcasting ``scalar_op``."""
    op = elemwise_op(scalar_op)

    def fn(*inputs):
        return op(*inputs)

    fn.__name__ = name or scalar_op.name
    fn.__doc__ = f"Elementwise {scalar_op.name} with NumPy broadcasting."
    return fn


def cast_elemwise(x, dtype):
    return elemwise_op(ts.cast_op(dtype))(x)


tb.set_cast_function(cast_elemwise)


# -- reductions ---------------------------------------------------------------


def normalize_axis(axis, ndim: int, name="axis") -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axis = (int(axis),)
    out = []
    for a in axis:
        if isinstance(a, Variable):
            a = int(tb.get_scalar_constant_value(a))
        a = int(a)
        if not -ndim <= a < max(ndim, 1) or (ndim == 0 and a not in (0, -1)):
            raise ValueError(f"{name} {a} is out of range for a tensor with {ndim} dims")
        out.append(a % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {name} in {axis}")
    return tuple(sorted(out))


class CAReduce(Op):
    """Reduce over ``axis`` with a commutative, associative NumPy function."""

    __props__ = ("kind", "axis")
    _functions = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
                  "all": np.all, "any": np.any}

    def __init__(self, kind: str, axis=None):
        if kind not in self._functions:
            raise ValueError(f"unknown reduction {kind!r}")
        self.kind = kind
        self.axis = None if axis is None else tuple(axis)

    def __str__(self):
        ax = "" if self.axis is None else "{" + ",".join(map(str, self.axis)) + "}"
        return f"{self.kind.capitalize()}{ax}"

    @property
    def fn(self):
        return self._functions[self.kind]

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        axis = normalize_axis(self.axis, x.ndim)
        if self.axis is not None and axis != self.axis:
            return CAReduce(self.kind, axis).make_node(x)
        dtype = str(self.fn(np.ones(1, dtype=x.dtype)).dtype)
        shape = tuple(s for i, s in enumerate(x.type.shape) if i not in axis)
        return Apply(self, [x], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        (x,) = inputs
        axis = normalize_axis(self.axis, x.ndim)
        out = self.fn(x, axis=axis)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        axis = normalize_axis(self.axis, node.inputs[0].ndim)
        return [tuple(s for i, s in enumerate(input_shapes[0]) if i not in axis)]


def reduce(kind, x, axis=None, keepdims=False):
    x = tb.as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim)
    out = CAReduce(kind, None if axis is None else axes)(x)
    if keepdims:
        out = keep_dims(out, x.ndim, axes)
    return out


def keep_dims(reduced, ndim: int, axes) -> Variable:
    """Re-insert the reduced axes as size-1 axes."""
    pattern, it = [], iter(range(reduced.ndim))
    for i in range(ndim):
        pattern.append("x" if i in axes else next(it))
    return dimshuffle(reduced, pattern)
