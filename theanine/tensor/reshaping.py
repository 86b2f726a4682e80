"""Axis bookkeeping built from Reshape and DimShuffle: flatten, squeeze, expand_dims.

These compose existing ops (so they need no gradient of their own) and sit
below ``tensor.math`` so that ``tm.flatten`` / ``tm.squeeze`` can re-export them.
"""

from __future__ import annotations

import numpy as np

from theanine.tensor import basic as tb
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.shape import reshape, shape_i, specify_shape


def _axes(axis, ndim, what) -> tuple[int, ...]:
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        axis = (axis,)
    out = []
    for a in axis:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{what}: axis must be an integer or tuple of integers, got {a!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {a} is out of range for {ndim} dims")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis}")
    return tuple(out)


def flatten(x, ndim=1):
    """Keep the first ``ndim - 1`` axes and collapse the rest into one."""
    x = tb.as_tensor_variable(x)
    if not isinstance(ndim, (int, np.integer)) or not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {max(x.ndim, 1)} for {x}, "
                         f"got {ndim!r}")
    kept = [shape_i(x, i) for i in range(ndim - 1)]
    statics = x.type.shape[ndim - 1:]
    if None not in statics:
        rest = int(np.prod(statics, dtype=np.int64))
    else:
        rest = 1
        for i in range(ndim - 1, x.ndim):
            d = x.type.shape[i]
            rest = rest * (d if d is not None else shape_i(x, i))
    return reshape(x, (*kept, rest))


def squeeze(x, axis=None):
    """Drop size-1 axes: all axes of static size 1, or the given ones (checked at run time)."""
    x = tb.as_tensor_variable(x)
    if axis is None:
        axes = tuple(i for i, s in enumerate(x.type.shape) if s == 1)
    else:
        axes = _axes(axis, x.ndim, "squeeze")
        for a in axes:
            if x.type.shape[a] not in (None, 1):
                raise ValueError(f"squeeze: cannot remove axis {a} of {x}: its static size "
                                 f"is {x.type.shape[a]}, not 1")
        if any(x.type.shape[a] is None for a in axes):
            x = specify_shape(x, tuple(1 if i in axes else None for i in range(x.ndim)))
    if not axes:
        return x
    return dimshuffle(x, [i for i in range(x.ndim) if i not in axes])


def expand_dims(x, axis):
    """``np.expand_dims``: insert size-1 axes at positions of the result."""
    x = tb.as_tensor_variable(x)
    if isinstance(axis, (int, np.integer)):
        axis = (axis,)
    out_ndim = x.ndim + len(axis)
    axes = _axes(axis, out_ndim, "expand_dims")
    it = iter(range(x.ndim))
    return dimshuffle(x, ["x" if i in axes else next(it) for i in range(out_ndim)])


def shape_padleft(x, n_ones=1):
    """Add ``n_ones`` broadcastable axes on the left."""
    x = tb.as_tensor_variable(x)
    return dimshuffle(x, ["x"] * n_ones + list(range(x.ndim)))


def shape_padright(x, n_ones=1):
    """Add ``n_ones`` broadcastable axes on the right."""
    x = tb.as_tensor_variable(x)
    return dimshuffle(x, list(range(x.ndim)) + ["x"] * n_ones)


def shape_padaxis(x, axis):
    """Insert one broadcastable axis at ``axis`` (negative counts from the end)."""
    return expand_dims(x, axis)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None)."""
    x = tb.as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(axes)
    if sorted(_axes(axes, x.ndim, "transpose")) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {x.ndim} dims")
    return dimshuffle(x, _axes(axes, x.ndim, "transpose"))


__all__ = ["flatten", "squeeze", "expand_dims", "shape_padleft", "shape_padright",
           "shape_padaxis", "transpose"]
