"""Arithmetic, rounding, comparison and logic scalar ops, plus the structural ones.

One plain class per op, so each op, its ``nfunc`` and its printing and algebra
attributes (``symbol``, ``precedence``, ``commutative``...) can be found by name
and registered against by class (``grads.py``); the module-level instance is what
graphs use.  These are the ops behind Python's operators and the tensor basics
(``switch``, ``second``, ``cast``); the transcendental functions are in
``transcendental.py``, split off to keep both modules readable.  Import them
through ``theanine.scalar.basic``.
"""

from __future__ import annotations

import functools
import platform

import numpy as np

from theanine.scalar.base import DISCRETE_DTYPES, ScalarOp


def _sqr(x):
    return np.multiply(x, x)


def _switch(c, a, b):
    return np.where(c, a, b)


def _clip(x, lo, hi):
    return np.clip(x, lo, hi)


def _identity(x):
    return np.array(x, copy=True)


def _second(x, y):
    y = np.asarray(y)
    return np.full(np.broadcast_shapes(np.shape(x), y.shape), y, dtype=y.dtype)


def _round_half_away(x):
    """C's ``round``: from the truncation, one step away from zero when the dropped
    fraction is at least a half (``x - trunc(x)`` is exact; ``floor(x + 0.5)``
    rounds 0.49999999999999994 up and odd integers above 2**52 to even)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return np.array(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.copysign(1, x), t).astype(x.dtype)


# -- arithmetic ---------------------------------------------------------------

class Add(ScalarOp):
    """``x + y``."""

    nin = 2
    nfunc = staticmethod(np.add)
    kernel_name = "add"
    symbol = "+"
    precedence = 10
    commutative = True
    associative = True
    identity = 0


add = Add()


class Sub(ScalarOp):
    """``x - y``."""

    nin = 2
    nfunc = staticmethod(np.subtract)
    kernel_name = "sub"
    symbol = "-"
    precedence = 10


sub = Sub()


class Mul(ScalarOp):
    """``x * y``."""

    nin = 2
    nfunc = staticmethod(np.multiply)
    kernel_name = "mul"
    symbol = "*"
    precedence = 20
    commutative = True
    associative = True
    identity = 1


mul = Mul()


class TrueDiv(ScalarOp):
    """``x / y``, true division (integers give floats)."""

    nin = 2
    nfunc = staticmethod(np.true_divide)
    kernel_name = "true_div"
    symbol = "/"
    precedence = 20


true_div = TrueDiv()


class IntDiv(ScalarOp):
    """``x // y``, floor division."""

    nin = 2
    nfunc = staticmethod(np.floor_divide)
    kernel_name = "int_div"
    symbol = "//"
    precedence = 20


int_div = IntDiv()


class Mod(ScalarOp):
    """``x % y``, with the sign of ``y`` (as in Python and NumPy)."""

    nin = 2
    nfunc = staticmethod(np.mod)
    kernel_name = "mod"
    symbol = "%"
    precedence = 20


mod = Mod()


class Pow(ScalarOp):
    """``x ** y``."""

    nin = 2
    nfunc = staticmethod(np.power)
    kernel_name = "pow"
    symbol = "**"
    precedence = 40


pow = Pow()


class Neg(ScalarOp):
    """``-x``."""

    nin = 1
    nfunc = staticmethod(np.negative)
    kernel_name = "neg"
    symbol = "-"
    precedence = 30


neg = Neg()


class Reciprocal(ScalarOp):
    """``1 / x`` (integers give floats)."""

    nin = 1
    nfunc = staticmethod(lambda x: np.true_divide(1, x))
    kernel_name = "reciprocal"


reciprocal = Reciprocal()


class Abs(ScalarOp):
    """``|x|`` (the modulus, a real number, for complex ``x``)."""

    nin = 1
    nfunc = staticmethod(np.absolute)
    kernel_name = "abs"


abs = Abs()


class Sign(ScalarOp):
    """-1, 0 or 1 by the sign of ``x``."""

    nin = 1
    nfunc = staticmethod(np.sign)
    kernel_name = "sign"


sign = Sign()


class Floor(ScalarOp):
    """The largest integer ``<= x``."""

    nin = 1
    nfunc = staticmethod(np.floor)
    kernel_name = "floor"


floor = Floor()


class Ceil(ScalarOp):
    """The smallest integer ``>= x``."""

    nin = 1
    nfunc = staticmethod(np.ceil)
    kernel_name = "ceil"


ceil = Ceil()


class Round(ScalarOp):
    """Round to the nearest integer, halves to even (NumPy's ``rint``)."""

    nin = 1
    nfunc = staticmethod(np.rint)
    kernel_name = "round"


round_half_to_even = Round()


class RoundHalfAway(ScalarOp):
    """Round to the nearest integer, halves away from zero (non-floats unchanged)."""

    nin = 1
    nfunc = staticmethod(_round_half_away)
    kernel_name = "round_half_away"


round_half_away_from_zero = RoundHalfAway()


class Trunc(ScalarOp):
    """Round toward zero."""

    nin = 1
    nfunc = staticmethod(np.trunc)
    kernel_name = "trunc"


trunc = Trunc()


class Maximum(ScalarOp):
    """The larger of ``x`` and ``y`` (NaN if either is NaN)."""

    nin = 2
    nfunc = staticmethod(np.maximum)
    kernel_name = "maximum"
    commutative = True
    associative = True


maximum = Maximum()


class Minimum(ScalarOp):
    """The smaller of ``x`` and ``y`` (NaN if either is NaN)."""

    nin = 2
    nfunc = staticmethod(np.minimum)
    kernel_name = "minimum"
    commutative = True
    associative = True


