"""Theano 1.0's ``theano.tensor.signal.pool``: ``pool_2d``, ``pool_3d``,
``max_pool_2d_same_size`` and the ops behind them.

Kept from Theano 1.0 on purpose, so ported code behaves the same:

* ``ignore_border=None`` warns and means ``False`` (Theano 1.0's default, with its
  warning that it would become ``True``): a last, partial window is pooled.  Pass
  ``ignore_border=True`` to drop it (and to use ``pad``).
* The old argument names ``ds``, ``st``, ``padding`` work with a ``DEPRECATION``
  warning; giving an old and a new name together is a ``ValueError``.
* ``max`` and ``sum`` never see the padding; ``average_inc_pad`` divides by the
  window size counting padding, ``average_exc_pad`` by the input cells only.  The
  plain ``'average'`` of cuDNN is not a mode of Theano's ``Pool`` and is refused.
"""

from __future__ import annotations

import warnings

from theanine.tensor import basic as tb
from theanine.tensor.signal.pool_ops import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
    PoolBase,
    renamed_argument,
)


def _pool_nd(input, nd, ws, ignore_border, stride, pad, mode, ds, st, padding, who):
    default_pad = (0,) * nd
    ws = renamed_argument(ws, ds, "ws", "ds", who=who, stacklevel=4)
    if ws is None:
        raise ValueError(f"{who}: you must give the window size ws")
    stride = renamed_argument(stride, st, "stride", "st", who=who, stacklevel=4)
    pad = renamed_argument(pad, padding, "pad", "padding", default=default_pad, who=who,
                           stacklevel=4)
    input = tb.as_tensor_variable(input)
    if input.ndim < nd:
        raise NotImplementedError(f"{who} requires a dimension >= {nd}, got {input.type}")
    if ignore_border is None:
        warnings.warn(
            f"{who}: ignore_border was not given, so a last partial window is pooled "
            "(ignore_border=False, Theano 1.0's default); pass ignore_border explicitly "
            "to choose", UserWarning, stacklevel=3)
        ignore_border = False
    return Pool(ignore_border, mode=mode, ndim=nd)(input, ws, stride, pad)


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    """Pool the last 2 axes of an N-d ``input`` (N >= 2) with windows of ``ws``.

    ``stride`` defaults to ``ws`` (no overlap); ``pad`` zero-pads each pooled axis
    on both sides (needs ``ignore_border=True``, and ``pad < ws``); ``mode`` is one
    of 'max', 'sum', 'average_inc_pad', 'average_exc_pad'.  ``ws``, ``stride`` and
    ``pad`` may be int vectors of the graph.  With ``ignore_border=False`` a (5, 5)
    input and ``ws=(2, 2)`` give (3, 3); with True, (2, 2).
    """
    return _pool_nd(input, 2, ws, ignore_border, stride, pad, mode, ds, st, padding,
                    "pool_2d")


def pool_3d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0, 0), mode="max",
            ds=None, st=None, padding=None):
    """``pool_2d`` over the last 3 axes of an N-d ``input`` (N >= 3)."""
    return _pool_nd(input, 3, ws, ignore_border, stride, pad, mode, ds, st, padding,
                    "pool_3d")


def max_pool_2d_same_size(input, patch_size):
    """Keep the max of each non-overlapping ``patch_size`` patch of the last 2 axes
    where it is, zeros elsewhere (same shape as ``input``).

    Built as Theano builds it: ``MaxPoolGrad`` with the max itself as gradient, so
    cells tied for a patch's max all keep it, and an incomplete patch at the end of
    an axis (ignore_border=True) becomes zeros.
    """
    input = tb.as_tensor_variable(input)
    out = Pool(True)(input, patch_size)
    return MaxPoolGrad(True)(input, out, out, patch_size)


__all__ = ["pool_2d", "pool_3d", "max_pool_2d_same_size", "Pool", "PoolBase", "MaxPoolGrad",
           "AveragePoolGrad", "DownsampleFactorMaxGradGrad"]
