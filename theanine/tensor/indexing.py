"""Index descriptions shared by the subtensor ops: parsing, layout and lengths.

An index is stored in an op's ``idx_list`` (hashable, so equal indexings merge),
one entry per indexed axis-group, with the symbolic parts passed as inputs:

    int               a constant integer index
    "i"               an integer index read from the next scalar input
    ("s", a, b, c)    a slice; each of a, b, c is None, an int, or "i" (next input)
    "a"               an integer array (advanced index) from the next input
    "b"               a boolean mask from the next input (covers ``mask.ndim`` axes)

``None`` / ``np.newaxis`` and ``Ellipsis`` never reach an op: ``parse_index``
expands the ellipsis and turns new axes into broadcastable axes of ``x``
(a DimShuffle) indexed by a full slice, which has the same NumPy meaning.
"""

from __future__ import annotations

import builtins

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.alloc import INT_DTYPES
from theanine.tensor.elemwise import broadcast_static_shape, dimshuffle

FULL = ("s", None, None, None)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _scalar_part(v, what):
    """A slice bound or integer index: a Python int, or an integer 0-d Variable."""
    if v is None or _is_int(v):
        return None if v is None else int(v)
    if isinstance(v, Variable):
        v = tb.as_tensor_variable(v)
        if v.ndim != 0 or v.dtype not in INT_DTYPES:
            raise TypeError(f"{what} must be an integer scalar, got {v} of type {v.type}")
        if isinstance(v, Constant):
            return int(v.data)
        return v
    raise TypeError(f"{what} must be an integer, None or an integer scalar tensor, "
                    f"got {type(v).__name__} {v!r:.40}")


def _array_part(v, pos):
    """An advanced index: ('a' | 'b', tensor variable)."""
    if not isinstance(v, Variable):
        if isinstance(v, (list, tuple)) and builtins.any(
                isinstance(e, Variable) for e in tb._flatten(v)):
            v = tb.as_tensor_variable(v)
        else:
            arr = np.asarray(v)
            if arr.dtype.kind not in "biu" and arr.size:
                raise IndexError(f"index {pos}: arrays used as indices must be of integer or "
                                 f"boolean type, got dtype {arr.dtype}")
            if arr.dtype.kind not in "biu":
                arr = arr.astype("int64")
            v = tb.constant(arr)
    v = tb.as_tensor_variable(v)
    if v.dtype == "bool":
        if v.ndim == 0:
            raise IndexError(f"index {pos}: a 0-d boolean index is not supported")
        return "b", v
    if v.dtype not in INT_DTYPES:
        raise IndexError(f"index {pos}: arrays used as indices must be of integer or boolean "
                         f"type, got {v} of dtype {v.dtype}")
    if v.ndim == 0:
        return "i", v
    return "a", v


def parse_index(x, index):
    """Turn a NumPy-style index into ``(x2, idx_list, inputs)``.

    ``x2`` is ``x`` with the new axes inserted; ``idx_list`` indexes ``x2``.
    """
    if not isinstance(index, tuple):
        index = (index,)
    entries = []  # (kind, payload) before ellipsis expansion
    for pos, item in enumerate(index):
        if item is None:
            entries.append(("new", None))
        elif item is Ellipsis:
            entries.append(("ellipsis", None))
        elif isinstance(item, slice):
            parts = tuple(_scalar_part(getattr(item, k), f"index {pos}: slice {k}")
                          for k in ("start", "stop", "step"))
            if parts[2] == 0:
                raise ValueError(f"index {pos}: slice step cannot be zero")
            entries.append(("slice", parts))
        elif isinstance(item, (bool, np.bool_)):
            raise IndexError(f"index {pos}: a Python bool is not a valid index; use a "
                             "boolean tensor mask")
        elif _is_int(item):
            entries.append(("int", int(item)))
        elif isinstance(item, Variable) and item.ndim == 0 and item.dtype != "bool":
            entries.append(("int", _scalar_part(item, f"index {pos}")))
        elif isinstance(item, (float, complex, str, bytes, dict, set)):
            raise IndexError(f"index {pos}: only integers, slices, None, Ellipsis and integer "
                             f"or boolean arrays are valid indices, got "
                             f"{type(item).__name__} {item!r:.40}")
        else:
            kind, var = _array_part(item, pos)
            entries.append(("int", var) if kind == "i" else (kind, var))
    n_ell = builtins.sum(1 for k, _ in entries if k == "ellipsis")
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = builtins.sum(p.ndim if k == "b" else 1 for k, p in entries
                        if k not in ("new", "ellipsis"))
    if used > x.ndim:
        raise IndexError(f"too many indices for tensor {x} of {x.ndim} dims "
                         f"({used} were indexed)")
    expanded = []
    for k, p in entries:
        if k == "ellipsis":
            expanded.extend([("slice", (None, None, None))] * (x.ndim - used))
        else:
            expanded.append((k, p))
    if builtins.any(k == "new" for k, _ in expanded):
        pattern, axis = [], 0
        for k, p in expanded:
            if k == "new":
                pattern.append("x")
                continue
            width = p.ndim if k == "b" else 1
            pattern.extend(range(axis, axis + width))
            axis += width
        pattern.extend(range(axis, x.ndim))
        x = dimshuffle(x, pattern)
        x.tag.index_newaxis = True
        expanded = [("slice", (None, None, None)) if k == "new" else (k, p)
                    for k, p in expanded]
    idx_list, inputs = [], []
    for k, p in expanded:
        if k == "int":
            if isinstance(p, int):
                idx_list.append(p)
            else:
                idx_list.append("i")
                inputs.append(p)
        elif k == "slice":
            comps = []
            for c in p:
                if isinstance(c, Variable):
                    comps.append("i")
                    inputs.append(c)
                else:
                    comps.append(c)
            idx_list.append(("s", *comps))
        else:
            idx_list.append(k)
            inputs.append(p)
    return x, tuple(idx_list), inputs


