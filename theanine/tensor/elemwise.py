"""Elemwise (a scalar op broadcast over tensors), DimShuffle and CAReduce."""

from __future__ import annotations

import functools

import numpy as np

from theanine.config import config
from theanine.graph.basic import Apply, Constant, Variable, io_toposort
from theanine.graph.op import InternedOp, Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.type import TensorType

_PY_NUMBERS = (bool, int, float, complex)


_float_result_dtypes: dict = {}
_constant_data: dict = {}


def _weak_constant(value, tensor_dtypes, ndim):
    """A Python number next to tensors takes their dtype family (NumPy 2 rules).

    It is made with ``ndim`` size-1 axes directly, so broadcasting it needs no
    DimShuffle node.
    """
    if not tensor_dtypes:
        return tb.constant(value, ndim=ndim)
    try:
        if type(value) is float:   # the value cannot change a float result's dtype
            key = (tuple(tensor_dtypes), float)
            dtype = _float_result_dtypes.get(key)
            if dtype is None:
                dtype = _float_result_dtypes[key] = np.result_type(*tensor_dtypes, value)
        else:
            dtype = np.result_type(*tensor_dtypes, value)
        kind = type(value)
        if not ((kind is float and value != 0.0 and value == value) or kind is int):
            return tb.constant(value, dtype=dtype, ndim=ndim)
        # Equal numbers get Constants of one type and one data array (what merging
        # makes of them anyway); not zeros (0.0 == -0.0) nor NaN (never equal).
        # Bounded: a graph using very many distinct numbers just refills the cache.
        key = (kind, value, dtype, ndim)
        found = _constant_data.get(key)
        if found is None:
            if len(_constant_data) >= 4096:
                _constant_data.clear()
            const = tb.constant(value, dtype=dtype, ndim=ndim)
            _constant_data[key] = (const.type, const.data)
            return const
        return found[0].make_constant(found[1])
    except OverflowError:
        raise OverflowError(
            f"Python number {value!r} does not fit the dtype "
            f"{np.result_type(*tensor_dtypes)} of the other operands; cast one of them"
        ) from None


def as_elemwise_inputs(inputs):
    """Convert inputs, treating bare Python numbers as weakly typed."""
    converted = []
    numbers = False
    for i in inputs:
        if isinstance(i, Variable) and type(i.type) is TensorType:
            converted.append(i)
        elif isinstance(i, _PY_NUMBERS):
            converted.append(None)
            numbers = True
        else:
            converted.append(tb.as_tensor_variable(i))
    if not numbers:
        return converted
    tensor_dtypes = [c.type.dtype for c in converted if c is not None]
    ndim = max((len(c.type.shape) for c in converted if c is not None), default=0)
    return [c if c is not None else _weak_constant(i, tensor_dtypes, ndim)
            for c, i in zip(converted, inputs)]


def _type_of(types, dtype, shape) -> TensorType:
    """The output type ``(dtype, shape)``: an input's own (unnamed) type object when it
    is that type (types are values; most outputs have their first input's type)."""
    for t in types:
        if t.dtype == dtype and t.shape == shape and t.name is None \
                and type(t) is TensorType:
            return t
    return TensorType(dtype, shape)


