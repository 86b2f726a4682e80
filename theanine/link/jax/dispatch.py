"""``jax_funcify``: how each Op runs inside the JAX backend's traced function.

Every thunk gets the node's input values.  Inside ``jax.jit`` most are tracers;
values that do not depend on the function's inputs (constants, and shapes:
``x.shape`` is static under ``jit``) are concrete, and a node whose inputs are all
concrete runs its NumPy ``perform`` instead: shape arithmetic stays static, which
is what lets ``alloc``, ``reshape`` and slicing take shapes computed in the graph.
An op with no entry here is reported at compile time (``JAXLoweringError``),
naming the op and the user's line that built it.
"""

from __future__ import annotations

from functools import singledispatch

import jax
import jax.numpy as jnp
import numpy as np

from theanine.graph.basic import io_toposort
from theanine.graph.op import _FromFunctionOp
from theanine.graph.utils import user_line
from theanine.ifelse import IfElse
from theanine.link.jax.checks import check_later
from theanine.link.jax.scalar import promoted, scalar_function
from theanine.link.jax.writes import write_box
from theanine.scalar.composite import Composite
from theanine.scan.pushout import SequenceWindow
from theanine.tensor.alloc import Alloc, ARange
from theanine.tensor.basic import MakeVector, ScalarFromTensor, TensorFromScalar, VectorEntry
from theanine.tensor.blas import Gemm, Gemv, Ger
from theanine.tensor.construct import Eye
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise, normalize_axis
from theanine.tensor.fused import FusedReduce
from theanine.tensor.gradient.jacobian import JacobianLoop
from theanine.tensor.gradient.ops import GradientOp
from theanine.tensor.indexing import build_index
from theanine.tensor.join import Join, Split
from theanine.tensor.linalg import CumOp, MatMul, TensorDot
from theanine.tensor.math import Argmax, Dot
from theanine.tensor.nnet import LogSoftmax, LogSumExp, OneHot, Softmax
from theanine.tensor.nonzero import Nonzero
from theanine.tensor.print_op import Print
from theanine.tensor.shape import Reshape, Shape, ShapeI, SpecifyShape, Unbroadcast
from theanine.tensor.sorting import AddAlongAxis, ArgSort, Sort, TakeAlongAxis
from theanine.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    Subtensor,
)


class JAXLoweringError(NotImplementedError):
    """An op of the graph has no JAX form; the message names the op and the user's line."""


class NeedsConcreteValues(JAXLoweringError):
    """Raised while tracing: a node needs a value known only when the function runs (a
    shape computed from the data, a while loop's length, ``nonzero``), which one
    compiled XLA program cannot have.  The linker then runs that function op by op
    (``linker.py``), where every value is concrete."""


def _where(node) -> str:
    trace = getattr(node.tag, "trace", ())
    return f" (built at {user_line(trace)})" if trace else ""


@singledispatch
def jax_funcify(op, node):
    raise JAXLoweringError(f"the JAX backend has no form for {op}{_where(node)}; compile this "
                           "function with the default mode, or write the op as a JAX-able "
                           "graph of other ops")


def _perform(op, node):
    nout = len(node.outputs)

    def run(*args):
        storage = [[None] for _ in range(nout)]
        op.perform(node, [np.asarray(a) for a in args], storage)
        return storage[0][0] if nout == 1 else tuple(cell[0] for cell in storage)

    return run


def thunk_for(op, node):
    """The node's thunk: NumPy ``perform`` when no input is a JAX value (constants and
    shape arithmetic), JAX otherwise (traced values, or device arrays op by op)."""
    traced = jax_funcify(op, node)
    concrete = _perform(op, node)
    device_value = jax.Array          # tracers are ``jax.Array`` instances too

    def thunk(*args):
        if any(isinstance(a, device_value) for a in args):
            return traced(*args)
        return concrete(*args)

    return thunk