minimum = Minimum()


class Clip(ScalarOp):
    """``x`` limited to ``[lo, hi]``."""

    nin = 3
    nfunc = staticmethod(_clip)
    kernel_name = "clip"


clip = Clip()


class Sqr(ScalarOp):
    """``x * x``."""

    nin = 1
    nfunc = staticmethod(_sqr)
    kernel_name = "sqr"


sqr = Sqr()


class Sqrt(ScalarOp):
    """The square root of ``x``."""

    nin = 1
    nfunc = staticmethod(np.sqrt)
    kernel_name = "sqrt"


sqrt = Sqrt()


# -- comparisons and logic ----------------------------------------------------

class Lt(ScalarOp):
    """``x < y``."""

    nin = 2
    nfunc = staticmethod(np.less)
    kernel_name = "lt"
    symbol = "<"
    precedence = 5


lt = Lt()


class Gt(ScalarOp):
    """``x > y``."""

    nin = 2
    nfunc = staticmethod(np.greater)
    kernel_name = "gt"
    symbol = ">"
    precedence = 5


gt = Gt()


class Le(ScalarOp):
    """``x <= y``."""

    nin = 2
    nfunc = staticmethod(np.less_equal)
    kernel_name = "le"
    symbol = "<="
    precedence = 5


le = Le()


class Ge(ScalarOp):
    """``x >= y``."""

    nin = 2
    nfunc = staticmethod(np.greater_equal)
    kernel_name = "ge"
    symbol = ">="
    precedence = 5


ge = Ge()


class Eq(ScalarOp):
    """``x == y``."""

    nin = 2
    nfunc = staticmethod(np.equal)
    kernel_name = "eq"
    symbol = "=="
    precedence = 5
    commutative = True


eq = Eq()


class Neq(ScalarOp):
    """``x != y``."""

    nin = 2
    nfunc = staticmethod(np.not_equal)
    kernel_name = "neq"
    symbol = "!="
    precedence = 5
    commutative = True


neq = Neq()


class And(ScalarOp):
    """``x & y``: logical on bools, bitwise on integers (floats are refused)."""

    nin = 2
    nfunc = staticmethod(np.bitwise_and)
    kernel_name = "and"
    symbol = "&"
    precedence = 4
    commutative = True
    associative = True
    allowed_dtypes = DISCRETE_DTYPES


and_ = And()


class Or(ScalarOp):
    """``x | y``: logical on bools, bitwise on integers (floats are refused)."""

    nin = 2
    nfunc = staticmethod(np.bitwise_or)
    kernel_name = "or"
    symbol = "|"
    precedence = 3
    commutative = True
    associative = True
    allowed_dtypes = DISCRETE_DTYPES


or_ = Or()


class Xor(ScalarOp):
    """``x ^ y``: logical on bools, bitwise on integers (floats are refused)."""

    nin = 2
    nfunc = staticmethod(np.bitwise_xor)
    kernel_name = "xor"
    symbol = "^"
    precedence = 3
    commutative = True
    associative = True
    allowed_dtypes = DISCRETE_DTYPES


xor = Xor()


class Invert(ScalarOp):
    """``~x``: logical not on bools, bitwise not on integers (floats are refused)."""

    nin = 1
    nfunc = staticmethod(np.invert)
    kernel_name = "invert"
    symbol = "~"
    precedence = 30
    allowed_dtypes = DISCRETE_DTYPES


invert = Invert()


class Isnan(ScalarOp):
    """Whether ``x`` is NaN."""

    nin = 1
    nfunc = staticmethod(np.isnan)
    kernel_name = "isnan"


isnan = Isnan()


class Isinf(ScalarOp):
    """Whether ``x`` is infinite."""

    nin = 1
    nfunc = staticmethod(np.isinf)
    kernel_name = "isinf"


isinf = Isinf()


# -- structural ---------------------------------------------------------------

class Switch(ScalarOp):
    """``a`` where ``cond`` holds, else ``b`` (NumPy's ``where``)."""

    nin = 3
    nfunc = staticmethod(_switch)
    kernel_name = "switch"


switch = Switch()


class Identity(ScalarOp):
    """A copy of ``x``."""

    nin = 1
    nfunc = staticmethod(_identity)
    kernel_name = "identity"


identity = Identity()


class Second(ScalarOp):
    """``y`` broadcast to the shape of ``x``: fills zeros or ones shaped like ``x``.

    Not in the fused-kernel vocabulary (``kernel_name`` is empty)."""

    nin = 2
    nfunc = staticmethod(_second)
    kernel_name = ""


second = Second()


#: NumPy converts floats to integers with the CPU's instructions.  On x86 a value
#: out of range (or NaN) becomes the most negative int32/int64 and the narrower
#: types take the low bits of an int32; uint32/uint64 convert ``x`` signed below
#: 2**(bits-1) and ``x - 2**(bits-1)`` signed above, flipping the top bit back.
#: Elsewhere (ARM) conversions saturate, as XLA's do.
CASTS_WRAP_AS_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


class Cast(ScalarOp):
    """Convert to ``dtype`` with NumPy's ``astype`` semantics."""

    __props__ = ("dtype",)
    nin = 1
    kernel_name = "cast"

    def __init__(self, dtype):
        self.dtype = str(np.dtype(dtype))

    @property
    def name(self):
        return f"cast_{self.dtype}"

    def output_dtypes(self, in_dtypes):
        return (self.dtype,)

    def impl(self, x):
        return np.asarray(x).astype(self.dtype)


@functools.cache
def cast_op(dtype: str) -> Cast:
    return Cast(dtype)
