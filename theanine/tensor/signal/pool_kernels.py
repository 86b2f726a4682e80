"""NumPy kernels of the pooling ops: plain arrays in, arrays out, no graph.

Every kernel works on one "extended" array per call: the pooled axes are laid out
as the windows see them (``pad`` cells before the input, then the input, then
whatever the last, partial window reaches past it), so each window is a strided
view (``sliding_window_view`` taken every ``stride`` cells) and no loop runs over
pixels.  Scatters (the gradients) loop over the positions *inside* one window
(``prod(ws)`` iterations), each a strided add of every window at once.

Window rule, shared by every op: window ``j`` of a pooled axis covers cells
``[j*stride, j*stride + ws)`` of the padded axis, cut at the padded axis' end;
``max``, ``sum`` and ``average_exc_pad`` then keep only the input cells (padding
left out), ``average_inc_pad`` divides by the cut window's size.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def axis_out(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    """Windows along one axis of ``size`` cells (Theano's ``Pool.out_shape`` rule).

    With ``ignore_border=False`` a last, partial window is kept; with overlapping
    windows (``stride < ws``) it is one that starts before the last cell.
    """
    size = size + 2 * pad
    if ignore_border:
        return max((size - ws) // stride + 1, 0)
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


def out_shape(shape, ws, stride, pad, ignore_border) -> tuple:
    """The pooled shape of an array of ``shape`` (the last ``len(ws)`` axes pooled)."""
    nd = len(ws)
    lead = tuple(shape[:len(shape) - nd])
    return lead + tuple(axis_out(v, w, s, p, ignore_border)
                        for v, w, s, p in zip(shape[len(shape) - nd:], ws, stride, pad))


def lowest(dtype):
    """A fill value no input exceeds, so padding never wins a max."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return False


def window_spans(outs, ws, stride):
    """Cells of each pooled axis the windows reach (the extended axis length)."""
    return tuple((o - 1) * s + w for o, w, s in zip(outs, ws, stride))


def real_region(shape, pad, spans):
    """(slice of the extended array, slice of the input) of the input cells it holds.

    With ``ignore_border=True`` the windows may stop before the input's end: the
    cells past the span are in no window.
    """
    ext, src = [Ellipsis], [Ellipsis]
    for v, p, span in zip(shape, pad, spans):
        stop = min(p + v, span)
        ext.append(slice(p, stop))
        src.append(slice(0, stop - p))
    return tuple(ext), tuple(src)


def _extend(x, nd, pad, spans, fill):
    """``x`` with its pooled axes laid out as the windows see them."""
    pooled = x.shape[x.ndim - nd:]
    if not any(pad) and all(span <= v for span, v in zip(spans, pooled)):
        return x[(Ellipsis,) + tuple(slice(0, span) for span in spans)]   # a view
    ext = np.full(x.shape[:x.ndim - nd] + tuple(spans), fill, dtype=x.dtype)
    dst, src = real_region(pooled, pad, spans)
    ext[dst] = x[src]
    return ext


def _windows(ext, ws, stride):
    """View of shape ``lead + outs + ws``: every window of ``ext``, no copy."""
    nd = len(ws)
    axes = tuple(range(ext.ndim - nd, ext.ndim))
    view = sliding_window_view(ext, tuple(ws), axis=axes)
    lead = (slice(None),) * (ext.ndim - nd)
    return view[lead + tuple(slice(None, None, s) for s in stride)]


def _offset(offs, stride, outs):
    """The cells at one offset inside every window: a strided slice."""
    return (Ellipsis,) + tuple(slice(a, a + s * (o - 1) + 1, s)
                               for a, s, o in zip(offs, stride, outs))


def _window_max(ext, ws, stride, outs):
    """Each window's max as one ``np.maximum`` per window offset over strided
    slices: many times faster than reducing the small window axes of a view."""
    offsets = np.ndindex(*ws)
    out = ext[_offset(next(offsets), stride, outs)].copy()
    for offs in offsets:
        np.maximum(out, ext[_offset(offs, stride, outs)], out=out)
    return out


def _scatter(contrib, ext_shape, ws, stride, outs, dtype):
    """Sum of every window's ``contrib`` (``lead + outs + ws``) at the cells it covers.

    Windows overlap when ``stride < ws``; one offset inside the window names
    distinct cells across windows, so each offset is one strided ``+=``.
    """
    ext = np.zeros(ext_shape, dtype=dtype)
    for offs in np.ndindex(*ws):
        target = (Ellipsis,) + tuple(slice(a, a + s * (o - 1) + 1, s)
                                     for a, s, o in zip(offs, stride, outs))
        ext[target] += contrib[(Ellipsis,) + offs]
    return ext


def _crop(ext, shape, pad, spans, dtype):
    """The input cells of an extended array (cells in no window get zero)."""
    nd = len(pad)
    out = np.zeros(shape, dtype=dtype)
    dst, src = real_region(shape[len(shape) - nd:], pad, spans)
    out[src] = ext[dst]
    return out


def window_counts(shape, ws, stride, pad, outs, include_pad):
    """The divisor of each window of an average (shape ``outs``)."""
    counts = np.ones((), dtype="int64")
    for v, w, s, p, o in zip(shape, ws, stride, pad, outs):
        start = np.arange(o, dtype="int64") * s
        stop = np.minimum(start + w, v + 2 * p)
        if not include_pad:
            start = np.maximum(start, p)
            stop = np.minimum(stop, v + p)
        counts = np.multiply.outer(counts, np.maximum(stop - start, 0))
    return counts


def _empty_input(x, nd):
    return any(v == 0 for v in x.shape[x.ndim - nd:])


def pool(x, ws, stride, pad, ignore_border, mode):
    """Forward pooling.  Windows holding no input cell (only when a pooled axis of
    the input is empty) give 0."""
    nd = len(ws)
    shape = out_shape(x.shape, ws, stride, pad, ignore_border)
    if 0 in shape or _empty_input(x, nd):
        return np.zeros(shape, dtype=x.dtype)
    outs = shape[len(shape) - nd:]
    spans = window_spans(outs, ws, stride)
    axes = tuple(range(-nd, 0))
    if mode == "max":
        ext = _extend(x, nd, pad, spans, lowest(x.dtype))
        return np.asarray(_window_max(ext, ws, stride, outs), dtype=x.dtype)
    win = _windows(_extend(x, nd, pad, spans, 0), ws, stride)
    total = win.sum(axis=axes)
    if mode == "sum":
        return np.asarray(total, dtype=x.dtype)
    counts = window_counts(x.shape[x.ndim - nd:], ws, stride, pad, outs,
                           mode == "average_inc_pad")
    acc = x.dtype if x.dtype.kind == "f" else np.dtype("float64")
    return np.asarray(total / counts.astype(acc), dtype=x.dtype)


def max_hits(x, maxout, ws, stride, pad):
    """``(outs, spans, hit)`` for the max-pooling gradients: the pooled shape, the
    extended spans and which window cells equal their window's max; None when the
    pooling is empty."""
    nd = len(ws)
    outs = maxout.shape[maxout.ndim - nd:]
    if maxout.size == 0 or _empty_input(x, nd):
        return None
    spans = window_spans(outs, ws, stride)
    win = _windows(_extend(x, nd, pad, spans, lowest(x.dtype)), ws, stride)
    return outs, spans, win == maxout[(Ellipsis,) + (None,) * nd]


def max_pool_grad(x, maxout, gz, ws, stride, pad):
    """Gradient of max pooling: each window's ``gz`` goes to *every* input cell of the
    window equal to its max (Theano's rule: ties all receive it), summed over the
    windows covering a cell.  One strided ``+=`` per window offset."""
    nd = len(ws)
    outs = maxout.shape[maxout.ndim - nd:]
    if maxout.size == 0 or _empty_input(x, nd):
        return np.zeros(x.shape, dtype=x.dtype)
    spans = window_spans(outs, ws, stride)
    ext = _extend(x, nd, pad, spans, lowest(x.dtype))
    gz = np.asarray(gz, dtype=x.dtype)
    grad = np.zeros(x.shape[:x.ndim - nd] + spans, dtype=x.dtype)
    if all(s >= w for s, w in zip(stride, ws)) and np.isfinite(gz).all():
        # windows do not overlap: each cell's value is written once, in place (the
        # product with the hit mask is the ``where`` for finite gz, without temporaries)
        for offs in np.ndindex(*ws):
            cells = _offset(offs, stride, outs)
            np.multiply(ext[cells] == maxout, gz, out=grad[cells])
    else:
        for offs in np.ndindex(*ws):
            cells = _offset(offs, stride, outs)
            grad[cells] += np.where(ext[cells] == maxout, gz, 0)
    return _crop(grad, x.shape, pad, spans, x.dtype)


def max_pool_grad_grad(x, maxout, ggx, ws, stride, pad):
    """The transpose of ``max_pool_grad`` in ``gz``: each window sums ``ggx`` over its
    input cells equal to its max."""
    found = max_hits(x, maxout, ws, stride, pad)
    if found is None:
        return np.zeros(maxout.shape, dtype=x.dtype)
    _, spans, hit = found
    nd = len(ws)
    gwin = _windows(_extend(np.asarray(ggx, dtype=x.dtype), nd, pad, spans, 0), ws, stride)
    return np.asarray(np.where(hit, gwin, 0).sum(axis=tuple(range(-nd, 0))), dtype=x.dtype)


def average_pool_grad(shape, gz, ws, stride, pad, ignore_border, mode, dtype):
    """Gradient of sum/average pooling: each window's ``gz`` (divided by the window's
    count for averages) spread over the window's cells, padding dropped."""
    nd = len(ws)
    outs = out_shape(shape, ws, stride, pad, ignore_border)[len(shape) - nd:]
    if 0 in outs or 0 in shape:
        return np.zeros(shape, dtype=dtype)
    spans = window_spans(outs, ws, stride)
    val = np.asarray(gz, dtype=dtype)
    if mode != "sum":
        counts = window_counts(shape[len(shape) - nd:], ws, stride, pad, outs,
                               mode == "average_inc_pad")
        val = np.asarray(val / counts.astype(dtype), dtype=dtype)
    contrib = np.broadcast_to(val[(Ellipsis,) + (None,) * nd], val.shape + tuple(ws))
    ext = _scatter(contrib, tuple(shape[:len(shape) - nd]) + spans, ws, stride, outs, dtype)
    return _crop(ext, tuple(shape), pad, spans, dtype)
