"""Ops that work along one axis as generated Numba loops over rows: ``Argmax``
(and argmin), ``CumOp`` (cumsum, cumprod), ``Sort`` and ``ArgSort``.

The axis is moved last and the input viewed as ``(K, R)`` rows (``rows.py``);
each row is scanned in order, so the results are NumPy's: the first maximum (a
NaN counts as the maximum), sequential cumulative sums, stable sorts with NaN
last.  The result goes back to the input's layout.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname, transposed
from theanine.link.numba.rows import row_view
from theanine.tensor.linalg import CumOp
from theanine.tensor.math import Argmax
from theanine.tensor.sorting import ArgSort, Sort


def _kept_shape(x: str, kept: list) -> str:
    return "(" + "".join(f"{x}.shape[{d}], " for d in kept) + ")"


def argx_source(kind: str, axis, ndim: int) -> str:
    """``argx(x)``: the index of the first max (``kind='max'``) or min along ``axis``
    (None: of the flattened array), as int64."""
    axes = tuple(range(ndim)) if axis is None else (axis,)
    prologue, kept, _ = row_view(axes, ndim)
    better = "v > best" if kind == "max" else "v < best"
    lines = ["def argx(x):", *prologue,
             "    if R == 0:",
             f"        raise ValueError('attempt to get arg{kind} of an empty sequence')",
             "    out = _empty(K, np.int64)",
             "    for k in range(K):",
             "        best = y2[k, 0]",
             "        at = 0",
             "        for r in range(1, R):",
             "            v = y2[k, r]",
             f"            if best == best and ({better} or v != v):",
             "                best = v",
             "                at = r",
             "        out[k] = at"]
    lines.append("    return out[0]" if not kept else
                 f"    return out.reshape({_kept_shape('x', kept)})")
    return "\n".join(lines) + "\n"


def cum_source(mode: str, axis, ndim: int, out_dt: str) -> str:
    """``cum(x)``: cumulative sum or product along ``axis`` (None: flattened)."""
    axes = tuple(range(ndim)) if axis is None else (axis,)
    prologue, _, inverse = row_view(axes, ndim, out_dt)
    op = "+" if mode == "add" else "*"
    lines = ["def cum(x):", *prologue,
             "    for k in range(K):",
             "        for r in range(1, R):",
             f"            y2[k, r] = y2[k, r - 1] {op} y2[k, r]"]
    if axis is None:
        lines.append("    return y2.reshape(K * R)")
    else:
        lines += ["    o = y2.reshape(y.shape)",
                  f"    return _ascontiguous({transposed('o', inverse)})"]
    return "\n".join(lines) + "\n"


def sort_source(axis: int, ndim: int, out_dt: str, values: bool) -> str:
    """``srt(x)``: a stable sort (``values``) or argsort along ``axis``."""
    prologue, _, inverse = row_view((axis,), ndim)
    lines = ["def srt(x):", *prologue,
             f"    o2 = _empty((K, R), {npname(out_dt)})",
             "    for k in range(K):",
             "        order = np.argsort(y2[k], kind='mergesort')",
             "        o2[k] = y2[k][order]" if values else "        o2[k] = order",
             "    o = o2.reshape(y.shape)",
             f"    return _ascontiguous({transposed('o', inverse)})"]
    return "\n".join(lines) + "\n"


def _check(op, x):
    if x.ndim == 0:
        raise NumbaUnsupported(f"{op} of a 0-d value")
    if x.dtype.startswith("complex"):
        raise NumbaUnsupported(f"{op} of complex values")


def _argmax(op, node):
    x = node.inputs[0]
    _check(op, x)
    return njit_source(argx_source(op.kind, op.axis, x.ndim), "argx")


def _cum(op, node):
    x = node.inputs[0]
    _check(op, x)
    return njit_source(cum_source(op.mode, op.axis, x.ndim, node.outputs[0].dtype), "cum")


def _sorting(values: bool):
    def funcify(op, node):
        x = node.inputs[0]
        _check(op, x)
        return njit_source(sort_source(op.axis, x.ndim, node.outputs[0].dtype, values), "srt")
    return funcify


def register(numba_funcify) -> None:
    numba_funcify.register(Argmax)(_argmax)
    numba_funcify.register(CumOp)(_cum)
    numba_funcify.register(Sort)(_sorting(values=True))
    numba_funcify.register(ArgSort)(_sorting(values=False))


__all__ = ["register", "argx_source", "cum_source", "sort_source"]
