"""Scalar types and scalar ops: the per-element meaning of elementwise tensor ops.

Each ScalarOp names a NumPy (or SciPy) ufunc-like function ``nfunc`` that is both
its reference implementation and the source of its output dtype: output dtypes
are whatever NumPy gives for the input dtypes, so every backend agrees with NumPy.
``kernel_name`` is the op's name in the fused-kernel vocabulary.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.special as sp

from theanine.config import config
from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.graph.type import Type
from theanine.graph.utils import MethodNotDefined

ALL_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float16", "float32", "float64", "complex64", "complex128")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOAT_DTYPES = ("float16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES
CONTINUOUS_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES


def python_scalar_dtype(value) -> str:
    """Default dtype of a Python number that stands alone (no tensor to follow)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int64" if not isinstance(value, np.integer) else str(value.dtype)
    if isinstance(value, (float, np.floating)):
        return config.floatX if not isinstance(value, np.floating) else str(value.dtype)
    if isinstance(value, (complex, np.complexfloating)):
        return "complex128"
    raise TypeError(f"not a number: {value!r}")


class ScalarType(Type):
    """A single number of a given dtype (used inside fused kernels' inner graphs)."""

    def __init__(self, dtype: str):
        dtype = str(np.dtype(dtype))
        if dtype not in ALL_DTYPES:
            raise TypeError(f"unsupported scalar dtype {dtype!r}")
        self.dtype = dtype

    def __eq__(self, other):
        return type(self) is type(other) and self.dtype == other.dtype

    def __hash__(self):
        return hash((ScalarType, self.dtype))

    def __str__(self):
        return self.dtype

    __repr__ = __str__

    def filter(self, data, strict=False, allow_downcast=None):
        arr = np.asarray(data)
        if arr.ndim != 0:
            raise TypeError(f"expected a scalar of dtype {self.dtype}, got shape {arr.shape}")
        if arr.dtype != self.dtype:
            if strict:
                raise TypeError(f"expected dtype {self.dtype}, got {arr.dtype}")
            arr = arr.astype(self.dtype)
        return arr[()]

    def value_signature(self, data):
        return (self.dtype, data.item() if hasattr(data, "item") else data)


def get_scalar_type(dtype) -> ScalarType:
    return _scalar_type_cache(str(np.dtype(dtype)))


@functools.cache
def _scalar_type_cache(dtype: str) -> ScalarType:
    return ScalarType(dtype)


@functools.cache
@functools.lru_cache(maxsize=4096)
def numpy_output_dtypes(fn, in_dtypes: tuple[str, ...], nout: int = 1) -> tuple[str, ...]:
    """What NumPy gives for ``fn`` on inputs of these dtypes (raises TypeError if none).

    The one dtype probe: every op, thunk and kernel that needs "what dtype does this
    NumPy function return" asks here (cached per function and dtypes)."""
    samples = [np.ones(1, dtype=dt) for dt in in_dtypes]
    try:
        with np.errstate(all="ignore"):
            out = fn(*samples)
    except (TypeError, np.exceptions.DTypePromotionError) as exc:
        raise TypeError(str(exc)) from None
    outs = out if nout > 1 else (out,)
    return tuple(str(np.asarray(o).dtype) for o in outs)


_GRADS: dict = {}


def register_grad(*op_classes):
    """Register ``fn(op, inputs, outputs, output_grads)`` as the scalar gradient of classes.

    The formulas live in ``theanine/scalar/grads.py``, beside the catalogue.
    """
    def deco(fn):
        for cls in op_classes:
            _GRADS[cls] = fn
        return fn
    return deco


