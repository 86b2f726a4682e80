"""NumPy kernels for N-d convolution (2d and 3d), by im2col and BLAS GEMM.

Layout as in Theano: images ``(batch, channels, *spatial)``, filters
``(out_channels, channels // groups, *kernel)``.  Every kernel computes the
*cross-correlation* (the caller flips the filters for a true convolution).

The images are first laid out batch-last, ``(groups, channels // groups,
*padded, batch)``; the (transposed) im2col matrix, rows ``(channel, kernel
offset)`` and columns ``(output pixel, image)``, is then one strided copy per
kernel offset whose inner runs are a slice of the batch (no Python loop over
pixels).  It is built for a slice of the batch at a time, so it stays a few MB
however large the batch.  The forward pass and the weight gradient are one 2-d GEMM
per slice and group (the filters need no reordering); the input gradient is a GEMM
followed by col2im, one strided ``+=`` per kernel offset on a batch-last canvas.
Unshared filters (one per output pixel) contract the same matrix with ``einsum``.
"""

from __future__ import annotations

import itertools

import numpy as np

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


def _batch_last(x, pads, groups):
    """Images ``(B, C, *S)`` as ``(groups, C // groups, *padded, B)``, zero padded:
    the batch innermost, so every copy below moves runs of a batch slice."""
    b, c = x.shape[:2]
    spatial = x.shape[2:]
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
    fill = np.zeros if any(lo or hi for lo, hi in pads) else np.empty
    out = fill((groups, c // groups) + padded + (b,), dtype=x.dtype)
    inner = (slice(None),) * 2 + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, pads))
    out[inner] = np.moveaxis(x.reshape((b, groups, c // groups) + spatial), 0, -1)
    return out


def _taps(kshape, stride, dilation, outs):
    """``(kernel offset, slices of the padded image)``: the cells each kernel offset
    meets, one per output pixel."""
    for offs in itertools.product(*map(range, kshape)):
        yield offs, tuple(slice(o * d, o * d + (m - 1) * st + 1, st)
                          for o, d, m, st in zip(offs, dilation, outs, stride))


def _im2col(xb, kshape, stride, dilation, outs, batch):
    """The transposed im2col matrix ``(groups, Cg * prod(kshape), prod(outs) * n)``
    of the images ``xb`` (``(groups, Cg, *padded, B)``) for the batch slice
    ``batch``: one copy per kernel offset."""
    groups, cg = xb.shape[:2]
    n = batch.stop - batch.start
    cols = np.empty((groups, cg) + tuple(kshape) + tuple(outs) + (n,), dtype=xb.dtype)
    lead = (slice(None),) * 2
    for offs, cells in _taps(kshape, stride, dilation, outs):
        cols[lead + offs] = xb[lead + cells + (batch,)]
    return cols.reshape(groups, cg * int(np.prod(kshape)), -1)


def _to_cols(g, groups):
    """``(n, F, *outs)`` -> ``(groups, F // groups, prod(outs) * n)``."""
    n, f = g.shape[:2]
    g = np.moveaxis(g.reshape((n, groups, f // groups) + g.shape[2:]), 0, -1)
    return g.reshape(groups, f // groups, -1)


def _from_cols(out, f, outs, n):
    """``(groups, Fg, prod(outs) * n)`` -> ``(n, F, *outs)`` (a view)."""
    return np.moveaxis(out.reshape((f,) + tuple(outs) + (n,)), -1, 0)


def _gemm(a, b, transpose_a=False, transpose_b=False):
    """``a[g] @ b[g]`` for each group as 2-d BLAS calls (NumPy's stacked matmul can
    miss BLAS for some stride patterns and is then many times slower)."""
    return np.stack([(ag.T if transpose_a else ag) @ (bg.T if transpose_b else bg)
                     for ag, bg in zip(a, b)])


def _unshared(w, groups, outs, dtype):
    """Unshared filters ``(F, *outs, Cg, *K)`` as ``(groups, Fg, prod(outs), Cg * prod(K))``."""
    f = w.shape[0]
    return w.reshape(groups, f // groups, int(np.prod(outs)), -1).astype(dtype, copy=False)


def _slices(b, per_image):
    step = _chunk(b, per_image)
    return [slice(s, min(s + step, b)) for s in range(0, b, step)]


def correlate(x, w, pads, stride, dilation, groups, unshared=False):
    """Cross-correlation of images ``x`` with filters ``w`` (``(F, Cg, *K)``, or
    ``(F, *outs, Cg, *K)`` for unshared filters: one filter per output pixel)."""
    nd = x.ndim - 2
    kshape = w.shape[w.ndim - nd:]
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
    wm = _unshared(w, groups, outs, dtype) if unshared \
        else w.reshape(groups, f // groups, -1).astype(dtype, copy=False)
    xb = _batch_last(x.astype(dtype, copy=False), pads, groups)
    for batch in _slices(b, int(np.prod(outs)) * c * int(np.prod(kshape))):
        n = batch.stop - batch.start
        cols = _im2col(xb, kshape, stride, dilation, outs, batch)
        if unshared:
            cols = cols.reshape(cols.shape[:2] + (-1, n))
            out = np.einsum("gcpn,gfpc->gfpn", cols, wm, optimize=True)
        else:
            out = _gemm(wm, cols)
        y[batch] = _from_cols(out, f, outs, n)
    return y


def correlate_grad_weights(x, gy, kshape, pads, stride, dilation, groups, unshared=False):
    """Gradient of ``correlate(x, w)`` in ``w`` (shape ``(F, C // groups, *kshape)``,
    or ``(F, *outs, C // groups, *kshape)`` when unshared) given the output
    gradient ``gy``."""
    b, c = x.shape[:2]
    f = gy.shape[1]
    outs = gy.shape[2:]
    npix = int(np.prod(outs)) if unshared else 1
    dtype = np.result_type(x.dtype, gy.dtype)
    gw = np.zeros((groups, f // groups, npix, c // groups * int(np.prod(kshape))), dtype=dtype)
    if gy.size and x.size and 0 not in kshape:
        xb = _batch_last(x.astype(dtype, copy=False), pads, groups)
        gy = gy.astype(dtype, copy=False)
        for batch in _slices(b, int(np.prod(outs)) * c * int(np.prod(kshape))):
            n = batch.stop - batch.start
            cols = _im2col(xb, kshape, stride, dilation, outs, batch)
            rows = _to_cols(gy[batch], groups)
            if unshared:
                gw += np.einsum("gfpn,gcpn->gfpc", rows.reshape(rows.shape[:2] + (-1, n)),
                                cols.reshape(cols.shape[:2] + (-1, n)), optimize=True)
            else:
                gw[:, :, 0] += _gemm(rows, cols, transpose_b=True)
    lead = (f,) + (tuple(outs) if unshared else ())
    return gw.reshape(lead + (c // groups,) + tuple(kshape))


def correlate_grad_inputs(w, gy, in_shape, pads, stride, dilation, groups, unshared=False):
    """Gradient of ``correlate(x, w)`` in ``x`` (spatial shape ``in_shape``) given the
    output gradient ``gy``: GEMM to the im2col layout, then col2im (one strided
    ``+=`` per kernel offset) on a batch-last canvas."""
    b, f = gy.shape[:2]
    outs = gy.shape[2:]
    nd = len(outs)
    kshape = w.shape[w.ndim - nd:]
    cg = w.shape[w.ndim - nd - 1]
    dtype = np.result_type(w.dtype, gy.dtype)
    gx = np.zeros((b, groups * cg) + tuple(in_shape), dtype=dtype)
    if not (gy.size and w.size):
        return gx
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(in_shape, pads))
    crop = (slice(None),) * 2 + tuple(slice(lo, lo + n) for n, (lo, _) in zip(in_shape, pads))
    wm = _unshared(w, groups, outs, dtype) if unshared \
        else w.reshape(groups, f // groups, -1).astype(dtype, copy=False)
    gy = gy.astype(dtype, copy=False)
    lead = (slice(None),) * 2
    for batch in _slices(b, int(np.prod(outs)) * cg * groups * int(np.prod(kshape))):
        n = batch.stop - batch.start
        rows = _to_cols(gy[batch], groups)
        if unshared:
            cols = np.einsum("gfpc,gfpn->gcpn", wm, rows.reshape(rows.shape[:2] + (-1, n)),
                             optimize=True)
        else:
            cols = _gemm(wm, rows, transpose_a=True)
        cols = cols.reshape((groups, cg) + tuple(kshape) + tuple(outs) + (n,))
        canvas = np.zeros((groups, cg) + padded + (n,), dtype=dtype)
        for offs, cells in _taps(kshape, stride, dilation, outs):
            canvas[lead + cells] += cols[lead + offs]
        # (groups, Cg, *S, n) -> (n, C, *S)
        gx[batch] = np.moveaxis(canvas[crop], -1, 0).reshape((n, groups * cg) + tuple(in_shape))
    return gx


def flip(w, nd=None):
    """Filters with their last ``nd`` (default: all but the first two) axes, the
    kernel's spatial axes, reversed (a view)."""
    nd = w.ndim - 2 if nd is None else nd
    return w[(slice(None),) * (w.ndim - nd) + (slice(None, None, -1),) * nd]


__all__ = ["dilated", "pads_for", "out_size", "out_sizes", "correlate",
           "correlate_grad_weights", "correlate_grad_inputs", "flip"]
