"""``ARange``, ``nonzero`` and the common advanced indices as generated Numba loops.

Covered: integer index vectors on the leading axes (``x[idx]``, ``x[rows, cols]``,
the ``log(p)[arange(n), y]`` of a classifier's cost; the vectors broadcast when one
has length 1), one integer index array of any rank on the first axis (an embedding
lookup ``W[words]`` with a batch x time ``words``: the vector loop on the flattened
index, reshaped) and a boolean mask on the leading axes (``x[x > 0]``), for reading
(``AdvancedSubtensor``) and for writing (``AdvancedIncSubtensor``: increments at a
repeated index accumulate, as ``np.add.at`` does; a set keeps the last write).
Indices are checked against their axis and negative ones wrap, as in NumPy.
Other advanced indices (several index arrays of 2+ dimensions, indices mixed with
slices) raise ``NumbaUnsupported`` and run as call-outs.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname
from theanine.tensor.alloc import ARange
from theanine.tensor.nonzero import Nonzero
from theanine.tensor.subtensor import AdvancedIncSubtensor, AdvancedSubtensor

# (uint64 mixes with int64 into float64 in Numba: those run as call-outs)
_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")
MISMATCH = "shape mismatch: indexing arrays could not be broadcast together"


def arange_source(dtype: str) -> str:
    """``np.arange(start, stop, step, dtype)``: NumPy's length, and its values
    ``start + i * delta`` with ``delta = (start + step) - start`` in ``dtype``."""
    dt = npname(dtype)
    return "\n".join([
        "def arange(start, stop, step):",
        "    if step == 0:",
        "        raise ValueError('arange: step must not be zero')",
        "    n = int(np.ceil((np.float64(stop) - np.float64(start)) / np.float64(step)))",
        "    n = max(n, 0)",
        f"    out = _empty(n, {dt})",
        "    if n == 0:",
        "        return out",
        f"    first = {dt}(start)",
        f"    delta = {dt}({dt}(start + step) - first)",
        "    for i in range(n):",
        "        out[i] = first + i * delta",
        "    return out"]) + "\n"


def _rest_shape(x: str, first: int, ndim: int) -> str:
    return "".join(f"{x}.shape[{d}], " for d in range(first, ndim))


def _vector_index_lines(m: int) -> list[str]:
    """Lines setting ``n``, the broadcast length of the index vectors ``i0..i{m-1}``."""
    lines = ["    n = i0.shape[0]"]
    for j in range(1, m):
        lines += ["    if n == 1:", f"        n = i{j}.shape[0]",
                  f"    elif i{j}.shape[0] != 1 and i{j}.shape[0] != n:",
                  f"        raise IndexError({MISMATCH!r})"]
    return lines


def _position_lines(m: int, indent: str) -> list[str]:
    """Lines setting ``j0..j{m-1}``: step ``k``'s index on each axis, wrapped, checked."""
    lines = []
    for j in range(m):
        lines += [f"{indent}j{j} = i{j}[k if i{j}.shape[0] != 1 else 0]",
                  f"{indent}if j{j} < 0:", f"{indent}    j{j} += x.shape[{j}]",
                  f"{indent}if j{j} < 0 or j{j} >= x.shape[{j}]:",
                  f"{indent}    raise IndexError('index out of bounds for axis {j}')"]
    return lines


def read_source(kind: str, m: int, ndim: int, dtype: str) -> str:
    """``adv(x, i0, ...)``: ``x[i0, ..., i{m-1}]`` (``kind='a'``) or ``x[mask]``
    (``kind='b'``, the mask covering the first ``m`` axes)."""
    rest = _rest_shape("x", m, ndim)
    dt = npname(dtype)
    if kind == "b":
        lines = ["def adv(x, i0):",
                 *_mask_check(m),
                 "    mf = _ascontiguous(i0).reshape(i0.size)",
                 f"    xr = _ascontiguous(x).reshape((i0.size, {rest}))",
                 f"    out = _empty((np.count_nonzero(mf), {rest}), {dt})",
                 "    c = 0",
                 "    for k in range(mf.shape[0]):",
                 "        if mf[k]:",
                 _copy("out[c]", "xr[k]", m < ndim, "            "),
                 "            c += 1",
                 "    return out"]
        return "\n".join(lines) + "\n"
    params = ", ".join(f"i{j}" for j in range(m))
    at = ", ".join(f"j{j}" for j in range(m))
    lines = [f"def adv(x, {params}):", *_vector_index_lines(m),
             f"    out = _empty((n, {rest}), {dt})",
             "    for k in range(n):", *_position_lines(m, "        "),
             _copy("out[k]", f"x[{at}]", m < ndim, "        "),
             "    return out"]
    return "\n".join(lines) + "\n"