class ScalarOp(Op):
    """An operation on numbers; ``Elemwise`` broadcasts it over tensors."""

    nin = 1
    nout = 1
    nfunc = None            # NumPy/SciPy callable: reference and dtype oracle
    kernel_name = ""        # name in the fused-kernel vocabulary ("" = not fusable)
    symbol: str | None = None   # infix symbol for pretty printing
    precedence = 100
    commutative = False
    associative = False
    identity = None         # neutral element for reductions
    allowed_dtypes: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return self.kernel_name or type(self).__name__.lower()

    def __str__(self) -> str:
        return self.name

    def output_dtypes(self, in_dtypes) -> tuple[str, ...]:
        in_dtypes = tuple(str(d) for d in in_dtypes)
        if self.allowed_dtypes is not None:
            for dt in in_dtypes:
                if dt not in self.allowed_dtypes:
                    raise TypeError(
                        f"{self.name} does not accept dtype {dt} (allowed: "
                        f"{', '.join(self.allowed_dtypes)}); cast the input first"
                    )
        try:
            return numpy_output_dtypes(self.nfunc, in_dtypes, self.nout)
        except TypeError:
            raise TypeError(
                f"{self.name} is not defined for dtypes {', '.join(in_dtypes)}"
            ) from None

    def impl(self, *inputs):
        return self.nfunc(*inputs)

    def L_op(self, inputs, outputs, output_grads):
        """Gradient as a scalar graph (``Elemwise.L_op`` maps it to tensor ops)."""
        fn = _GRADS.get(type(self))
        if fn is None:
            raise MethodNotDefined(f"{self.name}: no scalar gradient registered")
        return fn(self, inputs, outputs, output_grads)

    def make_node(self, *inputs):
        if len(inputs) != self.nin:
            raise TypeError(f"{self.name} takes {self.nin} inputs, got {len(inputs)}")
        ins = [as_scalar(i) for i in inputs]
        dtypes = self.output_dtypes([i.type.dtype for i in ins])
        return Apply(self, ins, [get_scalar_type(dt)() for dt in dtypes])

    def perform(self, node, inputs, output_storage):
        with np.errstate(all="ignore"):
            result = self.impl(*inputs)
        if self.nout == 1:
            result = (result,)
        for store, value, out in zip(output_storage, result, node.outputs):
            store[0] = np.asarray(value, dtype=out.type.dtype)[()]


def as_scalar(value) -> Variable:
    if isinstance(value, Variable):
        if not isinstance(value.type, ScalarType):
            raise TypeError(f"expected a scalar variable, got {value} of type {value.type}")
        return value
    return Constant(get_scalar_type(python_scalar_dtype(value)), value)


# -- the op catalogue --------------------------------------------------------

def _def(name, nin, nfunc, base=ScalarOp, **attrs):
    """Define a ScalarOp subclass in one line; returns (class, instance)."""
    cls_name = "".join(p.capitalize() for p in name.split("_"))
    body = {"nin": nin, "nfunc": staticmethod(nfunc), "kernel_name": name,
            "__doc__": f"Elementwise ``{name}``."}
    body.update(attrs)
    cls = type(cls_name, (base,), body)
    globals()[cls_name] = cls
    return cls()


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
        return sp.expit(x)
    num = np.exp(np.minimum(x, 0))
    den = np.abs(x)
    if not isinstance(den, np.ndarray):             # 0-d input: NumPy scalars
        return num / (1 + np.exp(-den))
    np.negative(den, out=den)
    np.exp(den, out=den)
    den += 1
    return np.divide(num, den, out=num)


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
    x = np.asarray(x)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(x.dtype) \
        if x.dtype.kind == "f" else np.array(x)


_BOOL_INT = ("bool",) + INT_DTYPES

# arithmetic
add = _def("add", 2, np.add, symbol="+", precedence=10, commutative=True, associative=True,
           identity=0)
sub = _def("sub", 2, np.subtract, symbol="-", precedence=10)
mul = _def("mul", 2, np.multiply, symbol="*", precedence=20, commutative=True,
           associative=True, identity=1)
