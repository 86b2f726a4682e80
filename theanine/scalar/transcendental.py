"""Exponential, logarithmic, trigonometric and special-function scalar ops.

The transcendental half of the scalar op catalogue (``arithmetic.py`` holds the
operators and structural ops), split off so each module stays readable.  One plain
class per op, so each can be found by name and registered against by class
(``grads.py``); the module-level instance is what graphs use.  ``sigmoid`` and
``softplus`` have hand-written NumPy references, tuned for accuracy and speed.
Import them through ``theanine.scalar.basic``.
"""

from __future__ import annotations

import functools

import numpy as np

from theanine.scalar.base import ScalarOp, numpy_output_dtypes


def special(name: str):
    """``scipy.special.<name>``, imported on first use: importing SciPy's special
    functions took 0.43 s, a third of ``import theanine``, and most programs never
    call one in NumPy."""
    import scipy.special

    return getattr(scipy.special, name)


class SpecialFunctionOp(ScalarOp):
    """A one-input scalar op whose reference is ``scipy.special.<special_name>``."""

    nin = 1
    special_name = ""

    @property
    def nfunc(self):
        return special(self.special_name)


def _softplus(x):
    """``log(1 + exp(x))`` as ``max(x, 0) + log1p(exp(-|x|))``: exact where it
    matters and 4x faster than ``np.logaddexp(0, x)``; other dtypes take NumPy's
    ``logaddexp`` (its result dtype is the op's)."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return np.logaddexp(np.zeros((), dtype=x.dtype), x)
    tail = np.abs(x)
    if not isinstance(tail, np.ndarray):            # 0-d input: NumPy scalars
        return np.maximum(x, 0) + np.log1p(np.exp(-tail))
    np.negative(tail, out=tail)
    np.exp(tail, out=tail)
    np.log1p(tail, out=tail)
    return np.add(np.maximum(x, 0), tail, out=tail)


def _sigmoid(x):
    """``1 / (1 + exp(-x))`` as ``exp(min(x, 0)) / (1 + exp(-|x|))``: never overflows,
    keeps full relative accuracy on both tails, and is faster than
    ``scipy.special.expit`` on CPUs where that runs scalar.  Other dtypes take
    ``expit``."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        return special("expit")(x)
    num = np.exp(np.minimum(x, 0))
    den = np.abs(x)
    if not isinstance(den, np.ndarray):             # 0-d input: NumPy scalars
        return num / (1 + np.exp(-den))
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    return np.divide(num, den, out=num)


# -- exponentials and logs ----------------------------------------------------

class Exp(ScalarOp):
    """``e ** x``."""

    nin = 1
    nfunc = staticmethod(np.exp)
    kernel_name = "exp"


exp = Exp()


class Exp2(ScalarOp):
    """``2 ** x``."""

    nin = 1
    nfunc = staticmethod(np.exp2)
    kernel_name = "exp2"


exp2 = Exp2()


class Expm1(ScalarOp):
    """``exp(x) - 1``, accurate for small ``x``."""

    nin = 1
    nfunc = staticmethod(np.expm1)
    kernel_name = "expm1"


expm1 = Expm1()


class Log(ScalarOp):
    """The natural logarithm of ``x``."""

    nin = 1
    nfunc = staticmethod(np.log)
    kernel_name = "log"


log = Log()


class Log2(ScalarOp):
    """The base-2 logarithm of ``x``."""

    nin = 1
    nfunc = staticmethod(np.log2)
    kernel_name = "log2"


log2 = Log2()


class Log10(ScalarOp):
    """The base-10 logarithm of ``x``."""

    nin = 1
    nfunc = staticmethod(np.log10)
    kernel_name = "log10"


log10 = Log10()


class Log1p(ScalarOp):
    """``log(1 + x)``, accurate for small ``x``."""

    nin = 1
    nfunc = staticmethod(np.log1p)
    kernel_name = "log1p"


log1p = Log1p()


# -- trigonometry -------------------------------------------------------------

class Sin(ScalarOp):
    """The sine of ``x`` (radians)."""

    nin = 1
    nfunc = staticmethod(np.sin)
    kernel_name = "sin"


sin = Sin()


class Cos(ScalarOp):
    """The cosine of ``x`` (radians)."""

    nin = 1
    nfunc = staticmethod(np.cos)
    kernel_name = "cos"