def _mask_check(m: int) -> list[str]:
    return [f"    if i0.shape[{d}] != x.shape[{d}]:\n"
            f"        raise IndexError('boolean index did not match the indexed array "
            f"along axis {d}')" for d in range(m)]


def _copy(target: str, value: str, rows: bool, indent: str) -> str:
    return f"{indent}_assign({target}, {value})" if rows else f"{indent}{target} = {value}"


def write_source(kind: str, m: int, ndim: int, y_ndim: int, set_: bool) -> str:
    """``adv_inc(x, y, i0, ...)``: ``x`` with ``x[index]`` set to / incremented by
    ``y`` (broadcast to ``x[index]``'s shape), increments at repeated indices summed."""
    target_ndim = 1 + ndim - m                 # x[index] has the index axis + the rest
    rows = m < ndim
    if y_ndim == target_ndim:                  # y has the index axis: one entry per k
        pick = "y[c if y.shape[0] != 1 else 0]" if kind == "b" else \
            "y[k if y.shape[0] != 1 else 0]"
        check = ["    if y.shape[0] != 1 and y.shape[0] != N:",
                 "        raise ValueError('shape mismatch: value array could not be "
                 "broadcast to the indexing result')"]
    else:                                      # y broadcasts over the index axis
        pick, check = "y", []
    if rows:
        write = f"_assign(o, {pick})" if set_ else f"_assign_add(o, {pick})"
    else:
        write = f"{{o}} = {pick}" if set_ else f"{{o}} = {{o}} + {pick}"
    lines = []
    if kind == "b":
        rest = _rest_shape("x", m, ndim)
        lines = ["def adv_inc(x, y, i0):", *_mask_check(m),
                 "    out = x.copy()",
                 "    mf = _ascontiguous(i0).reshape(i0.size)",
                 f"    orows = out.reshape((i0.size, {rest}))",
                 "    N = np.count_nonzero(mf)", *check,
                 "    c = 0",
                 "    for k in range(mf.shape[0]):",
                 "        if mf[k]:"]
        slot = "orows[k]"
        lines += ["            " + (f"o = {slot}\n            " + write if rows
                                    else write.format(o=slot)),
                  "            c += 1"]
    else:
        params = ", ".join(f"i{j}" for j in range(m))
        at = ", ".join(f"j{j}" for j in range(m))
        slot = f"out[{at}]"
        lines = [f"def adv_inc(x, y, {params}):", *_vector_index_lines(m),
                 "    N = n", *check,
                 "    out = x.copy()",
                 "    for k in range(n):", *_position_lines(m, "        "),
                 "        " + (f"o = {slot}\n        " + write if rows
                              else write.format(o=slot))]
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def _pattern(op, node, first_index_input: int):
    """(kind, m) for an index this module covers, else ``NumbaUnsupported``."""
    idx = op.idx_list
    x = node.inputs[0]
    values = node.inputs[first_index_input:]
    if idx == ("b",) and len(values) == 1 and 0 < values[0].ndim <= x.ndim:
        return "b", values[0].ndim
    if idx and all(e == "a" for e in idx) and len(idx) <= x.ndim and all(
            v.ndim == 1 and v.dtype in _INTS for v in values):
        return "a", len(idx)
    if idx == ("a",) and len(values) == 1 and values[0].ndim > 1 and values[0].dtype in _INTS:
        return "n", 1
    raise NumbaUnsupported(f"{op}: only integer vectors or one boolean mask on the "
                           "leading axes run natively")


