"""The pooling ops (``tensor/signal``) in JAX.

The same window rule as the NumPy kernels (``tensor/signal/pool_kernels.py``, whose
shape helpers are used here): the pooled axes are laid out as the windows see them,
each window offset is one strided slice (``prod(ws)`` of them, unrolled when the
function is traced), and gradients scatter with ``.at[].add``.  Window sizes,
strides and padding must be known when the function is compiled.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

from theanine.link.jax.dispatch import _static_ints, jax_funcify
from theanine.tensor.signal import pool_kernels as pk
from theanine.tensor.signal.pool_ops import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
)


def _extend(x, nd, pad, spans, fill):
    pooled = x.shape[x.ndim - nd:]
    ext = jnp.full(x.shape[:x.ndim - nd] + tuple(spans), fill, dtype=x.dtype)
    dst, src = pk.real_region(pooled, pad, spans)
    return ext.at[dst].set(x[src])


def _offset(offs, stride, outs):
    return (Ellipsis,) + tuple(slice(a, a + s * (o - 1) + 1, s)
                               for a, s, o in zip(offs, stride, outs))


def _windows(ext, ws, stride, outs):
    """``lead + outs + ws``: every window of ``ext``."""
    slices = [ext[_offset(offs, stride, outs)] for offs in itertools.product(*map(range, ws))]
    stacked = jnp.stack(slices, axis=-1)
    return stacked.reshape(stacked.shape[:-1] + tuple(ws))


def _scatter(contrib, ext_shape, ws, stride, outs, dtype):
    ext = jnp.zeros(ext_shape, dtype=dtype)
    for offs in itertools.product(*map(range, ws)):
        ext = ext.at[_offset(offs, stride, outs)].add(contrib[(Ellipsis,) + offs])
    return ext


def _crop(ext, shape, pad, spans, dtype):
    nd = len(pad)
    dst, src = pk.real_region(shape[len(shape) - nd:], pad, spans)
    return jnp.zeros(shape, dtype=dtype).at[src].set(ext[dst])


def _params(op, node, values):
    vals = [_static_ints(np.asarray(v).reshape(-1), "the pooling window", node)
            for v in values]
    op.check_params(*vals)
    return vals


def _pool(x, ws, stride, pad, ignore_border, mode):
    nd = len(ws)
    shape = pk.out_shape(x.shape, ws, stride, pad, ignore_border)
    if 0 in shape or any(v == 0 for v in x.shape[x.ndim - nd:]):
        return jnp.zeros(shape, dtype=x.dtype)
    outs = shape[len(shape) - nd:]
    spans = pk.window_spans(outs, ws, stride)
    axes = tuple(range(-nd, 0))
    fill = pk.lowest(x.dtype) if mode == "max" else 0
    win = _windows(_extend(x, nd, pad, spans, fill), ws, stride, outs)
    if mode == "max":
        return win.max(axis=axes)
    total = win.sum(axis=axes)
    if mode == "sum":
        return total.astype(x.dtype)
    counts = pk.window_counts(x.shape[x.ndim - nd:], ws, stride, pad, outs,
                              mode == "average_inc_pad")
    acc = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float64
    return (total.astype(acc) / counts.astype(acc)).astype(x.dtype)


def _hits(x, maxout, nd, ws, stride, pad, outs, spans):
    win = _windows(_extend(x, nd, pad, spans, pk.lowest(x.dtype)), ws, stride, outs)
    return win == maxout[(Ellipsis,) + (None,) * nd]


@jax_funcify.register(Pool)
def _jax_pool(op, node):
    def pool(x, *params):
        return _pool(jnp.asarray(x), *_params(op, node, params), op.ignore_border, op.mode)
    return pool


def _max_windows(op, node, x, maxout, params):
    """What both max-pooling gradients need: the parameters, the pooled shape, the
    extended spans and which window cells hold their window's max (None when the
    pooling is empty)."""
    x, maxout = jnp.asarray(x), jnp.asarray(maxout)
    ws, stride, pad = _params(op, node, params)
    nd = len(ws)
    outs = maxout.shape[maxout.ndim - nd:]
    if maxout.size == 0 or any(v == 0 for v in x.shape[x.ndim - nd:]):
        return None
    spans = pk.window_spans(outs, ws, stride)
    return x, ws, stride, pad, nd, outs, spans, _hits(x, maxout, nd, ws, stride, pad, outs,
                                                      spans)


@jax_funcify.register(MaxPoolGrad)
def _jax_max_pool_grad(op, node):
    def max_pool_grad(x, maxout, gz, *params):
        found = _max_windows(op, node, x, maxout, params)
        if found is None:
            return jnp.zeros(jnp.shape(x), dtype=node.outputs[0].dtype)
        x, ws, stride, pad, nd, outs, spans, hit = found
        contrib = jnp.where(hit, jnp.asarray(gz, dtype=x.dtype)[(Ellipsis,) + (None,) * nd], 0)
        ext = _scatter(contrib, x.shape[:x.ndim - nd] + spans, ws, stride, outs, x.dtype)
        return _crop(ext, x.shape, pad, spans, x.dtype)
    return max_pool_grad


@jax_funcify.register(DownsampleFactorMaxGradGrad)
def _jax_max_pool_grad_grad(op, node):
    def grad_grad(x, maxout, ggx, *params):
        found = _max_windows(op, node, x, maxout, params)
        if found is None:
            return jnp.zeros(jnp.shape(maxout), dtype=node.outputs[0].dtype)
        x, ws, stride, pad, nd, outs, spans, hit = found
        gwin = _windows(_extend(jnp.asarray(ggx, dtype=x.dtype), nd, pad, spans, 0), ws,
                        stride, outs)
        return jnp.where(hit, gwin, 0).sum(axis=tuple(range(-nd, 0))).astype(x.dtype)
    return grad_grad


@jax_funcify.register(AveragePoolGrad)
def _jax_average_pool_grad(op, node):
    dtype = node.outputs[0].dtype

    def average_pool_grad(x, gz, *params):
        shape = tuple(jnp.shape(x))
        ws, stride, pad = _params(op, node, params)
        nd = len(ws)
        outs = pk.out_shape(shape, ws, stride, pad, op.ignore_border)[len(shape) - nd:]
        if 0 in outs or 0 in shape:
            return jnp.zeros(shape, dtype=dtype)
        spans = pk.window_spans(outs, ws, stride)
        val = jnp.asarray(gz, dtype=dtype)
        if op.mode != "sum":
            counts = pk.window_counts(shape[len(shape) - nd:], ws, stride, pad, outs,
                                      op.mode == "average_inc_pad")
            val = (val / counts.astype(dtype)).astype(dtype)
        contrib = jnp.broadcast_to(val[(Ellipsis,) + (None,) * nd], val.shape + tuple(ws))
        ext = _scatter(contrib, shape[:len(shape) - nd] + spans, ws, stride, outs, dtype)
        return _crop(ext, shape, pad, spans, dtype)
    return average_pool_grad


__all__ = []
