"""Plain-loop NumPy references for pooling, written from the rules, not the kernels.

Window ``j`` of a pooled axis covers cells ``[j*stride, j*stride + ws)`` of the
zero-padded axis, cut at its end.  With ``ignore_border=True`` only whole windows
count; with False, window ``j > 0`` exists while the window before it stops short of
the last cell (and starts inside the axis).  ``max``/``sum``/``average_exc_pad``
look at input cells only, ``average_inc_pad`` averages over the cut window with
its padding zeros.
"""

from __future__ import annotations

import itertools

import numpy as np


def n_windows(size, ws, stride, pad, ignore_border):
    total = size + 2 * pad
    j = 0
    while True:
        start = j * stride
        if ignore_border:
            ok = start + ws <= total
        else:
            ok = start < total and (j == 0 or (j - 1) * stride + ws < total)
        if not ok:
            return j
        j += 1


def windows(shape, ws, stride, pad, ignore_border, include_pad):
    """Per pooled axis, the list of (start, stop) in *input* coordinates (with
    padding when ``include_pad``: then coordinates may be negative or past the end)."""
    per_axis = []
    for v, w, s, p in zip(shape, ws, stride, pad):
        ranges = []
        for j in range(n_windows(v, w, s, p, ignore_border)):
            start, stop = j * s, min(j * s + w, v + 2 * p)
            if not include_pad:
                start, stop = max(start, p), min(stop, v + p)
            ranges.append((start - p, stop - p))
        per_axis.append(ranges)
    return per_axis


def ref_pool(x, ws, stride=None, pad=None, ignore_border=False, mode="max"):
    nd = len(ws)
    stride = tuple(ws) if stride is None else tuple(stride)
    pad = (0,) * nd if pad is None else tuple(pad)
    lead, pooled = x.shape[:-nd], x.shape[-nd:]
    wins = windows(pooled, ws, stride, pad, ignore_border, mode == "average_inc_pad")
    out = np.zeros(lead + tuple(len(w) for w in wins), dtype=x.dtype)
    for k in np.ndindex(*lead):
        for r in itertools.product(*[range(len(w)) for w in wins]):
            bounds = [wins[i][r[i]] for i in range(nd)]
            if mode == "average_inc_pad":
                size = np.prod([b - a for a, b in bounds])
                real = tuple(slice(max(a, 0), max(min(b, v), 0))
                             for (a, b), v in zip(bounds, pooled))
                out[k + r] = np.sum(x[k][real], dtype="float64") / size
                continue
            region = x[k][tuple(slice(a, b) for a, b in bounds)]
            if mode == "max":
                out[k + r] = region.max()
            elif mode == "sum":
                out[k + r] = region.sum()
            else:
                out[k + r] = np.mean(region, dtype="float64")
    return out


def ref_max_pool_grad(x, gz, ws, stride=None, pad=None, ignore_border=False):
    """Theano's rule: every cell equal to its window's max gets the window's gz."""
    nd = len(ws)
    stride = tuple(ws) if stride is None else tuple(stride)
    pad = (0,) * nd if pad is None else tuple(pad)
    lead, pooled = x.shape[:-nd], x.shape[-nd:]
    wins = windows(pooled, ws, stride, pad, ignore_border, False)
    gx = np.zeros_like(x)
    for k in np.ndindex(*lead):
        for r in itertools.product(*[range(len(w)) for w in wins]):
            cells = [range(*wins[i][r[i]]) for i in range(nd)]
            best = max(x[k][c] for c in itertools.product(*cells))
            for c in itertools.product(*cells):
                if x[k][c] == best:
                    gx[k + c] += gz[k + r]
    return gx


def ref_same_size(x, patch):
    """Max of each whole patch kept in place (ties all kept), zeros elsewhere."""
    out = np.zeros_like(x)
    rows, cols = x.shape[-2] // patch[0], x.shape[-1] // patch[1]
    for k in np.ndindex(*x.shape[:-2]):
        for i, j in itertools.product(range(rows), range(cols)):
            sl = (slice(i * patch[0], (i + 1) * patch[0]), slice(j * patch[1], (j + 1) * patch[1]))
            block = x[k][sl]
            out[k][sl] = np.where(block == block.max(), block, 0)
    return out


def distinct(rng, shape, dtype, spacing=0.05):
    """Values at least ``spacing`` apart (no ties, and finite differences do not
    change which cell is a window's max)."""
    size = int(np.prod(shape))
    vals = (rng.permutation(size) - size / 2) * spacing
    return vals.reshape(shape).astype(dtype)


def ref_linear_pool_grad(x, gz, ws, stride=None, pad=None, ignore_border=False, mode="sum"):
    """Gradient of a sum/average pooling as ``J^T gz``, ``J``'s columns being the
    pooling of each unit input (the pooling is linear in x)."""
    gx = np.zeros(x.shape, dtype="float64")
    for c in np.ndindex(*x.shape):
        unit = np.zeros(x.shape, dtype="float64")
        unit[c] = 1.0
        gx[c] = np.sum(ref_pool(unit, ws, stride, pad, ignore_border, mode) * gz)
    return gx.astype(x.dtype)


def ref_max_grad_grad(x, ggx, ws, stride=None, pad=None, ignore_border=False):
    """Per window: the sum of ``ggx`` over the cells equal to the window's max."""
    nd = len(ws)
    stride = tuple(ws) if stride is None else tuple(stride)
    pad = (0,) * nd if pad is None else tuple(pad)
    lead, pooled = x.shape[:-nd], x.shape[-nd:]
    wins = windows(pooled, ws, stride, pad, ignore_border, False)
    out = np.zeros(lead + tuple(len(w) for w in wins), dtype=x.dtype)
    for k in np.ndindex(*lead):
        for r in itertools.product(*[range(len(w)) for w in wins]):
            cells = list(itertools.product(*[range(*wins[i][r[i]]) for i in range(nd)]))
            best = max(x[k][c] for c in cells)
            out[k + r] = sum(ggx[k][c] for c in cells if x[k][c] == best)
    return out