def _flattened(src: str, head: str, prologue: list[str], result: str | None) -> str:
    """The vector-index function ``src`` taking an index array ``i_nd`` of any rank:
    ``i0`` is its flattened view, and the result (if given) is reshaped."""
    lines = src.rstrip("\n").split("\n")
    body = lines[1:-1] if result else lines[1:]
    flat = ["    i0 = _ascontiguous(i_nd).reshape(i_nd.size)"]
    tail = [f"    return {result}"] if result else []
    return "\n".join([head, *flat, *prologue, *body, *tail]) + "\n"


def nd_read_source(ndim: int, dtype: str) -> str:
    """``adv(x, i_nd)``: ``x[i_nd]`` for an integer array ``i_nd`` of any rank."""
    rest = _rest_shape("x", 1, ndim)
    return _flattened(read_source("a", 1, ndim, dtype), "def adv(x, i_nd):", [],
                      f"out.reshape(i_nd.shape + ({rest}))")


def nd_write_source(ndim: int, y_ndim: int, set_: bool) -> str:
    """``adv_inc(x, y, i_nd)``: ``x`` with ``x[i_nd]`` set to / incremented by ``y``.
    A ``y`` that reaches into the index axes is broadcast to ``x[i_nd]``'s shape and
    flattened like the index; a smaller one broadcasts over every index entry."""
    if y_ndim <= ndim - 1:
        return _flattened(write_source("a", 1, ndim, y_ndim, set_),
                          "def adv_inc(x, y, i_nd):", [], None)
    rest = _rest_shape("x", 1, ndim)
    prologue = [f"    y = _ascontiguous(np.broadcast_to(y_in, i_nd.shape + ({rest})))"
                f".reshape((i_nd.size, {rest}))"]
    return _flattened(write_source("a", 1, ndim, ndim, set_),
                      "def adv_inc(x, y_in, i_nd):", prologue, None)


def _read(op, node):
    kind, m = _pattern(op, node, 1)
    x = node.inputs[0]
    if kind == "n":
        return njit_source(nd_read_source(x.ndim, node.outputs[0].dtype), "adv")
    return njit_source(read_source(kind, m, x.ndim, node.outputs[0].dtype), "adv")


def _write(op, node):
    kind, m = _pattern(op, node, 2)
    x, y = node.inputs[:2]
    if kind == "n":
        return njit_source(nd_write_source(x.ndim, y.ndim, op.set_instead_of_inc), "adv_inc")
    return njit_source(write_source(kind, m, x.ndim, y.ndim, op.set_instead_of_inc),
                       "adv_inc")


def _arange(op, node):
    if op.dtype not in _INTS + ("float32", "float64"):
        raise NumbaUnsupported(f"{op}")
    if op.dtype in _INTS and any(i.dtype not in _INTS for i in node.inputs):
        raise NumbaUnsupported(f"{op} of float bounds")
    return njit_source(arange_source(op.dtype), "arange")


def nonzero_source(ndim: int) -> str:
    """``nz(x)``: ``np.nonzero(x)``, one int64 vector per axis (C order; NaN counts)."""
    outs = [f"o{d}" for d in range(ndim)]
    lines = ["def nz(x):",
             "    a = _ascontiguous(x).reshape(x.size)",
             "    c = 0",
             "    for i in range(a.shape[0]):",
             "        if a[i] != 0:",
             "            c += 1",
             *[f"    {o} = _empty(c, np.int64)" for o in outs],
             "    k = 0",
             "    for i in range(a.shape[0]):",
             "        if a[i] != 0:",
             "            r = i"]
    for d in range(ndim - 1, 0, -1):
        lines += [f"            o{d}[k] = r % x.shape[{d}]", f"            r = r // x.shape[{d}]"]
    lines += ["            o0[k] = r", "            k += 1",
              f"    return {outs[0] if ndim == 1 else ', '.join(outs)}"]
    return "\n".join(lines) + "\n"


def _nonzero(op, node):
    x = node.inputs[0]
    if x.dtype.startswith("complex"):
        raise NumbaUnsupported(f"{op} of complex values")
    return njit_source(nonzero_source(x.ndim), "nz")


def register(numba_funcify) -> None:
    numba_funcify.register(Nonzero)(_nonzero)
    numba_funcify.register(ARange)(_arange)
    numba_funcify.register(AdvancedSubtensor)(_read)
    numba_funcify.register(AdvancedIncSubtensor)(_write)


__all__ = ["register", "arange_source", "read_source", "write_source"]
