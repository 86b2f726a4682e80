"""Theano's random-stream classes with Theano's argument order, on theanine's streams.

``RandomStreams`` (``theano.tensor.shared_randomstreams``) and ``MRG_RandomStreams``
(``theano.sandbox.rng_mrg``) take ``size`` first and Theano's parameter names
(``avg``/``std``, ``low``/``high``, ``n``/``p``, ``pvals``).  Both draw from NumPy
generators (theanine's ``RandomStream``), not Theano's MRG31k3p: the same seed gives
reproducible draws, but not Theano's numbers.  Streams are advanced by the
functions' default updates, as in Theano.
"""

from __future__ import annotations

import numpy as np

import theanine.tensor as tt
from theanine.config import config
from theanine.tensor import basic as tb
from theanine.tensor.random import RandomStream


def _size(size):
    return None if size is None or size == () else size


class RandomStreams(RandomStream):
    """``theano.tensor.shared_randomstreams.RandomStreams(seed)``."""

    def __init__(self, seed=None):
        super().__init__(seed)

    def uniform(self, size=(), low=0.0, high=1.0, ndim=None, dtype=None):
        return super().uniform(low, high, size=_size(size), dtype=dtype)

    def normal(self, size=(), avg=0.0, std=1.0, ndim=None, dtype=None):
        return super().normal(avg, std, size=_size(size), dtype=dtype)

    def binomial(self, size=(), n=1, p=0.5, ndim=None, dtype="int64", prob=None):
        return super().binomial(n, p if prob is None else prob, size=_size(size), dtype=dtype)

    def random_integers(self, size=(), low=0, high=1, ndim=None, dtype="int64"):
        """Integers in ``[low, high]`` (both ends included, as in Theano)."""
        return super().integers(low, tt.add(tb.as_tensor_variable(high), 1),
                                size=_size(size), dtype=dtype)

    def choice(self, size=(), a=2, replace=True, p=None, ndim=None, dtype="int64"):
        return super().choice(a, size=_size(size), replace=replace, p=p)

    def permutation(self, size=(), n=1, ndim=None, dtype="int64"):
        """A permutation of ``range(n)`` (one per entry of ``size``: only ``()`` here)."""
        if _size(size) is not None:
            raise NotImplementedError("RandomStreams.permutation: only size=() is supported; "
                                      "stack single permutations instead")
        return super().permutation(tb.as_tensor_variable(np.int64(n)) if isinstance(n, int)
                                   else n)


    def multinomial(self, size=None, n=1, pvals=(0.5, 0.5), ndim=None, dtype="int64"):
        """Counts over the last axis of ``pvals`` after ``n`` trials (a Python int), one
        draw per entry of ``size`` (default: ``pvals``' leading axes), NumPy's
        ``multinomial`` layout: ``size + (len(pvals[-1]),)``."""
        pvals = tb.as_tensor_variable(pvals)
        if pvals.ndim < 1:
            raise TypeError(f"multinomial: pvals must have at least 1 dim, got {pvals.type}")
        return _multinomial_counts(self, size, int(n), pvals, dtype)


def _multinomial_counts(stream, size, n, pvals, dtype):
    """Each trial picks the first category whose cumulative probability exceeds a
    uniform draw; the counts are summed over the ``n`` trials."""
    if n < 0:
        raise ValueError(f"multinomial: n must be >= 0, got {n}")
    float_dtype = pvals.dtype if pvals.dtype.startswith("float") else config.floatX
    cum = tt.cumsum(tt.cast(pvals, float_dtype), axis=-1)
    # the last category catches a draw above a cumulative sum rounded below 1
    cum = tt.concatenate([cum[..., :-1], tt.ones_like(cum[..., -1:]) * 2], axis=-1)
    batch = list(size) if _size(size) is not None else \
        [pvals.shape[i] for i in range(pvals.ndim - 1)]
    u = RandomStream.uniform(stream, 0.0, 1.0, size=tuple(batch) + (n, 1), dtype=float_dtype)
    cum = tt.shape_padaxis(cum, -2)                     # (..., 1 trial, k)
    picked = tt.cast(tt.lt(u, cum), "int64")           # (batch, n, k)
    first = picked - tt.concatenate([tt.zeros_like(picked[..., :1]), picked[..., :-1]],
                                    axis=-1)
    return tt.cast(tt.sum(first, axis=-2), dtype)


class MRG_RandomStreams(RandomStreams):      # noqa: N801  (Theano's name)
    """``theano.sandbox.rng_mrg.MRG_RandomStreams(seed)``: float draws default to
    ``floatX`` as in Theano; ``nstreams`` is accepted and ignored."""

    def __init__(self, seed=12345):
        super().__init__(seed)

    def uniform(self, size, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        return super().uniform(size, low, high, dtype=dtype or config.floatX)

    def normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        if truncate:
            return self.truncated_normal(size, avg, std, dtype=dtype)
        return super().normal(size, avg, std, dtype=dtype or config.floatX)

    def truncated_normal(self, size, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None):
        """A normal draw kept within two standard deviations (redrawn by inversion:
        the uniform is mapped through the truncated normal's quantile function)."""
        dtype = dtype or config.floatX
        u = super().uniform(size, 0.0, 1.0, dtype="float64")
        lo = 0.022750131948179195                                # Phi(-2)
        z = tt.sqrt(2.0) * tt.erfinv(2 * (lo + u * (1 - 2 * lo)) - 1)
        return tt.cast(avg + std * z, dtype)

    def binomial(self, size=None, p=None, n=1, ndim=None, dtype="int64", nstreams=None,
                 prob=None):
        return super().binomial(size, n, p if prob is None else prob, dtype=dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64",
                    nstreams=None):
        """One multinomial draw per row of ``pvals``: counts over its columns
        (``n`` trials), as ``(rows, columns)`` in ``dtype``."""
        pvals = tb.as_tensor_variable(pvals)
        if pvals.ndim != 2:
            raise TypeError(f"multinomial: pvals must be a matrix, got {pvals.type}")
        cum = tt.cumsum(pvals, axis=1)
        total = None
        for _ in range(int(n)):
            u = super().uniform((pvals.shape[0], 1), 0.0, 1.0, dtype=pvals.dtype)
            picked = tt.lt(u, cum)                         # first column whose cumsum > u
            first = tt.cast(picked, "int64") - tt.cast(tt.concatenate(
                [tt.zeros_like(picked[:, :1]), picked[:, :-1]], axis=1), "int64")
            total = first if total is None else total + first
        return tt.cast(total, dtype)

    def choice(self, size=1, a=None, replace=False, p=None, ndim=None, dtype="int64",
               nstreams=None):
        return super().choice(size, a if a is not None else 2, replace, p)


__all__ = ["MRG_RandomStreams", "RandomStreams"]