def broadcast_static_shape(shapes, context="") -> tuple:
    """Static output shape of broadcasting; ValueError on a known mismatch."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [s if len(s) == ndim else (1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        known = None      # the one size other than 1 (None: none seen)
        unknown = False
        for s in padded:
            size = s[axis]
            if size is None:
                unknown = True
            elif size != 1:
                if known is None:
                    known = size
                elif size != known:
                    sizes = sorted({p[axis] for p in padded} - {None, 1})
                    raise ValueError(f"{context}cannot broadcast shapes "
                                     f"{', '.join(str(s) for s in shapes)}: axis {axis} has "
                                     f"sizes {sizes}")
        out.append(known if known is not None else (None if unknown else 1))
    return tuple(out)


class DimShuffle(Op, metaclass=InternedOp):
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

    def L_op(self, inputs, outputs, output_grads):
        """Undo the shuffle: sum away inserted axes, put dropped axes back."""
        (x,), (g,) = inputs, output_grads
        if x.dtype in ts.DISCRETE_DTYPES:
            return [filled_like(x, 0)]
        inserted = tuple(pos for pos, i in enumerate(self.new_order) if i == "x")
        if inserted:
            g = _summed_over(g, inserted)
        kept = [i for i in self.new_order if i != "x"]
        pattern = ["x" if i in self.drop else kept.index(i) for i in range(self.input_ndim)]
        return [dimshuffle(g, pattern)]


def _summed_over(g, axes):
    """``g`` summed over its size-1 ``axes``; where ``g`` only inserted those axes
    into a value (an elementwise gradient's sum, kept at full rank), that value: a
    gradient through broadcasting does not build a sum and an axis insertion per
    layer for the rewrites to remove."""
    owner = g.owner
    if owner is not None and isinstance(owner.op, DimShuffle):
        order = owner.op.new_order
        kept = [i for i in order if i != "x"]
        if (kept == list(range(owner.op.input_ndim))
                and tuple(p for p, i in enumerate(order) if i == "x") == axes):
            return owner.inputs[0]
    return CAReduce("sum", axes)(g)


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

    def kinds(self) -> tuple[type, ...]:
        return (type(self), *self.scalar_op.kinds())

    def __str__(self):
        # cached (cleared by any attribute assignment): a fused op's name spells out its
        # whole expression, and error checks format it often
        text = self.__dict__.get("_op_str")
        if text is None:
            base = self.name or str(self.scalar_op)
            if self.inplace_pattern:
                pat = ",".join(f"{o}<-{i}" for o, i in self.inplace_pattern)
                text = f"Elemwise{{{base}}}[inplace {pat}]"
            else:
                text = f"Elemwise{{{base}}}"
            self.__dict__["_op_str"] = text
        return text

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
        types = [i.type for i in ins]
        shape = types[0].shape
        if any(t.shape != shape for t in types):    # (most nodes: inputs of one shape)
            ndim = max(len(t.shape) for t in types)
            if any(len(t.shape) != ndim for t in types):
                ins = [i if i.ndim == ndim else
                       DimShuffle(i.ndim, ("x",) * (ndim - i.ndim) + tuple(range(i.ndim)))(i)
                       for i in ins]
                types = [i.type for i in ins]
            try:
                shape = broadcast_static_shape([t.shape for t in types])
            except ValueError as exc:
                raise ValueError(f"{self.scalar_op}: {exc}") from None
        dtypes = self.scalar_op.output_dtypes([t.dtype for t in types])
        outs = [_type_of(types, dt, shape)() for dt in dtypes]
        for o, i in self.inplace_pattern:
            if ins[i].dtype != dtypes[o] or ins[i].type.shape != shape:
                raise TypeError(f"{self}: output {o} cannot overwrite input {i} "
                                f"({ins[i].type} vs {outs[o].type})")
        return Apply(self, ins, outs)

    def perform(self, node, inputs, output_storage):
        fn = self.scalar_op.nfunc
        with np.errstate(all="ignore"):
            if self.inplace_pattern and isinstance(fn, np.ufunc) and fn.nout == 1 \
                    and writable_target(inputs, self.inplace_pattern[0][1]) is not None:
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

    def L_op(self, inputs, outputs, output_grads):
        """Build the scalar op's gradient graph and map it onto Elemwise ops."""
        output_grads = [filled_like(o, 0) if g is None else g
                        for o, g in zip(outputs, output_grads)]
        s_in, s_out, s_g, s_grads, nodes = _scalar_gradient_graph(
            self.scalar_op, tuple(i.dtype for i in inputs),
            tuple(g.dtype for g in output_grads))
        mapping = dict(zip(s_in, inputs))
        mapping.update(zip(s_out, outputs))
        mapping.update(zip(s_g, output_grads))
        results = scalar_graph_to_tensor(s_in + s_out + s_g, s_grads, mapping, nodes)
        return [fit_gradient(x, g) for x, g in zip(inputs, results)]

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


def writable_target(inputs, i):
    """Input ``i`` when an elementwise result may be written into it at run time: a
    writeable array of the broadcast shape (else None: compute into a fresh array).
    The one run-time check behind every in-place elementwise thunk."""
    target = inputs[i]
    if not isinstance(target, np.ndarray) or not target.flags.writeable:
        return None
    shape, ndim = target.shape, target.ndim
    for v in inputs:
        vs = v.shape if type(v) is np.ndarray else np.shape(v)
        if vs == shape:
            continue
        # every input broadcasts into the target's shape: then that is the result's
        k = len(vs)
        if k > ndim:
            return None
        for a, b in zip(vs, shape[ndim - k:]):
            if a != b and a != 1:
                return None
    return target


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


@functools.lru_cache(maxsize=1024)
def _scalar_gradient_graph(scalar_op, in_dtypes, gout_dtypes):
    """The scalar gradient graph of ``scalar_op`` for these dtypes (built once).

    It is a template over placeholder scalars, so test values are off while building it.
    """
    with config.change_flags(compute_test_value="off"):
        s_in = [ts.get_scalar_type(dt)() for dt in in_dtypes]
        s_out = scalar_op.make_node(*s_in).outputs
        s_g = [ts.get_scalar_type(dt)() for dt in gout_dtypes]
        s_grads = list(scalar_op.L_op(s_in, s_out, s_g))
    nodes = io_toposort(s_in + s_out + s_g,
                        [o for o in s_grads if isinstance(o.type, ts.ScalarType)])
    return s_in, s_out, s_g, s_grads, nodes


def scalar_graph_to_tensor(inputs, outputs, mapping: dict, nodes=None) -> list:
    """Rebuild a scalar graph over tensors: each scalar Apply becomes an Elemwise.

    ``mapping`` sends the scalar ``inputs`` to tensor variables; scalar constants
    inside the graph become tensor constants of the same dtype with as many
    (broadcastable) dimensions as the tensors, so no ``DimShuffle`` node is built
    per constant (a gradient through n layers would carry n of them through every
    rewrite pass); a constant result is 0-d.  Non-scalar results (a disconnected or
    undefined gradient) pass through unchanged.
    """
    done = dict(mapping)
    if nodes is None:
        nodes = io_toposort(inputs, [o for o in outputs if isinstance(o.type, ts.ScalarType)])
    ndim = max([getattr(v.type, "ndim", 0) for v in mapping.values()], default=0)
    for node in nodes:
        args = [done[i] if i in done else _tensor_constant(i, ndim) for i in node.inputs]
        outs = elemwise_op(node.op).make_node(*args).outputs
        done.update(zip(node.outputs, outs))
    result = []
    for out in outputs:
        if not isinstance(out.type, ts.ScalarType):
            result.append(out)
        elif out in done:
            result.append(done[out])
        else:
            result.append(_tensor_constant(out))
    return result


def _tensor_constant(var, ndim=0):
    """The tensor constant of a scalar gradient graph's constant, one object per value
    and rank: every layer of a deep gradient reads the same ``1`` (nothing for the
    merge pass to merge, no new constant per layer)."""
    if not isinstance(var, Constant):
        raise ValueError(f"scalar gradient graph uses {var}, which is neither an input of "
                         "the op nor a constant")
    data = np.asarray(var.data, dtype=var.type.dtype)
    key = (data.dtype, data.tobytes(), ndim)
    found = _GRAD_CONSTANTS.get(key)
    if found is None:
        if len(_GRAD_CONSTANTS) > 4096:         # (a few values in practice)
            _GRAD_CONSTANTS.clear()
        found = _GRAD_CONSTANTS[key] = tb.constant(data, ndim=ndim)
    return found


_GRAD_CONSTANTS: dict = {}


def filled_like(x, value, dtype=None) -> Variable:
    """A tensor shaped like ``x`` full of ``value`` (dtype: given, else x's if float,
    else floatX)."""
    if dtype is None:
        dtype = x.dtype if x.dtype in ts.CONTINUOUS_DTYPES else config.floatX
    return elemwise_op(ts.second)(x, tb.constant(np.asarray(value, dtype=dtype)))


def fit_gradient(x, g):
    """Make an elementwise gradient match its input: broadcast it up to x's shape,
    sum it over the axes where x was broadcast, give it x's dtype; discrete inputs
    get zeros."""
    if not isinstance(g, Variable) or not isinstance(g.type, type(x.type)):
        return g
    if x.dtype in ts.DISCRETE_DTYPES:
        return filled_like(x, 0)
    if g.ndim < x.ndim or any(gs == 1 and xs != 1 for gs, xs in zip(g.type.shape, x.type.shape)):
        g = elemwise_op(ts.second)(x, g)
    summed = tuple(a for a, (gs, xs) in enumerate(zip(g.type.shape, x.type.shape))
                   if xs == 1 and gs != 1)
    if summed:
        g = keep_dims(CAReduce("sum", summed)(g), x.ndim, summed)
    if g.dtype != x.dtype:
        g = tb.cast(g, x.dtype)
    return g


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


class CAReduce(Op, metaclass=InternedOp):
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
        dtype = ts.numpy_output_dtypes(self.fn, (x.dtype,))[0]
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

    def L_op(self, inputs, outputs, output_grads):
        """sum: broadcast back; prod: product of the others (exact with zeros);
        max/min: split equally between the positions that reach the extremum."""
        (x,), (out,), (g,) = inputs, outputs, output_grads
        if x.dtype in ts.DISCRETE_DTYPES or self.kind in ("all", "any"):
            return [filled_like(x, 0)]
        axis = normalize_axis(self.axis, x.ndim)
        g = keep_dims(g, x.ndim, axis)
        fn = elemwise_op
        if self.kind == "sum":
            return [fit_gradient(x, g)]
        out = keep_dims(out, x.ndim, axis)
        if self.kind in ("max", "min"):
            hit = tb.cast(fn(ts.eq)(x, out), x.dtype)
            count = keep_dims(CAReduce("sum", axis)(hit), x.ndim, axis)
            return [fit_gradient(x, fn(ts.mul)(g, fn(ts.true_div)(hit, count)))]
        zero, one = (tb.constant(np.asarray(v, dtype=x.dtype)) for v in (0, 1))
        is_zero = fn(ts.eq)(x, zero)
        x_nz = fn(ts.switch)(is_zero, one, x)
        prod_nz = keep_dims(CAReduce("prod", axis)(x_nz), x.ndim, axis)
        n_zeros = keep_dims(CAReduce("sum", axis)(tb.cast(is_zero, "int64")), x.ndim, axis)
        no_zero = fn(ts.true_div)(prod_nz, x_nz)
        one_zero = fn(ts.switch)(is_zero, prod_nz, zero)
        n0 = tb.constant(np.int64(0))
        n1 = tb.constant(np.int64(1))
        others = fn(ts.switch)(fn(ts.eq)(n_zeros, n0), no_zero,
                               fn(ts.switch)(fn(ts.eq)(n_zeros, n1), one_zero, zero))
        return [fit_gradient(x, fn(ts.mul)(g, others))]


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
