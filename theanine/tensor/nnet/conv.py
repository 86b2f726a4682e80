"""Theano 1.0's legacy ``theano.tensor.nnet.conv``: ``conv2d`` with the old
signature, served by the same op as ``abstract_conv.conv2d``.

The legacy function is a true convolution (flipped filters) with border modes
``'valid'`` and ``'full'`` only.  Its tuning keywords (loop unrolling, OpenMP,
logical shapes of the old implementation) are accepted and ignored, except the
logical shapes, which changed the result and are refused.
"""

from __future__ import annotations

from theanine.tensor.nnet.abstract_conv import _conv

_TUNING_KEYWORDS = ("unroll_batch", "unroll_kern", "unroll_patch", "openmp", "verbose",
                    "version", "direction_hint")
_REFUSED_KEYWORDS = ("imshp_logical", "kshp_logical", "kshp_logical_top_aligned")


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), **kwargs):
    """The legacy 2-d convolution: ``border_mode`` ``'valid'`` or ``'full'``;
    ``image_shape``/``filter_shape`` are shape hints (4 entries, None allowed)."""
    for key in kwargs:
        if key in _REFUSED_KEYWORDS:
            if kwargs[key] is not None:
                raise NotImplementedError(f"conv.conv2d: {key} (the old implementation's "
                                          "logical shapes) is not supported")
        elif key not in _TUNING_KEYWORDS:
            raise TypeError(f"conv.conv2d: unexpected keyword argument {key!r}")
    if border_mode not in ("valid", "full"):
        raise ValueError(f"conv.conv2d: border_mode must be 'valid' or 'full', got "
                         f"{border_mode!r} (theanine.tensor.nnet.conv2d also takes 'half' "
                         "and padding)")
    return _conv(2, input, filters, image_shape, filter_shape, border_mode, subsample,
                 True, (1, 1), 1, False)


__all__ = ["conv2d"]