def is_advanced(idx_list) -> bool:
    return builtins.any(e in ("a", "b") for e in idx_list if isinstance(e, str))


def build_index(idx_list, values, integer=int) -> tuple:
    """The NumPy index tuple of ``idx_list`` given the values of its inputs
    (``integer`` makes an integer entry's index: a backend may keep a traced one)."""
    it = iter(values)
    out = []
    for e in idx_list:
        if type(e) is int:
            out.append(e)
        elif e == "i":
            out.append(integer(next(it)))
        elif type(e) is str:
            out.append(next(it))
        else:
            out.append(slice(*[int(next(it)) if c == "i" else c for c in e[1:]]))
    return tuple(out)


def format_index(idx_list) -> str:
    parts = []
    for e in idx_list:
        if type(e) is tuple:
            comps = ["" if c is None else str(c) for c in e[1:]]
            text = ":".join(comps[:2]) + (f":{comps[2]}" if comps[2] else "")
            parts.append(text)
        else:
            parts.append(str(e))
    return ", ".join(parts)


def index_input_count(idx_list) -> int:
    n = 0
    for e in idx_list:
        if type(e) is tuple:
            n += builtins.sum(1 for c in e[1:] if c == "i")
        elif type(e) is str:
            n += 1
    return n


def consumed_axes(idx_list, inputs) -> int:
    """How many axes of ``x`` the index covers (masks cover ``mask.ndim`` axes)."""
    it = iter(inputs)
    n = 0
    for e in idx_list:
        if type(e) is tuple:
            for c in e[1:]:
                if c == "i":
                    next(it)
            n += 1
        elif type(e) is str:
            v = next(it)
            n += v.ndim if e == "b" else 1
        else:
            n += 1
    return n


# -- slice lengths, on Python ints or symbolic scalars ---------------------------


def _py(*vals) -> bool:
    return builtins.all(v is None or isinstance(v, (int, np.integer)) for v in vals)


def _max(a, b):
    return builtins.max(a, b) if _py(a, b) else tm.maximum(a, b)


def _min(a, b):
    return builtins.min(a, b) if _py(a, b) else tm.minimum(a, b)


def _where(cond, a, b):
    if isinstance(cond, (bool, np.bool_)):
        return a if cond else b
    return tm.switch(cond, a, b)


def _lt0(v):
    return v < 0 if _py(v) else tm.lt(v, 0)


def _bound(v, n, default, lo_shift):
    """Python's slice-bound normalisation: negatives count from the end, then clip."""
    if v is None:
        return default
    hi = n if lo_shift == 0 else n - 1
    return _where(_lt0(v), _max(v + n, 0 - lo_shift), _min(v, hi))


