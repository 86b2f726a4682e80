"""Softmax, LogSoftmax and LogSumExp as generated Numba loops over rows.

The normalised axes are moved last and the array viewed as ``(K, R)`` rows; each
row is shifted by its max (as the NumPy ``perform`` does), so large inputs do
not overflow; the result goes back to the input's layout.  ``OneHot`` is a loop
over the flattened labels.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname, transposed
from theanine.link.numba.rows import row_view
from theanine.tensor.elemwise import normalize_axis
from theanine.tensor.nnet import LogSoftmax, LogSumExp, Softmax
from theanine.tensor.nnet.basic import OneHot

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
        lines.append(f"    out = _empty(K, {dt})")
    else:
        lines.append(f"    o2 = _empty((K, R), {dt})")
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
        lines.append(f"    return _ascontiguous({transposed('o', inverse)})")
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


def one_hot_source(y_ndim: int, dtype: str) -> str:
    """``onehot(y, n)``: ``out[..., k] = (y[...] == k)``; labels outside ``[0, n)`` raise."""
    dt = npname(dtype)
    dims = "".join(f"y.shape[{d}], " for d in range(y_ndim))
    flat = "_ascontiguous(y).reshape(y.size)" if y_ndim else "np.full(1, y)"
    return "\n".join([
        "def onehot(y, n):",
        "    c = int(n)",
        f"    labels = {flat}",
        f"    out = np.zeros((labels.shape[0], c), {dt})",
        "    for i in range(labels.shape[0]):",
        "        k = labels[i]",
        "        if k < 0 or k >= c:",
        "            raise ValueError('one_hot: a label lies outside [0, n)')",
        "        out[i, k] = 1",
        f"    return out.reshape(({dims}c))",
    ]) + "\n"


def _one_hot(op, node):
    return njit_source(one_hot_source(node.inputs[0].ndim, op.dtype), "onehot")


def register(numba_funcify) -> None:
    numba_funcify.register(OneHot)(_one_hot)
    numba_funcify.register(Softmax)(_axis_op("softmax"))
    numba_funcify.register(LogSoftmax)(_axis_op("log_softmax"))
    numba_funcify.register(LogSumExp)(_axis_op("logsumexp"))


__all__ = ["one_hot_source", "register", "rows_source"]
