"""Loop references for N-d convolution (small sizes only): the forward pass and the
two gradients, written directly from the definition, independent of the kernels."""

from __future__ import annotations

import itertools

import numpy as np


def pads(border, kshape, dilation):
    spans = [(k - 1) * d + 1 for k, d in zip(kshape, dilation)]
    if border == "valid":
        return [(0, 0)] * len(spans)
    if border == "full":
        return [(s - 1, s - 1) for s in spans]
    if border == "half":
        return [(s // 2, s // 2) for s in spans]
    if isinstance(border, int):
        return [(border, border)] * len(spans)
    return [(p, p) if isinstance(p, int) else tuple(p) for p in border]


def _geometry(in_shape, kshape, border, stride, dilation):
    pd = pads(border, kshape, dilation)
    outs = [max((n + lo + hi - (k - 1) * d - 1) // s + 1, 0)
            for n, k, (lo, hi), s, d in zip(in_shape, kshape, pd, stride, dilation)]
    return pd, outs


def _taps(outs, kshape, pd, stride, dilation):
    """(output position, kernel offset, padded input position) for every tap."""
    for o in itertools.product(*map(range, outs)):
        for k in itertools.product(*map(range, kshape)):
            yield o, k, tuple(oo * s + kk * d for oo, s, kk, d in zip(o, stride, k, dilation))


def _flip(w, flip):
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)] if flip \
        else w


def conv(x, w, border="valid", stride=None, dilation=None, groups=1, flip=True):
    nd = x.ndim - 2
    stride, dilation = stride or (1,) * nd, dilation or (1,) * nd
    w = _flip(w, flip)
    pd, outs = _geometry(x.shape[2:], w.shape[2:], border, stride, dilation)
    xp = np.pad(x, [(0, 0), (0, 0)] + pd)
    f, cg = w.shape[:2]
    fg = f // groups
    y = np.zeros((x.shape[0], f) + tuple(outs), dtype=np.result_type(x, w))
    for g in range(groups):
        chans = slice(g * cg, (g + 1) * cg)
        for o, k, p in _taps(outs, w.shape[2:], pd, stride, dilation):
            patch = xp[(slice(None), chans) + p]                       # (B, cg)
            y[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += \
                patch @ w[(slice(g * fg, (g + 1) * fg), slice(None)) + k].T
    return y


def grad_inputs(w, gy, in_shape, border="valid", stride=None, dilation=None, groups=1,
                flip=True):
    nd = gy.ndim - 2
    stride, dilation = stride or (1,) * nd, dilation or (1,) * nd
    w = _flip(w, flip)
    pd, _ = _geometry(in_shape, w.shape[2:], border, stride, dilation)
    f, cg = w.shape[:2]
    fg = f // groups
    gxp = np.zeros((gy.shape[0], cg * groups)
                   + tuple(n + lo + hi for n, (lo, hi) in zip(in_shape, pd)))
    for g in range(groups):
        for o, k, p in _taps(gy.shape[2:], w.shape[2:], pd, stride, dilation):
            gxp[(slice(None), slice(g * cg, (g + 1) * cg)) + p] += \
                gy[(slice(None), slice(g * fg, (g + 1) * fg)) + o] \
                @ w[(slice(g * fg, (g + 1) * fg), slice(None)) + k]
    crop = (slice(None), slice(None)) + tuple(slice(lo, lo + n)
                                              for n, (lo, _) in zip(in_shape, pd))
    return gxp[crop].astype(np.result_type(w, gy))


def grad_weights(x, gy, kshape, border="valid", stride=None, dilation=None, groups=1,
                 flip=True):
    nd = x.ndim - 2
    stride, dilation = stride or (1,) * nd, dilation or (1,) * nd
    pd, _ = _geometry(x.shape[2:], kshape, border, stride, dilation)
    xp = np.pad(x, [(0, 0), (0, 0)] + pd)
    f = gy.shape[1]
    cg, fg = x.shape[1] // groups, f // groups
    gw = np.zeros((f, cg) + tuple(kshape))
    for g in range(groups):
        for o, k, p in _taps(gy.shape[2:], kshape, pd, stride, dilation):
            gw[(slice(g * fg, (g + 1) * fg), slice(None)) + k] += \
                gy[(slice(None), slice(g * fg, (g + 1) * fg)) + o].T \
                @ xp[(slice(None), slice(g * cg, (g + 1) * cg)) + p]
    return _flip(gw, flip).astype(np.result_type(x, gy))


def conv_unshared(x, w, border="valid", stride=None, dilation=None, groups=1, flip=True):
    """2-d convolution with one filter per output pixel: ``w`` is ``(F, rows, cols,
    C // groups, krows, kcols)``."""
    stride, dilation = stride or (1, 1), dilation or (1, 1)
    kshape = w.shape[-2:]
    if flip:
        w = w[..., ::-1, ::-1]
    pd, outs = _geometry(x.shape[2:], kshape, border, stride, dilation)
    xp = np.pad(x, [(0, 0), (0, 0)] + pd)
    f, cg = w.shape[0], w.shape[3]
    fg = f // groups
    y = np.zeros((x.shape[0], f) + tuple(outs), dtype=np.result_type(x, w))
    for g in range(groups):
        for o, k, p in _taps(outs, kshape, pd, stride, dilation):
            y[(slice(None), slice(g * fg, (g + 1) * fg)) + o] += \
                xp[(slice(None), slice(g * cg, (g + 1) * cg)) + p] \
                @ w[(slice(g * fg, (g + 1) * fg),) + o + (slice(None),) + k].T
    return y