def _cast(x, dtype):
    x = jnp.asarray(x)
    return x if x.dtype == dtype else x.astype(dtype)


def _static_ints(values, what, node):
    try:
        return tuple(int(v) for v in values)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise NeedsConcreteValues(f"{what} of {node.op}{_where(node)} depends on the data: "
                                  "one compiled XLA program needs it fixed") from None


def is_traced(*values) -> bool:
    """Whether any value is a tracer (inside ``jit``, ``vmap`` or a loop body)."""
    return any(isinstance(v, jax.core.Tracer) for v in values)


# -- elementwise ---------------------------------------------------------------------

@jax_funcify.register(Elemwise)
def _elemwise(op, node):
    fn = scalar_function(op.scalar_op)
    if fn is None:
        raise JAXLoweringError(f"the JAX backend has no form for the scalar op "
                               f"{op.scalar_op}{_where(node)}")
    in_dtypes = [i.dtype for i in node.inputs]
    out_dtypes = [o.dtype for o in node.outputs]
    sop = op.scalar_op

    to_float = None
    if out_dtypes[0][0] in "fc" and all(d[0] in "iub" for d in in_dtypes) \
            and sop.kernel_name not in ("switch", "cast"):
        to_float = out_dtypes[0]          # NumPy computes float results of ints in it

    def elemwise(*args):
        if to_float is not None:
            args = [_cast(a, to_float) for a in args]
        out = fn(*promoted(sop, list(args), in_dtypes))
        if len(out_dtypes) == 1:
            return _cast(out, out_dtypes[0])
        return tuple(_cast(o, dt) for o, dt in zip(out, out_dtypes))

    return elemwise


_REDUCERS = {"sum": jnp.sum, "prod": jnp.prod, "max": jnp.max, "min": jnp.min,
             "all": jnp.all, "any": jnp.any}


@jax_funcify.register(CAReduce)
def _careduce(op, node):
    fn = _REDUCERS[op.kind]
    axis = normalize_axis(op.axis, node.inputs[0].ndim)
    dtype = node.outputs[0].dtype
    return lambda x: _cast(fn(x, axis=axis), dtype)


@jax_funcify.register(FusedReduce)
def _fused_reduce(op, node):
    fn, reduce = scalar_function(op.scalar_op), _REDUCERS[op.kind]
    ndim = max(i.ndim for i in node.inputs)
    axis = normalize_axis(op.axis, ndim)
    dtype = node.outputs[0].dtype
    return lambda *args: _cast(reduce(fn(*args), axis=axis), dtype)


@jax_funcify.register(DimShuffle)
def _dimshuffle(op, node):
    kept = [i for i in op.new_order if i != "x"]
    order = tuple(kept) + op.drop
    out_ndim = len(op.new_order)

    def dimshuffle(x):
        x = jnp.transpose(x, order) if order != tuple(range(op.input_ndim)) else x
        if op.drop:
            x = x.reshape(x.shape[:len(kept)])
        it = iter(x.shape)
        shape = tuple(1 if i == "x" else next(it) for i in op.new_order)
        return x.reshape(shape) if out_ndim != x.ndim or shape != x.shape else x

    return dimshuffle


# -- products --------------------------------------------------------------------------

def _product(fn):
    def register(op, node):
        dtype = node.outputs[0].dtype
        return lambda a, b: _cast(fn(op, a, b), dtype)
    return register


jax_funcify.register(Dot)(_product(lambda op, a, b: jnp.dot(a, b)))
jax_funcify.register(MatMul)(_product(lambda op, a, b: jnp.matmul(a, b)))
jax_funcify.register(TensorDot)(_product(
    lambda op, a, b: jnp.tensordot(a, b, (list(op.a_axes), list(op.b_axes)))))


@jax_funcify.register(Gemm)
@jax_funcify.register(Gemv)
def _gemm(op, node):
    return lambda z, a, x, y, b: b * z + a * jnp.dot(x, y)