def _len_pos(n, start, stop, step):
    s = _bound(start, n, 0, 0)
    e = _bound(stop, n, n, 0)
    return _max((e - s + step - 1) // step, 0)


def _len_neg(n, start, stop, step):
    s = _bound(start, n, n - 1, 1)
    e = _bound(stop, n, -1, 1)
    return _max((s - e - step - 1) // (-step), 0)


def slice_length(n, start, stop, step):
    """``len(range(n)[start:stop:step])`` for ints or symbolic int scalars."""
    step = 1 if step is None else step
    if _py(n, start, stop, step):
        return len(range(*slice(start, stop, step).indices(int(n))))
    if _py(step):
        out = _len_pos(n, start, stop, step) if step > 0 else _len_neg(n, start, stop, step)
    else:
        out = tm.switch(tm.gt(step, 0), _len_pos(n, start, stop, step),
                        _len_neg(n, start, stop, step))
    return tb.cast(out, "int64")


def static_slice_length(n, start, stop, step):
    """The static length of a slice, or None when it depends on run-time values."""
    if n is None or not _py(start, stop, step):
        return None
    return slice_length(n, start, stop, step)


# -- where each axis of the result comes from -----------------------------------


def index_layout(idx_list, x_dims, values, shape_of, mask_count, length_of, broadcast):
    """The result's dims of ``x[index]`` with NumPy placement of advanced indices.

    ``values`` are the index inputs; ``shape_of(v)`` gives an index array's dims,
    ``mask_count(v)`` the number of true entries of a mask, ``length_of(n, a, b, c)``
    a slice length and ``broadcast(list_of_dims)`` the broadcast dims of the
    advanced indices.  The same walk serves static shapes and ``infer_shape``.
    """
    advanced = is_advanced(idx_list)
    it = iter(values)
    parts = []          # ("dims", [...]) for basic parts, ("adv", None) for an advanced one
    adv_shapes = []
    adv_positions = []
    axis = 0
    for e in idx_list:
        if type(e) is tuple:
            comps = [next(it) if c == "i" else c for c in e[1:]]
            parts.append(("dims", [length_of(x_dims[axis], *comps)]))
            axis += 1
        elif e == "a":
            v = next(it)
            adv_shapes.append(shape_of(v))
            adv_positions.append(len(parts))
            parts.append(("adv", None))
            axis += 1
        elif e == "b":
            v = next(it)
            adv_shapes.append((mask_count(v),))
            adv_positions.append(len(parts))
            parts.append(("adv", None))
            axis += v.ndim
        else:
            if e == "i":
                next(it)
            if advanced:
                adv_shapes.append(())
                adv_positions.append(len(parts))
                parts.append(("adv", None))
            axis += 1
    rest = list(x_dims[axis:])
    if not advanced:
        return [d for _, dims in parts for d in dims] + rest
    bshape = list(broadcast(adv_shapes))
    contiguous = adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1))
    out = [] if contiguous else list(bshape)
    placed = not contiguous
    for kind, dims in parts:
        if kind == "adv":
            if not placed:
                out.extend(bshape)
                placed = True
        else:
            out.extend(dims)
    return out + rest


def static_out_shape(x, idx_list, inputs, context) -> tuple:
    """Static shape of ``x[index]`` (None where unknown); errors on known mismatches."""

    def mask_count(v):
        if isinstance(v, Constant):
            return int(np.count_nonzero(v.data))
        return None

    def broadcast(shapes):
        return broadcast_static_shape(shapes, f"{context}: shape mismatch: indexing arrays "
                                      "could not be broadcast together: ")

    def length(n, a, b, c):
        parts = []
        for v in (a, b, c):
            if isinstance(v, Constant):
                v = int(v.data)
            elif isinstance(v, Variable):
                return None
            parts.append(v)
        return static_slice_length(n, *parts)

    it = iter(inputs)
    axis = 0
    for e in idx_list:
        if type(e) is tuple:
            for c in e[1:]:
                if c == "i":
                    next(it)
        elif e == "b":
            mask = next(it)
            for k, ms in enumerate(mask.type.shape):
                xs = x.type.shape[axis + k]
                if ms is not None and xs is not None and ms != xs:
                    raise IndexError(f"{context}: boolean index did not match tensor along "
                                     f"axis {axis + k}; size is {xs} but mask size is {ms}")
            axis += mask.ndim - 1
        elif type(e) is str:
            next(it)
        elif x.type.shape[axis] is not None and not (
                -x.type.shape[axis] <= e < x.type.shape[axis]):
            raise IndexError(f"{context}: index {e} is out of bounds for axis {axis} with "
                             f"size {x.type.shape[axis]} (tensor {x} of static shape "
                             f"{x.type.shape})")
        axis += 1
    return tuple(index_layout(idx_list, x.type.shape, inputs, lambda v: v.type.shape,
                              mask_count, length, broadcast))
