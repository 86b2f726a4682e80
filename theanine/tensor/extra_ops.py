"""Theano's ``tensor.extra_ops`` and its broadcast-pattern helpers, under their names.

Compositions of existing ops (plus ``Unbroadcast``), so gradients, shapes and every
backend come with them: ``diff``, ``fill_diagonal``, ``fill_diagonal_offset``,
``unravel_index``, ``ravel_multi_index``, ``bincount``, ``addbroadcast``,
``unbroadcast``, ``patternbroadcast``; ``repeat``, ``to_one_hot``, ``cumsum``,
``cumprod``, ``squeeze`` are re-exported from where they live.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.alloc import ARange, alloc, ones_like
from theanine.tensor.construct import repeat
from theanine.tensor.join import concatenate
from theanine.tensor.linalg import cumprod, cumsum
from theanine.tensor.nnet import to_one_hot
from theanine.tensor.reshaping import squeeze
from theanine.tensor.shape import Unbroadcast, shape_i, specify_shape
from theanine.tensor.subtensor import inc_subtensor, set_subtensor


def addbroadcast(x, *axes):
    """Declare ``axes`` of size 1 (checked when the function runs)."""
    x = tb.as_tensor_variable(x)
    axes = {a % x.ndim for a in axes}
    return specify_shape(x, tuple(1 if i in axes else None for i in range(x.ndim)))


def unbroadcast(x, *axes):
    """Forget that ``axes`` have size 1 (the type only; the value is unchanged)."""
    x = tb.as_tensor_variable(x)
    axes = [a % x.ndim for a in axes if x.type.shape[a % x.ndim] == 1]
    return Unbroadcast(axes)(x) if axes else x


def patternbroadcast(x, broadcastable):
    """Make ``x``'s size-1 pattern exactly ``broadcastable`` (one bool per axis)."""
    x = tb.as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise ValueError(f"patternbroadcast: {len(broadcastable)} flags for {x.type}")
    x = unbroadcast(x, *[i for i, b in enumerate(broadcastable) if not b])
    wanted = [i for i, b in enumerate(broadcastable) if b]
    return addbroadcast(x, *wanted) if wanted else x


def diff(x, n=1, axis=-1):
    """``n``-th discrete difference along ``axis`` (``np.diff``)."""
    x = tb.as_tensor_variable(x)
    axis = axis % x.ndim
    for _ in range(int(n)):
        head = (slice(None),) * axis
        x = x[head + (slice(1, None),)] - x[head + (slice(None, -1),)]
    return x


def _arange(n):
    return ARange("int64")(tb.constant(np.int64(0)), n, tb.constant(np.int64(1)))


def fill_diagonal_offset(a, val, offset):
    """``a`` (a matrix) with the diagonal ``offset`` (above the main one when
    positive) set to the scalar ``val``."""
    a = tb.as_tensor_variable(a)
    if a.ndim != 2:
        raise TypeError(f"fill_diagonal_offset: a must be a matrix, got {a.type}")
    rows, cols = shape_i(a, 0), shape_i(a, 1)
    offset = int(offset)
    n = tm.minimum(rows - max(-offset, 0), cols - max(offset, 0))
    idx = _arange(tm.maximum(n, 0))
    return set_subtensor(a[idx + max(-offset, 0), idx + max(offset, 0)], val)


def fill_diagonal(a, val):
    """``a`` with its main diagonal set to the scalar ``val`` (matrices)."""
    return fill_diagonal_offset(a, val, 0)


def unravel_index(indices, dims, order="C"):
    """``np.unravel_index``: the tuple of coordinates of flat ``indices`` in an array
    of shape ``dims`` (a tuple of ints or integer scalars)."""
    if order not in ("C", "F"):
        raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
    rest = tb.as_tensor_variable(indices)
    dims = list(dims)
    coords = []
    for d in (reversed(dims) if order == "C" else dims):
        coords.append(tm.mod(rest, d))
        rest = tm.int_div(rest, d)
    return tuple(reversed(coords)) if order == "C" else tuple(coords)


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """``np.ravel_multi_index``: flat indices of coordinates ``multi_index`` in an array
    of shape ``dims``; ``mode`` 'raise' (no check here: out-of-range gives a wrong
    index, as NumPy would raise), 'wrap' or 'clip'."""
    if order not in ("C", "F"):
        raise ValueError(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
    coords = [tb.as_tensor_variable(c) for c in multi_index]
    if len(coords) != len(dims):
        raise ValueError(f"ravel_multi_index: {len(coords)} coordinates for {len(dims)} dims")
    if mode == "wrap":
        coords = [tm.mod(c, d) for c, d in zip(coords, dims)]
    elif mode == "clip":
        coords = [tm.clip(c, 0, d - 1) for c, d in zip(coords, dims)]
    pairs = list(zip(coords, dims))
    flat = None
    for c, d in (pairs if order == "C" else reversed(pairs)):
        flat = c if flat is None else flat * d + c
    return flat


def bincount(x, weights=None, minlength=None):
    """``np.bincount`` of a vector of non-negative ints: counts (or summed
    ``weights``) per value; the length is ``max(x) + 1`` or ``minlength``, whichever
    is larger, so it is known only when the function runs."""
    x = tb.as_tensor_variable(x)
    if x.ndim != 1 or x.dtype[0] not in "iu":
        raise TypeError(f"bincount: x must be a vector of integers, got {x.type}")
    length = tm.max(concatenate([tb.cast(x, "int64"), tb.constant(np.array([-1]))])) + 1
    if minlength is not None:
        length = tm.maximum(length, minlength)
    if weights is None:
        values = ones_like(x, dtype="int64")
    else:
        values = tb.as_tensor_variable(weights)
        if values.ndim != 1:
            raise TypeError(f"bincount: weights must be a vector, got {values.type}")
    zero = np.zeros((), dtype="float64" if values.dtype[0] in "iub" and weights is not None
                    else values.dtype)
    return inc_subtensor(alloc(zero, length)[x], values)


__all__ = ["addbroadcast", "unbroadcast", "patternbroadcast", "diff", "fill_diagonal",
           "fill_diagonal_offset", "unravel_index", "ravel_multi_index", "bincount", "repeat",
           "to_one_hot", "cumsum", "cumprod", "squeeze"]