@jax_funcify.register(Ger)
def _ger(op, node):
    return lambda z, a, x, y: z + a * jnp.outer(x, y)


# -- shapes and construction --------------------------------------------------------------

@jax_funcify.register(Shape)
def _shape(op, node):
    return lambda x: np.array(jnp.shape(x), dtype="int64")


@jax_funcify.register(ShapeI)
def _shape_i(op, node):
    return lambda x: np.int64(jnp.shape(x)[op.i])


@jax_funcify.register(Reshape)
def _reshape(op, node):
    return lambda x, shape: jnp.reshape(x, _static_ints(np.asarray(shape), "the new shape",
                                                        node))


@jax_funcify.register(SpecifyShape)
@jax_funcify.register(Unbroadcast)
@jax_funcify.register(GradientOp)
def _identity(op, node):
    return lambda x: x


@jax_funcify.register(Alloc)
def _alloc(op, node):
    dtype = node.outputs[0].dtype

    def alloc(value, *shape):
        return jnp.broadcast_to(_cast(value, dtype), _static_ints(shape, "the shape", node))

    return alloc


@jax_funcify.register(ARange)
def _arange(op, node):
    return lambda start, stop, step: jnp.arange(
        *_static_ints((start, stop, step), "the bounds", node), dtype=op.dtype)


@jax_funcify.register(Eye)
def _eye(op, node):
    return lambda n, m, k: jnp.eye(*_static_ints((n, m, k), "the size", node), dtype=op.dtype)


@jax_funcify.register(MakeVector)
def _make_vector(op, node):
    return lambda *xs: jnp.stack([_cast(x, op.dtype) for x in xs])


@jax_funcify.register(TensorFromScalar)
@jax_funcify.register(ScalarFromTensor)
def _scalar_box(op, node):
    dtype = node.outputs[0].type.dtype
    return lambda x: _cast(x, dtype)


@jax_funcify.register(VectorEntry)
def _vector_entry(op, node):
    return lambda v: v[op.i]


@jax_funcify.register(Join)
def _join(op, node):
    return lambda *xs: jnp.concatenate(xs, axis=op.axis)


@jax_funcify.register(Split)
def _split(op, node):
    def split(x, sizes):
        sizes = _static_ints(np.asarray(sizes), "the split sizes", node)
        return tuple(jnp.split(x, np.cumsum(sizes)[:-1].tolist(), axis=op.axis))
    return split


# -- indexing -----------------------------------------------------------------------------

def _integer_index(value):
    """An integer entry of an index: a traced one stays traced (XLA reads it as a
    dynamic index; ``check_bounds`` checks its range after the call)."""
    return value if is_traced(value) else int(value)


def _index(op, node, values, x=None):
    try:
        index = build_index(op.idx_list, values, _integer_index)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise NeedsConcreteValues(f"a slice bound of {op}{_where(node)} depends on the "
                                  "data: one compiled XLA program needs it fixed") from None
    if x is not None:
        check_bounds(jnp.shape(x), index)
    return index


def check_bounds(shape, index) -> None:
    """NumPy raises IndexError on an integer index out of range, where XLA would
    clamp it and give a wrong value: a static or concrete index is checked here, a
    traced integer array after the call (``checks.check_later``)."""
    axis = 0
    for entry in index:
        if entry is None:
            continue
        if isinstance(entry, slice):
            axis += 1
            continue
        if isinstance(entry, (int, np.integer)):
            _raise_out_of_bounds(np.asarray(entry), shape, axis)
            axis += 1
            continue
        dtype = getattr(entry, "dtype", None)
        if dtype is None:               # (an Ellipsis or another object: not checked)
            axis += 1
            continue
        if np.dtype(dtype).kind == "b":     # a mask covers as many axes as it has
            axis += entry.ndim
            continue
        if isinstance(entry, jax.core.Tracer):
            size = shape[axis]
            check_later(jnp.all((entry >= -size) & (entry < size)))
        else:
            _raise_out_of_bounds(np.asarray(entry), shape, axis)
        axis += 1


