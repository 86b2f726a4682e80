"""Numba helpers shared by the generated fused kernels.

Generated kernel modules import this module; everything here is compiled with
``cache=True`` so that a warm process only loads machine code.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import overload

_jit = numba.njit(error_model="numpy", cache=True)
# only the reduction helpers may reassociate (that is what lets them vectorize)
_jit_reassoc = numba.njit(error_model="numpy", cache=True, fastmath={"reassoc", "contract"})


# ---------------------------------------------------------------- operand loads
# Indices are read as unsigned: a signed index makes Numba add a "negative counts
# from the end" select per element, and LLVM, unable to prove a loop's index
# non-negative when the loop starts at a variable (a block's first element), turned
# each vector of loads into a gather: 2x slower kernels on AVX-512 (4.3 -> 2.1 ns per
# element for ``tanh(v) * exp(-v*v)`` summed).  Kernel indices are never negative.
_U = np.uint64


def ld(a, i):
    """Element ``i`` of a 1-d operand, or the operand itself when it is a scalar."""


def ld2(a, i, j):
    """Element ``[i, j]`` of a 2-d operand, or the scalar itself."""


def ld3(a, i, j, k):
    """Element ``[i, j, k]`` of a 3-d operand, or the scalar itself."""


@overload(ld, inline="always")
def _ov_ld(a, i):
    if isinstance(a, types.Array):
        return lambda a, i: a[_U(i)]
    return lambda a, i: a


@overload(ld2, inline="always")
def _ov_ld2(a, i, j):
    if isinstance(a, types.Array):
        return lambda a, i, j: a[_U(i), _U(j)]
    return lambda a, i, j: a


@overload(ld3, inline="always")
def _ov_ld3(a, i, j, k):
    if isinstance(a, types.Array):
        return lambda a, i, j, k: a[_U(i), _U(j), _U(k)]
    return lambda a, i, j, k: a


# ---------------------------------------------------------------- NumPy-exact ops
# float -> uint32/uint64 as NumPy casts arrays on x86 (``CASTS_WRAP_AS_X86``): LLVM's
# ``fptoui`` of a value out of range is undefined, and NumPy's is the signed
# conversion (out of range: the most negative integer) of x, or of x - 2**(bits-1)
# with the top bit flipped back
_I64_MIN, _TOP64 = np.int64(-(2 ** 63)), 9223372036854775808.0
_I32_MIN, _TOP32 = np.int32(-(2 ** 31)), 2147483648.0


@_jit
def f2uint64(x):
    x = np.float64(x)
    if x >= _TOP64:
        t = x - _TOP64
        v = np.int64(t) if t < _TOP64 else _I64_MIN
        return np.uint64(v) ^ np.uint64(2 ** 63)
    return np.uint64(np.int64(x) if x >= -_TOP64 else _I64_MIN)


@_jit
def f2uint32(x):
    x = np.float64(x)
    if x >= _TOP32:
        t = x - _TOP32
        v = np.int32(t) if t < _TOP32 else _I32_MIN
        return np.uint32(v) ^ np.uint32(2 ** 31)
    return np.uint32(np.int32(x) if x >= -_TOP32 else _I32_MIN)


@_jit
def ifloordiv(a, b):
    if b == 0:
        return a - a                       # NumPy gives 0
    if b == -1:
        return -a                          # wraps for INT_MIN like NumPy (no trap)
    return a // b


@_jit
def imod(a, b):
    if b == 0 or b == -1:
        return a - a
    return a % b


@_jit
def ffloordiv(a, b):
    if b == 0:
        return a / b
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0:
        if (b < 0) != (mod < 0):
            div -= 1
    if div != 0:
        fl = np.floor(div)
        if div - fl > 0.5:
            fl += 1
    else:
        fl = np.copysign(div - div, a / b)
    return fl


@_jit
def fremainder(a, b):
    if b == 0:
        return np.fmod(a, b)
    mod = np.fmod(a, b)
    if mod != 0:
        if (b < 0) != (mod < 0):
            mod += b
    else:
        mod = np.copysign(mod, b)
    return mod


@_jit
def ipow(a, b):
    """Integer power with wrap-around; a negative exponent is refused, as by NumPy."""
    if b < 0:
        raise ValueError("Integers to negative integer powers are not allowed.")
    one = a - a + 1
    res = one
    base = a
    e = b
    while e > 0:
        if e & 1:
            res = res * base
        base = base * base
        e >>= 1
    return res


@_jit
def gammaln(a):
    """``log|gamma(a)|`` (libm's ``lgamma``), -inf at -inf as SciPy's ``gammaln``."""
    if a == -np.inf:
        return a
    return math.lgamma(a)


@_jit
def fround_away(a):
    """C's ``round``: halves away from zero (``a - trunc(a)`` is exact)."""
    t = np.trunc(a)
    return t + np.copysign(1.0, a) if abs(a - t) >= 0.5 else t


@_jit
def fsign(a):
    if a > 0:
        return 1.0
    if a < 0:
        return -1.0
    if a != a:
        return np.float64(a)
    return 0.0


@_jit
def isign(a):
    if a > 0:
        return 1
    if a < 0:
        return -1
    return 0


@_jit
def fmaximum(a, b):
    if a > b or a != a:
        return a
    return b


@_jit
def fminimum(a, b):
    if a < b or a != a:
        return a
    return b


# ---------------------------------------------------------------- reductions
@_jit_reassoc
def sum_buf(buf, n, init):
    acc = init
    for i in range(n):
        acc += buf[i]
    return acc


@_jit_reassoc
def prod_buf(buf, n, init):
    acc = init
    for i in range(n):
        acc *= buf[i]
    return acc


@_jit
def max_buf(buf, n, init):
    acc = init
    for i in range(n):
        acc = fmaximum(acc, buf[i])
    return acc


@_jit
def min_buf(buf, n, init):
    acc = init
    for i in range(n):
        acc = fminimum(acc, buf[i])
    return acc


@_jit
def comb_sum(a, b):
    return a + b


@_jit
def comb_prod(a, b):
    return a * b


comb_max = fmaximum
comb_min = fminimum
