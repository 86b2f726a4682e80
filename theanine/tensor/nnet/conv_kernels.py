"""NumPy kernels for N-d convolution (2d and 3d), by im2col and one BLAS GEMM.

Layout as in Theano: images ``(batch, channels, *spatial)``, filters
``(out_channels, channels // groups, *kernel)``.  Every kernel computes the
*cross-correlation* (the caller flips the filters for a true convolution).

The im2col matrix is a copy of a strided window view (no Python loop over
pixels): rows are output pixels, columns are ``(channel, kernel offset)``.  It is
built for a slice of the batch at a time, so it stays a few MB (inside the cache)
however large the batch.  The forward pass and the weight gradient are one GEMM
per slice; the input gradient is a GEMM followed by col2im, a scatter-add with one
vectorised slice-add per kernel offset.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# target size (elements) of one slice's im2col matrix
_COLS_BUDGET = 1 << 20


def dilated(k: int, d: int) -> int:
    """The span of a kernel of size ``k`` with dilation ``d``."""
    return (k - 1) * d + 1


def pads_for(border_mode, kshape, dilation):
    """``(low, high)`` zero padding per spatial axis for a normalised border mode
    (``'valid'``, ``'full'``, ``'half'``, or a tuple of ints or of pairs)."""
    spans = [dilated(k, d) for k, d in zip(kshape, dilation)]
    if border_mode == "valid":
        return tuple((0, 0) for _ in spans)
    if border_mode == "full":
        return tuple((s - 1, s - 1) for s in spans)
    if border_mode == "half":
        return tuple((s // 2, s // 2) for s in spans)
    return tuple((p, p) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1]))
                 for p in border_mode)


def out_size(size: int, k: int, pad: tuple, stride: int, dilation: int) -> int:
    """Output length of one axis (0 when the kernel does not fit)."""
    return max((size + pad[0] + pad[1] - dilated(k, dilation)) // stride + 1, 0)


def out_sizes(in_shape, kshape, pads, stride, dilation):
    return tuple(out_size(*a) for a in zip(in_shape, kshape, pads, stride, dilation))


def _chunk(batch: int, per_image: int) -> int:
    return max(1, min(batch, _COLS_BUDGET // max(per_image, 1)))


def _pad(x, pads):
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads))


def _im2col(xp, kshape, stride, dilation, outs, groups):
    """``(groups, batch * prod(outs), channels // groups * prod(kshape))`` from the
    padded images ``xp``."""
    nd = len(kshape)
    spans = tuple(dilated(k, d) for k, d in zip(kshape, dilation))
    # channels last, so each row of the matrix is one pixel's (channel, offset) patch
    xt = np.moveaxis(xp, 1, -1)
    win = sliding_window_view(xt, spans, axis=tuple(range(1, nd + 1)))
    pick = ((slice(None),)
            + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(outs, stride))
            + (slice(None),)
            + tuple(slice(None, None, d) for d in dilation))
    win = win[pick]                           # (B, *outs, C, *kshape)
    b, c = xp.shape[0], xp.shape[1]
    rows = b * int(np.prod(outs))
    if groups == 1:
        return win.reshape(1, rows, c * int(np.prod(kshape)))
    cg = c // groups
    win = win.reshape((b,) + tuple(outs) + (groups, cg) + tuple(kshape))
    order = (nd + 1,) + tuple(range(nd + 1)) + tuple(range(nd + 2, 2 * nd + 3))
    return win.transpose(order).reshape(groups, rows, cg * int(np.prod(kshape)))


def _to_rows(g, groups):
    """``(B, F, *outs)`` -> ``(groups, B * prod(outs), F // groups)``."""
    b, f = g.shape[:2]
    outs = g.shape[2:]
    nd = len(outs)
    g = g.reshape((b, groups, f // groups) + outs)
    order = (1, 0) + tuple(range(3, nd + 3)) + (2,)
    return g.transpose(order).reshape(groups, b * int(np.prod(outs)), f // groups)


def _from_rows(rows, b, outs, out):
    """``(groups, B * prod(outs), Fg)`` into ``out`` of shape ``(B, F, *outs)``."""
    groups, _, fg = rows.shape
    nd = len(outs)
    r = rows.reshape((groups, b) + tuple(outs) + (fg,))
    order = (1, 0, nd + 2) + tuple(range(2, nd + 2))
    out[...] = r.transpose(order).reshape(out.shape)


def _gemm(a, b, transpose_a=False):
    """``a[g] @ b[g]`` for each group as 2-d BLAS calls (NumPy's stacked matmul can
    miss BLAS for some stride patterns and is then many times slower)."""
    return np.stack([(ag.T if transpose_a else ag) @ bg for ag, bg in zip(a, b)])


def correlate(x, w, pads, stride, dilation, groups):
    """Cross-correlation of images ``x`` with filters ``w``."""
    kshape = w.shape[2:]
    b, c = x.shape[:2]
    f = w.shape[0]
    dtype = np.result_type(x.dtype, w.dtype)
    outs = out_sizes(x.shape[2:], kshape, pads, stride, dilation)
    y = np.empty((b, f) + outs, dtype=dtype)
    if y.size == 0:
        return y
    if c == 0 or 0 in kshape:
        y[...] = 0
        return y
    wm = w.reshape(groups, f // groups, -1).transpose(0, 2, 1).astype(dtype, copy=False)
    xp = _pad(x, pads)
    step = _chunk(b, int(np.prod(outs)) * c * int(np.prod(kshape)))
    for s in range(0, b, step):
        cols = _im2col(xp[s:s + step], kshape, stride, dilation, outs, groups)
        _from_rows(_gemm(cols, wm), min(step, b - s), outs, y[s:s + step])
    return y


def correlate_grad_weights(x, gy, kshape, pads, stride, dilation, groups):
    """Gradient of ``correlate(x, w)`` in ``w`` (shape ``(F, C // groups, *kshape)``)
    given the output gradient ``gy``."""
    b, c = x.shape[:2]
    f = gy.shape[1]
    outs = gy.shape[2:]
    dtype = np.result_type(x.dtype, gy.dtype)
    gw = np.zeros((groups, f // groups, c // groups * int(np.prod(kshape))), dtype=dtype)
    if gy.size and x.size and 0 not in kshape:
        xp = _pad(x, pads)
        step = _chunk(b, int(np.prod(outs)) * c * int(np.prod(kshape)))
        for s in range(0, b, step):
            cols = _im2col(xp[s:s + step], kshape, stride, dilation, outs, groups)
            rows = _to_rows(gy[s:s + step], groups)
            gw += _gemm(rows, cols, transpose_a=True)
    return gw.reshape((f, c // groups) + tuple(kshape))


def correlate_grad_inputs(w, gy, in_shape, pads, stride, dilation, groups):
    """Gradient of ``correlate(x, w)`` in ``x`` (spatial shape ``in_shape``) given the
    output gradient ``gy``: GEMM to the im2col layout, then col2im."""
    b, f = gy.shape[:2]
    outs = gy.shape[2:]
    kshape = w.shape[2:]
    nd = len(kshape)
    cg = w.shape[1]
    c = cg * groups
    dtype = np.result_type(w.dtype, gy.dtype)
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_shape, pads))
    canvas = np.zeros((b,) + padded + (c,), dtype=dtype)   # channels last, like im2col
    if gy.size and w.size:
        wm = w.reshape(groups, f // groups, -1).astype(dtype, copy=False)
        step = _chunk(b, int(np.prod(outs)) * c * int(np.prod(kshape)))
        for s in range(0, b, step):
            n = min(step, b - s)
            cols = _gemm(_to_rows(gy[s:s + step], groups), wm)
            # (groups, n, *outs, Cg, *kshape) -> (*kshape, n, *outs, groups * Cg)
            cols = cols.reshape((groups, n) + tuple(outs) + (cg,) + tuple(kshape))
            order = (tuple(range(nd + 3, 2 * nd + 3)) + tuple(range(1, nd + 2))
                     + (0, nd + 2))
            cols = np.ascontiguousarray(cols.transpose(order)).reshape(
                tuple(kshape) + (n,) + tuple(outs) + (c,))
            for offs in itertools.product(*map(range, kshape)):
                dst = ((slice(s, s + n),)
                       + tuple(slice(o * d, o * d + (m - 1) * st + 1, st)
                               for o, d, m, st in zip(offs, dilation, outs, stride)))
                canvas[dst] += cols[offs]
    crop = (slice(None),) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_shape, pads))
    return np.ascontiguousarray(np.moveaxis(canvas[crop], -1, 1))


def flip(w):
    """Filters with every spatial axis reversed (a view)."""
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


__all__ = ["dilated", "pads_for", "out_size", "out_sizes", "correlate",
           "correlate_grad_weights", "correlate_grad_inputs", "flip"]