def checked_after_the_call(node) -> bool:
    """Whether ``node`` may add a check read after the call (``check_later``): an
    integer-array index, or an integer power (NumPy refuses a negative exponent).  A
    function with such a node donates no buffer, so that a failed check leaves every
    shared value as it was."""
    op = node.op
    if isinstance(op, (AdvancedSubtensor, AdvancedIncSubtensor, TakeAlongAxis)):
        return True
    if isinstance(op, (Subtensor, IncSubtensor)):
        return "i" in op.idx_list                   # an integer entry given by a value
    inner = getattr(op, "fgraph", None)             # a loop body checks its nodes too
    if inner is not None:
        return any(checked_after_the_call(n) for n in inner.apply_nodes)
    if isinstance(op, JacobianLoop):                # and a Jacobian's inner graphs
        nodes = io_toposort([*op._free, op._cotangent], [op.expression, *op.wrt, *op._vjps])
        return any(checked_after_the_call(n) for n in nodes)
    return isinstance(op, Elemwise) and _has_pow(op.scalar_op)


def _has_pow(scalar_op) -> bool:
    if isinstance(scalar_op, Composite):
        return any(_has_pow(op) for op, _, _ in scalar_op.code)
    return scalar_op.kernel_name == "pow"


def _raise_out_of_bounds(values, shape, axis) -> None:
    size = shape[axis]
    bad = values[(values < -size) | (values >= size)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with "
                         f"size {size}")


@jax_funcify.register(Subtensor)
@jax_funcify.register(AdvancedSubtensor)
@jax_funcify.register(SequenceWindow)
def _read(op, node):
    if isinstance(op, SequenceWindow):
        def window(seq, n):
            n = _static_ints((n,), "n_steps", node)[0]
            op.check(jnp.shape(seq)[0], n)          # (static: the loop's error at once)
            return seq[op.offset:op.offset + n]
        return window
    def read(x, *values):
        try:
            return jnp.asarray(x)[_index(op, node, values, x)]
        except jax.errors.NonConcreteBooleanIndexError:
            raise NeedsConcreteValues(f"the shape of {op}{_where(node)} depends on the data "
                                      "(a boolean mask)") from None

    return read


@jax_funcify.register(IncSubtensor)
@jax_funcify.register(AdvancedIncSubtensor)
def _write(op, node):
    def write(x, y, *values):
        index = _index(op, node, values, x)
        if isinstance(op, IncSubtensor):        # a static box: no scatter (writes.py)
            boxed = write_box(x, y, index, op.set_instead_of_inc)
            if boxed is not None:
                return boxed
        at = jnp.asarray(x).at[index]
        return at.set(y) if op.set_instead_of_inc else at.add(y)
    return write


# -- reductions along an axis, sorting, nnet ------------------------------------------------

@jax_funcify.register(Argmax)
def _argmax(op, node):
    fn = jnp.argmax if op.kind == "max" else jnp.argmin
    return lambda x: _cast(fn(x, axis=op.axis), "int64")


@jax_funcify.register(CumOp)
def _cumop(op, node):
    fn = jnp.cumsum if op.mode == "add" else jnp.cumprod
    dtype = node.outputs[0].dtype
    return lambda x: _cast(fn(x, axis=op.axis), dtype)


@jax_funcify.register(Sort)
def _sort(op, node):
    return lambda x: jnp.sort(x, axis=op.axis, stable=True)


@jax_funcify.register(ArgSort)
def _argsort(op, node):
    return lambda x: _cast(jnp.argsort(x, axis=op.axis, stable=True), "int64")


@jax_funcify.register(TakeAlongAxis)
def _take_along(op, node):
    def take_along(x, idx):
        size = jnp.size(x) if op.axis is None else \
            jnp.shape(x)[normalize_axis(op.axis, jnp.ndim(x))[0]]
        check_bounds((size,), (idx,))
        return jnp.take_along_axis(x, idx, axis=op.axis)
    return take_along


