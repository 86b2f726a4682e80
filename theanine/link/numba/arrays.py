"""Array allocation and layout helpers that generated code calls instead of NumPy's.

Numba compiles its implementation of ``np.empty``, ``np.ascontiguousarray``,
``np.concatenate`` or ``as_strided`` anew for every argument type in every
process, as part of the first function that uses it: 40-80 ms per signature,
about a second of a cold RNN gradient's compile.  These wrappers are compiled once
per signature and kept in Numba's disk cache with the package; a later compile
loads them and links them in.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)


@_jit
def empty(shape, dtype):
    """``np.empty(shape, dtype)``."""
    return np.empty(shape, dtype)


@_jit
def ascontiguous(x):
    """``np.ascontiguousarray(x)``: ``x`` itself when already C-contiguous."""
    return np.ascontiguousarray(x)


@_jit
def concatenate(arrays, axis):
    """``np.concatenate(arrays, axis=axis)`` of a tuple of arrays."""
    return np.concatenate(arrays, axis=axis)


@_jit
def as_strided(x, shape, strides):
    """A view of ``x``'s memory with ``shape`` and ``strides`` (permuted axes)."""
    return np.lib.stride_tricks.as_strided(x, shape, strides)


__all__ = ["as_strided", "ascontiguous", "concatenate", "empty"]