cos = Cos()


class Tan(ScalarOp):
    """The tangent of ``x`` (radians)."""

    nin = 1
    nfunc = staticmethod(np.tan)
    kernel_name = "tan"


tan = Tan()


class Arcsin(ScalarOp):
    """The inverse sine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arcsin)
    kernel_name = "arcsin"


arcsin = Arcsin()


class Arccos(ScalarOp):
    """The inverse cosine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arccos)
    kernel_name = "arccos"


arccos = Arccos()


class Arctan(ScalarOp):
    """The inverse tangent of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arctan)
    kernel_name = "arctan"


arctan = Arctan()


class Arctan2(ScalarOp):
    """``arctan(y / x)`` in the quadrant of the point ``(x, y)``."""

    nin = 2
    nfunc = staticmethod(np.arctan2)
    kernel_name = "arctan2"


arctan2 = Arctan2()


class Sinh(ScalarOp):
    """The hyperbolic sine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.sinh)
    kernel_name = "sinh"


sinh = Sinh()


class Cosh(ScalarOp):
    """The hyperbolic cosine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.cosh)
    kernel_name = "cosh"


cosh = Cosh()


class Tanh(ScalarOp):
    """The hyperbolic tangent of ``x``."""

    nin = 1
    nfunc = staticmethod(np.tanh)
    kernel_name = "tanh"


tanh = Tanh()


class Arcsinh(ScalarOp):
    """The inverse hyperbolic sine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arcsinh)
    kernel_name = "arcsinh"


arcsinh = Arcsinh()


class Arccosh(ScalarOp):
    """The inverse hyperbolic cosine of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arccosh)
    kernel_name = "arccosh"


arccosh = Arccosh()


class Arctanh(ScalarOp):
    """The inverse hyperbolic tangent of ``x``."""

    nin = 1
    nfunc = staticmethod(np.arctanh)
    kernel_name = "arctanh"


arctanh = Arctanh()


# -- special functions --------------------------------------------------------

class Sigmoid(ScalarOp):
    """The logistic function ``1 / (1 + exp(-x))``."""

    nin = 1
    nfunc = staticmethod(_sigmoid)
    kernel_name = "sigmoid"


sigmoid = Sigmoid()


class Softplus(ScalarOp):
    """``log(1 + exp(x))``, without overflow for large ``x``."""

    nin = 1
    nfunc = staticmethod(_softplus)
    kernel_name = "softplus"


softplus = Softplus()


class Erf(SpecialFunctionOp):
    """The error function."""

    special_name = "erf"
    kernel_name = "erf"


erf = Erf()


class Erfc(SpecialFunctionOp):
    """``1 - erf(x)``, accurate where ``erf(x)`` is near 1."""

    special_name = "erfc"
    kernel_name = "erfc"


erfc = Erfc()


class Erfinv(SpecialFunctionOp):
    """The inverse of ``erf``."""

    special_name = "erfinv"
    kernel_name = "erfinv"


erfinv = Erfinv()


class Gammaln(SpecialFunctionOp):
    """``log|Gamma(x)|``."""

    special_name = "gammaln"
    kernel_name = "gammaln"


gammaln = Gammaln()


class Psi(SpecialFunctionOp):
    """The digamma function, the derivative of ``gammaln``."""

    special_name = "digamma"
    kernel_name = "psi"


psi = Psi()


class Polygamma(ScalarOp):
    """The ``n``-th derivative of ``psi`` (``scipy.special.polygamma``), dtype of psi."""

    __props__ = ("n",)
    nin = 1
    kernel_name = ""

    def __init__(self, n: int):
        self.n = int(n)

    @property
    def name(self):
        return f"polygamma_{self.n}"

    def output_dtypes(self, in_dtypes):
        return numpy_output_dtypes(special("digamma"), tuple(str(d) for d in in_dtypes), 1)

    def impl(self, x):
        x = np.asarray(x)
        out_dtype = numpy_output_dtypes(special("digamma"), (str(x.dtype),))[0]
        return np.asarray(special("polygamma")(self.n, x), dtype=out_dtype)

    @property
    def nfunc(self):
        return self.impl


@functools.cache
def polygamma_op(n: int) -> Polygamma:
    return Polygamma(n)