@jax_funcify.register(AddAlongAxis)
def _add_along(op, node):
    dtype = node.outputs[0].dtype

    def add_along(like, idx, values):
        grid = list(jnp.indices(idx.shape, sparse=True))
        grid[op.axis] = idx
        return jnp.zeros(jnp.shape(like), dtype=dtype).at[tuple(grid)].add(values)

    return add_along


@jax_funcify.register(Softmax)
def _softmax(op, node):
    dtype = node.outputs[0].dtype
    return lambda x: jax.nn.softmax(_cast(x, dtype), axis=op.axis)


@jax_funcify.register(LogSoftmax)
def _log_softmax(op, node):
    dtype = node.outputs[0].dtype
    return lambda x: jax.nn.log_softmax(_cast(x, dtype), axis=op.axis)


@jax_funcify.register(LogSumExp)
def _logsumexp(op, node):
    dtype = node.outputs[0].dtype
    axis = normalize_axis(op.axis, node.inputs[0].ndim)
    return lambda x: jax.scipy.special.logsumexp(_cast(x, dtype), axis=axis)


@jax_funcify.register(OneHot)
def _one_hot(op, node):
    def one_hot(y, n):
        n = _static_ints((n,), "the number of classes", node)[0]
        return (y[..., None] == jnp.arange(n)).astype(op.dtype)
    return one_hot


# -- Python functions (``as_op``) ----------------------------------------------------------

@jax_funcify.register(_FromFunctionOp)
def _from_function(op, node):
    """An ``as_op`` function runs on the host through ``jax.pure_callback`` (inside a
    ``lax.cond`` branch it runs only when that branch is taken)."""
    shapes = [getattr(o.type, "shape", None) for o in node.outputs]
    if any(s is None or None in s for s in shapes):
        raise JAXLoweringError(f"{op}{_where(node)}: the JAX backend calls back into Python "
                               "only for outputs of fixed static shape; give as_op output "
                               "types with a fixed shape")
    dtypes = [o.type.dtype for o in node.outputs]
    structs = [jax.ShapeDtypeStruct(s, dt) for s, dt in zip(shapes, dtypes)]
    single = len(structs) == 1

    def host(*values):
        outs = op.fn(*[np.asarray(v) for v in values])
        outs = [outs] if single else list(outs)
        arrays = tuple(np.asarray(o, dtype=dt) for o, dt in zip(outs, dtypes))
        return arrays[0] if single else arrays

    return lambda *args: jax.pure_callback(host, structs[0] if single else tuple(structs),
                                           *args)


@jax_funcify.register(Print)
def _print(op, node):
    """Prints from the device when the value is computed (``jax.debug.callback``)."""
    def host(value):
        op.perform(node, [np.asarray(value)], [[None]])

    def print_op(x):
        jax.debug.callback(host, x)
        return x

    return print_op


# -- control flow ------------------------------------------------------------------------

@jax_funcify.register(IfElse)
def _ifelse(op, node):
    """Eager form (both branches given): a select.  The JAX emitter emits lazy
    ``IfElse`` nodes as ``lax.cond`` blocks instead (``linker.py``)."""
    n = op.n_outs

    def ifelse(cond, *branches):
        outs = [jnp.where(cond, t, e) for t, e in zip(branches[:n], branches[n:])]
        return outs[0] if n == 1 else tuple(outs)

    return ifelse


@jax_funcify.register(Nonzero)
def _nonzero(op, node):
    def nonzero(x):
        if is_traced(x):
            raise NeedsConcreteValues(f"the length of {op}{_where(node)} depends on the data")
        out = tuple(i.astype("int64") for i in jnp.nonzero(x))
        return out[0] if len(out) == 1 else out

    return nonzero


__all__ = ["JAXLoweringError", "NeedsConcreteValues", "is_traced", "jax_funcify",
           "thunk_for"]