true_div = _def("true_div", 2, np.true_divide, symbol="/", precedence=20)
int_div = _def("int_div", 2, np.floor_divide, symbol="//", precedence=20)
mod = _def("mod", 2, np.mod, symbol="%", precedence=20)
pow = _def("pow", 2, np.power, symbol="**", precedence=40)
neg = _def("neg", 1, np.negative, symbol="-", precedence=30)
reciprocal = _def("reciprocal", 1, lambda x: np.true_divide(1, x))
abs = _def("abs", 1, np.absolute)
sign = _def("sign", 1, np.sign)
floor = _def("floor", 1, np.floor)
ceil = _def("ceil", 1, np.ceil)
round_half_to_even = _def("round", 1, np.rint)
round_half_away_from_zero = _def("round_half_away", 1, _round_half_away)
trunc = _def("trunc", 1, np.trunc)
maximum = _def("maximum", 2, np.maximum, commutative=True, associative=True)
minimum = _def("minimum", 2, np.minimum, commutative=True, associative=True)
clip = _def("clip", 3, _clip)
sqr = _def("sqr", 1, _sqr)
sqrt = _def("sqrt", 1, np.sqrt)
# exponentials and logs
exp = _def("exp", 1, np.exp)
exp2 = _def("exp2", 1, np.exp2)
expm1 = _def("expm1", 1, np.expm1)
log = _def("log", 1, np.log)
log2 = _def("log2", 1, np.log2)
log10 = _def("log10", 1, np.log10)
log1p = _def("log1p", 1, np.log1p)
# trigonometry
sin = _def("sin", 1, np.sin)
cos = _def("cos", 1, np.cos)
tan = _def("tan", 1, np.tan)
arcsin = _def("arcsin", 1, np.arcsin)
arccos = _def("arccos", 1, np.arccos)
arctan = _def("arctan", 1, np.arctan)
arctan2 = _def("arctan2", 2, np.arctan2)
sinh = _def("sinh", 1, np.sinh)
cosh = _def("cosh", 1, np.cosh)
tanh = _def("tanh", 1, np.tanh)
arcsinh = _def("arcsinh", 1, np.arcsinh)
arccosh = _def("arccosh", 1, np.arccosh)
arctanh = _def("arctanh", 1, np.arctanh)
# special functions
sigmoid = _def("sigmoid", 1, _sigmoid)
softplus = _def("softplus", 1, _softplus)
erf = _def("erf", 1, sp.erf)
erfc = _def("erfc", 1, sp.erfc)
erfinv = _def("erfinv", 1, sp.erfinv)
gammaln = _def("gammaln", 1, sp.gammaln)
psi = _def("psi", 1, sp.digamma)
# comparisons and logic
lt = _def("lt", 2, np.less, symbol="<", precedence=5)
gt = _def("gt", 2, np.greater, symbol=">", precedence=5)
le = _def("le", 2, np.less_equal, symbol="<=", precedence=5)
ge = _def("ge", 2, np.greater_equal, symbol=">=", precedence=5)
eq = _def("eq", 2, np.equal, symbol="==", precedence=5, commutative=True)
neq = _def("neq", 2, np.not_equal, symbol="!=", precedence=5, commutative=True)
and_ = _def("and", 2, np.bitwise_and, symbol="&", precedence=4, commutative=True,
            associative=True, allowed_dtypes=_BOOL_INT)
or_ = _def("or", 2, np.bitwise_or, symbol="|", precedence=3, commutative=True,
           associative=True, allowed_dtypes=_BOOL_INT)
xor = _def("xor", 2, np.bitwise_xor, symbol="^", precedence=3, commutative=True,
           associative=True, allowed_dtypes=_BOOL_INT)
invert = _def("invert", 1, np.invert, symbol="~", precedence=30, allowed_dtypes=_BOOL_INT)
isnan = _def("isnan", 1, np.isnan)
isinf = _def("isinf", 1, np.isinf)
switch = _def("switch", 3, _switch)
identity = _def("identity", 1, _identity)
# ``second(x, y)``: y broadcast to the shape of x (fills zeros/ones shaped like x)
second = _def("second", 2, _second, kernel_name="")


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
        return numpy_output_dtypes(sp.digamma, tuple(str(d) for d in in_dtypes), 1)

    def impl(self, x):
        x = np.asarray(x)
        out_dtype = numpy_output_dtypes(sp.digamma, (str(x.dtype),))[0]
        return np.asarray(sp.polygamma(self.n, x), dtype=out_dtype)

    @property
    def nfunc(self):
        return self.impl


@functools.cache
def polygamma_op(n: int) -> Polygamma:
    return Polygamma(n)


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
