"""``python_funcify``: how each Op runs as a plain Python callable.

A thunk takes the node's input values and returns its output value (a tuple when
the node has several outputs).  Ops without a registration run their ``perform``.
"""

from __future__ import annotations

from functools import singledispatch

import numpy as np

from theanine.scalar.basic import numpy_output_dtypes
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise, normalize_axis
from theanine.tensor.math import Dot
from theanine.tensor.shape import Shape


@singledispatch
def python_funcify(op, node):
    return perform_thunk(op, node)


def perform_thunk(op, node):
    """A thunk that calls ``op.perform`` with fresh output storage."""
    perform = op.perform
    nout = len(node.outputs)
    if nout == 1:
        def thunk(*args):
            storage = [[None]]
            perform(node, list(args), storage)
            return storage[0][0]
    else:
        def thunk(*args):
            storage = [[None] for _ in range(nout)]
            perform(node, list(args), storage)
            return tuple(s[0] for s in storage)
    return thunk


@python_funcify.register(Elemwise)
def _elemwise(op, node):
    fn = op.scalar_op.nfunc
    if _plain_ufunc(op, node, fn):
        inplace = dict(op.inplace_pattern)
        if not inplace:
            return fn if node.outputs[0].ndim > 0 else _zero_d_thunk(fn, len(node.inputs))
        if inplace.keys() == {0}:
            return _inplace_thunk(fn, inplace[0])
    elif _plain_function(op, node, fn):
        return _function_thunk(op.scalar_op.impl, np.dtype(node.outputs[0].dtype))
    return perform_thunk(op, node)


def _plain_function(op, node, fn) -> bool:
    """A one-output NumPy-level Python function (``sigmoid``, ``softplus``...) giving
    the declared dtype: called directly, without ``perform``'s storage protocol."""
    return (callable(fn) and not isinstance(fn, np.ufunc) and len(node.outputs) == 1
            and getattr(op.scalar_op, "__props__", ()) == () and op.scalar_op.nout == 1
            and node.outputs[0].ndim > 0
            and _ufunc_dtype(fn, tuple(i.dtype for i in node.inputs))
            == node.outputs[0].dtype)


def _function_thunk(fn, dtype):
    asarray, errstate = np.asarray, np.errstate

    def thunk(*args):
        with errstate(all="ignore"):
            return asarray(fn(*args), dtype=dtype)

    return thunk


def _plain_ufunc(op, node, fn) -> bool:
    """A one-output ufunc without parameters on inputs of one dtype, giving the
    declared output dtype: calling it directly is the op."""
    return (isinstance(fn, np.ufunc) and fn.nout == 1 and len(node.outputs) == 1
            and getattr(op.scalar_op, "__props__", ()) == ()
            and all(i.dtype == node.inputs[0].dtype for i in node.inputs)
            and _ufunc_matches(fn, node))


def _inplace_thunk(fn, target: int):
    """The ufunc writing into the destroyed input.  When that input turns out smaller
    than the broadcast result at run time, NumPy refuses ``out=`` and a fresh array
    is made instead (a real shape error then surfaces from that second call)."""
    def thunk(*args):
        try:
            return fn(*args, out=args[target])
        except ValueError:
            return fn(*args)

    return thunk


def _zero_d_thunk(fn, nin):
    """0-d ufunc results are NumPy scalars: wrap them back into 0-d arrays.

    ``inline_ufunc`` lets the code generator write ``asarray(ufunc(...))`` in
    place, saving a Python frame per call on scalar graphs.
    """
    asarray = np.asarray

    def thunk(*args):
        return asarray(fn(*args))

    thunk.inline_ufunc = fn
    return thunk


def _ufunc_matches(fn, node) -> bool:
    """True when calling the ufunc directly yields the declared output dtype."""
    return _ufunc_dtype(fn, tuple(i.dtype for i in node.inputs)) == node.outputs[0].dtype


def _ufunc_dtype(fn, dtypes) -> str | None:
    try:
        return numpy_output_dtypes(fn, tuple(dtypes))[0]
    except TypeError:
        return None


@python_funcify.register(DimShuffle)
def _dimshuffle(op, node):
    """A pure permutation is one ``transpose``; inserting broadcast axes with the
    others kept in order is one basic index (``x[:, None]``): views, without the
    general transpose-and-reshape."""
    kept = [i for i in op.new_order if i != "x"]
    if not op.drop and len(kept) == len(op.new_order):
        order = tuple(kept)

        def permute(x):
            return x.transpose(order)

        return permute
    if op.drop or kept != list(range(op.input_ndim)):
        return op.apply
    index = tuple(None if i == "x" else slice(None) for i in op.new_order)

    def insert_axes(x):
        return x[index]

    return insert_axes


@python_funcify.register(CAReduce)
def _careduce(op, node):
    """The reduction with its axes and result dtype resolved once, at link time."""
    fn = op.fn
    axis = normalize_axis(op.axis, node.inputs[0].ndim)
    dtype = np.dtype(node.outputs[0].dtype)
    asarray = np.asarray
    direct = _REDUCE_UFUNCS.get(op.kind)
    if direct is not None and node.inputs[0].dtype == dtype and dtype.kind == "f":
        # the ufunc's own reduce: what np.sum/np.max call, without their Python wrapper
        red = direct.reduce
        if node.outputs[0].ndim:
            return lambda x: red(x, axis=axis)
        return lambda x: asarray(red(x, axis=axis))

    def reduce(x):
        return asarray(fn(x, axis=axis), dtype=dtype)

    return reduce


_REDUCE_UFUNCS = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


@python_funcify.register(Dot)
def _dot(op, node):
    a, b = node.inputs
    if a.dtype == b.dtype == node.outputs[0].dtype and node.outputs[0].ndim > 0:
        return np.dot
    return perform_thunk(op, node)


@python_funcify.register(Shape)
def _shape(op, node):
    def shape(x):
        return np.array(x.shape, dtype=np.int64)
    return shape
