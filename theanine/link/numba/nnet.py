"""Softmax, LogSoftmax and LogSumExp as generated Numba loops over rows.

The normalised axes are moved last and the array viewed as ``(K, R)`` rows; each
row is shifted by its max (as the NumPy ``perform`` does), so large inputs do
not overflow; the result goes back to the input's layout.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname, transposed
from theanine.link.numba.rows import row_view
from theanine.tensor.elemwise import normalize_axis
from theanine.tensor.nnet import LogSoftmax, LogSumExp, Softmax

_ROW = {
    "softmax": ["e = np.exp(row - m)", "o2[k] = e / e.sum()"],
    "log_softmax": ["shifted = row - m", "o2[k] = shifted - np.log(np.exp(shifted).sum())"],
    "logsumexp": ["out[k] = m + np.log(np.exp(row - m).sum())"],
}


def rows_source(kind, axes, ndim, out_dt) -> str:
    dt = npname(out_dt)
    prologue, kept, inverse = row_view(axes, ndim, out_dt)
    lines = ["def rows(x):", *prologue]
    if kind == "logsumexp":
        lines.append(f"    out = np.empty(K, {dt})")
    else:
        lines.append(f"    o2 = np.empty((K, R), {dt})")
    lines += ["    for k in range(K):", "        row = y2[k]"]
    if kind == "logsumexp":
        lines += ["        if R == 0:", "            out[k] = -np.inf", "            continue"]
    else:
        lines += ["        if R == 0:", "            continue"]
    lines += ["        m = row.max()", "        if not np.isfinite(m):", f"            m = {dt}(0)"]
    lines += ["        " + ln for ln in _ROW[kind]]
    if kind == "logsumexp":
        if not kept:
            lines.append("    return out[0]")
        else:
            shape = "(" + "".join(f"x.shape[{d}], " for d in kept) + ")"
            lines.append(f"    return out.reshape({shape})")
    else:
        lines.append("    o = o2.reshape(y.shape)")
        lines.append(f"    return np.ascontiguousarray({transposed('o', inverse)})")
    return "\n".join(lines) + "\n"


def _axis_op(kind):
    def funcify(op, node):
        x = node.inputs[0]
        if x.ndim == 0:
            raise NumbaUnsupported(f"{op} of a 0-d value")
        if kind == "logsumexp":
            axes = normalize_axis(op.axis, x.ndim)
        else:
            axes = tuple(range(x.ndim)) if op.axis is None else (op.axis % x.ndim,)
        return njit_source(rows_source(kind, tuple(sorted(set(axes))), x.ndim,
                                       node.outputs[0].dtype), "rows")
    return funcify


def register(numba_funcify) -> None:
    numba_funcify.register(Softmax)(_axis_op("softmax"))
    numba_funcify.register(LogSoftmax)(_axis_op("log_softmax"))
    numba_funcify.register(LogSumExp)(_axis_op("logsumexp"))


__all__ = ["register", "rows_source"]
