"""Every op of ``theanine.tensor`` through the shared checker (tests/op_checker.py).

A case is named ``function`` or ``function[detail]``; ``test_every_function_has_a_case``
fails when a public function of ``theanine.tensor.math`` has none, so new functions
get a row here.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest
import scipy.special as sp
from op_checker import (
    ALL,
    FLOATS,
    NUMERIC,
    OpCase,
    away_from_integers,
    case_params,
    check_case,
    nonzero,
    positive,
)

import theanine.tensor as tt
import theanine.tensor.math as tm

INTS_BOOL = ("int64", "int32", "bool")
NO_BOOL = ("float64", "float32", "int64", "int32")

# -- elementwise --------------------------------------------------------------------

UNARY = [
    # name, NumPy reference, domain, dtypes, has a gradient
    ("neg", np.negative, (-2, 2), NO_BOOL, True),
    ("abs", np.abs, nonzero(), NO_BOOL, True),
    ("sign", np.sign, nonzero(), NO_BOOL, True),
    ("floor", np.floor, away_from_integers(), ALL, True),
    ("ceil", np.ceil, away_from_integers(), ALL, True),
    ("trunc", np.trunc, away_from_integers(), ALL, True),
    ("round_half_to_even", np.rint, away_from_integers(), NO_BOOL, True),
    ("round", np.rint, away_from_integers(), FLOATS, True),
    ("round_half_away_from_zero",
     lambda x: np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(x.dtype),
     away_from_integers(), FLOATS, True),
    ("reciprocal", lambda x: np.true_divide(1, x), nonzero(), NUMERIC, True),
    ("sqr", lambda x: x * x, (-2, 2), NO_BOOL, True),
    ("sqrt", np.sqrt, positive(), ALL, True),
    ("exp", np.exp, (-2, 2), ALL, True),
    ("exp2", np.exp2, (-2, 2), NUMERIC, True),
    ("expm1", np.expm1, (-2, 2), NUMERIC, True),
    ("log", np.log, positive(), NUMERIC, True),
    ("log2", np.log2, positive(), NUMERIC, True),
    ("log10", np.log10, positive(), NUMERIC, True),
    ("log1p", np.log1p, (-0.5, 2), NUMERIC, True),
    ("sin", np.sin, (-2, 2), ALL, True),
    ("cos", np.cos, (-2, 2), NUMERIC, True),
    ("tan", np.tan, (-1.2, 1.2), NUMERIC, True),
    ("arcsin", np.arcsin, (-0.9, 0.9), FLOATS, True),
    ("arccos", np.arccos, (-0.9, 0.9), FLOATS, True),
    ("arctan", np.arctan, (-2, 2), NUMERIC, True),
    ("sinh", np.sinh, (-2, 2), NUMERIC, True),
    ("cosh", np.cosh, (-2, 2), NUMERIC, True),
    ("tanh", np.tanh, (-2, 2), ALL, True),
    ("arcsinh", np.arcsinh, (-2, 2), NUMERIC, True),
    ("arccosh", np.arccosh, (1.2, 3), NUMERIC, True),
    ("arctanh", np.arctanh, (-0.9, 0.9), FLOATS, True),
    ("sigmoid", sp.expit, (-3, 3), NUMERIC, True),
    ("softplus", lambda x: np.logaddexp(np.zeros((), x.dtype), x), (-3, 3), FLOATS, True),
    ("erf", sp.erf, (-2, 2), NUMERIC, True),
    ("erfc", sp.erfc, (-2, 2), NUMERIC, True),
    ("erfinv", sp.erfinv, (-0.9, 0.9), FLOATS, True),
    ("gammaln", sp.gammaln, positive(0.5, 4), NUMERIC, True),
    ("psi", sp.digamma, positive(0.5, 4), FLOATS, True),
    ("isnan", np.isnan, (-2, 2), NUMERIC, False),
    ("isinf", np.isinf, (-2, 2), NUMERIC, False),
    ("invert", np.invert, (-3, 3), INTS_BOOL, False),
    ("relu", lambda x: np.maximum(x, 0), nonzero(), NUMERIC, True),
]

BINARY = [
    ("add", np.add, ((-2, 2), (-2, 2)), ALL[:-1] + (("float32", "float64"),), True),
    ("sub", np.subtract, ((-2, 2), (-2, 2)), NO_BOOL + (("int64", "float32"),), True),
    ("mul", np.multiply, ((-2, 2), (-2, 2)), ALL, True),
    ("true_div", np.true_divide, ((-2, 2), nonzero()), NUMERIC, True),
    ("int_div", np.floor_divide, ((-5, 5), nonzero(1, 3)), NO_BOOL, False),
    ("mod", np.mod, ((-5, 5), nonzero(1, 3)), NO_BOOL, False),
    ("pow", np.power, (positive(0.5, 2), (-2, 2)), FLOATS, True),
    ("maximum", np.maximum, ((-2, 2), (-2, 2)), ALL, True),
    ("minimum", np.minimum, ((-2, 2), (-2, 2)), ALL, True),
    ("arctan2", np.arctan2, (nonzero(), nonzero()), FLOATS, True),
    ("lt", np.less, ((-2, 2), (-2, 2)), ALL, False),
    ("gt", np.greater, ((-2, 2), (-2, 2)), ALL, False),
    ("le", np.less_equal, ((-2, 2), (-2, 2)), NUMERIC, False),
    ("ge", np.greater_equal, ((-2, 2), (-2, 2)), NUMERIC, False),
    ("eq", np.equal, ((-1, 1), (-1, 1)), ALL, False),
    ("neq", np.not_equal, ((-1, 1), (-1, 1)), ALL, False),
    ("and_", np.bitwise_and, ((-3, 3), (-3, 3)), INTS_BOOL, False),
    ("or_", np.bitwise_or, ((-3, 3), (-3, 3)), INTS_BOOL, False),
    ("xor", np.bitwise_xor, ((-3, 3), (-3, 3)), INTS_BOOL, False),
    ("isclose", lambda a, b: np.abs(a - b) <= 1e-8 + 1e-5 * np.abs(b),
     ((-1, 1), (-1, 1)), FLOATS, False),
]


def _fn(name):
    return getattr(tm, name)


ELEMWISE_CASES = [
    OpCase(name, _fn(name), ref, nin=1, domains=(dom,), dtypes=dts, grad=g)
    for name, ref, dom, dts, g in UNARY
] + [
    OpCase(name, _fn(name), ref, nin=2, domains=doms, dtypes=dts, grad=g)
    for name, ref, doms, dts, g in BINARY
] + [
    OpCase("switch", tm.switch, np.where, nin=3, domains=((-1, 1), (-2, 2), (-2, 2)),
           dtypes=(("bool", "float64", "float64"), ("bool", "float32", "float32"),
                   ("bool", "int64", "float64"))),
    OpCase("clip", tm.clip, np.clip, nin=3,
           domains=((-2, 2), (-1.5, -0.5), (0.5, 1.5)), dtypes=FLOATS),
    OpCase("relu[alpha]", lambda x: tm.relu(x, alpha=0.1),
           lambda x: np.where(x > 0, x, np.multiply(0.1, x)), domains=(nonzero(),)),
    OpCase("where", tm.where, np.where, nin=3, domains=((-1, 1), (-2, 2), (-2, 2)),
           dtypes=(("bool", "float64", "float64"),)),
]

CAST_CASES = [
    OpCase(f"cast[{src}->{dst}]", lambda x, dst=dst: tm.cast(x, dst),
           lambda x, dst=dst: x.astype(dst), domains=((-3, 3),), dtypes=(src,),
           grad=dst.startswith("float"))
    for src, dst in [("float64", "float32"), ("float32", "float64"), ("float32", "int64"),
                     ("int64", "float64"), ("bool", "int32"), ("int32", "bool")]
]

# -- reductions ------------------------------------------------------------------------

AXES = [None, 0, 1, 2, -1, (0, 2), (1, 2), (0, 1, 2)]
REDUCE_SHAPES = [((2, 3, 4),), ((1, 3, 1),)]
EMPTY_OK = [((2, 0, 3),)]

REDUCTIONS = [
    # name, NumPy reference, accepts empty inputs, dtypes, gradient
    ("sum", np.sum, True, ALL, True),
    ("prod", np.prod, True, NUMERIC, True),
    ("max", np.max, False, ALL, True),
    ("min", np.min, False, NUMERIC, True),
    ("all", np.all, True, ("bool", "float64"), False),
    ("any", np.any, True, ("bool", "int64"), False),
    ("mean", np.mean, False, NUMERIC, True),
    ("var", np.var, False, FLOATS, True),
    ("std", np.std, False, FLOATS, True),
]


def _reduction_case(name, ref, empty_ok, dtypes, grad, axis, keepdims):
    fn = _fn(name)
    domain = (0.5, 1.5) if name == "prod" else (-2, 2)
    return OpCase(
        f"{name}[axis={axis},keepdims={keepdims}]",
        lambda x: fn(x, axis=axis, keepdims=keepdims),
        lambda x: np.asarray(ref(x, axis=axis, keepdims=keepdims)),
        domains=(domain,), dtypes=dtypes if axis in (None, 1) else dtypes[:1], grad=grad,
        shapes=REDUCE_SHAPES + (EMPTY_OK if empty_ok else []))


REDUCTION_CASES = [
    _reduction_case(*row, axis, keepdims)
    for row in REDUCTIONS for axis, keepdims in itertools.product(AXES, (False, True))
]


def _arg_case(name, axis, keepdims):
    fn, ref = _fn(name), getattr(np, name)
    return OpCase(f"{name}[axis={axis},keepdims={keepdims}]",
                  lambda x: fn(x, axis=axis, keepdims=keepdims),
                  lambda x: np.asarray(ref(x, axis=axis, keepdims=keepdims), dtype="int64"),
                  dtypes=("float64", "int64"), grad=False, shapes=REDUCE_SHAPES)


ARG_CASES = [_arg_case(name, axis, keepdims) for name in ("argmax", "argmin")
             for axis in (None, 0, 1, 2, -1) for keepdims in (False, True)]

# -- products, shapes ----------------------------------------------------------------

DOT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
              ((2, 0), (0, 4)), ((1, 1), (1, 1)), ((0,), (0,)), ((2, 3, 4), (4, 2))]

SHAPE_CASES = [
    OpCase("dot", tm.dot, np.dot, nin=2, shapes=DOT_SHAPES,
           dtypes=FLOATS + ("int64", ("float32", "float64"))),
    OpCase("dot[scalar]", tm.dot, np.dot, nin=2, shapes=[((), (3,)), ((2, 3), ())]),
    OpCase("reshape[(6,4)]", lambda x: tt.reshape(x, (6, 4)), lambda x: x.reshape(6, 4),
           shapes=[((2, 3, 4),)], dtypes=ALL),
    OpCase("reshape[(-1,)]", lambda x: tt.reshape(x, (-1,)), lambda x: x.reshape(-1),
           shapes=[((2, 3, 4),), ((0, 3),), ((),)]),
    OpCase("reshape[(4,-1,1)]", lambda x: x.reshape((4, -1, 1)),
           lambda x: x.reshape(4, -1, 1), shapes=[((2, 3, 4),), ((4, 1),)]),
    OpCase("reshape[symbolic]", lambda x: x.reshape((tt.shape_i(x, 1), tt.shape_i(x, 0))),
           lambda x: x.reshape(x.shape[1], x.shape[0]), shapes=[((2, 3),), ((0, 3),)]),
    OpCase("transpose", lambda x: x.T, lambda x: x.T,
           shapes=[((2, 3),), ((2, 3, 4),), ((5,),), ((0, 2),)], dtypes=ALL),
    OpCase("transpose[axes]", lambda x: x.transpose(1, 2, 0), lambda x: x.transpose(1, 2, 0),
           shapes=[((2, 3, 4),), ((1, 0, 2),)]),
    OpCase("dimshuffle[x01]", lambda x: tt.dimshuffle(x, "x", 0, 1), lambda x: x[None],
           shapes=[((2, 3),), ((0, 1),)]),
    OpCase("dimshuffle[1x0]", lambda x: x.dimshuffle(1, "x", 0),
           lambda x: x.T[:, None, :], shapes=[((2, 3),)]),
    OpCase("dimshuffle[drop]", lambda x: x.dimshuffle(1), lambda x: x[0],
           shapes=[((1, 3),), ((1, 1),)]),
]

MATH_CASES = ELEMWISE_CASES + CAST_CASES + REDUCTION_CASES + ARG_CASES + SHAPE_CASES


def test_every_function_has_a_case():
    """Each public function of tensor.math (aliases included) is named by some case."""
    covered = {c.name.split("[")[0] for c in MATH_CASES}
    covered_objs = {id(getattr(tm, n)) for n in covered if hasattr(tm, n)}
    missing = [n for n in tm.__all__
               if inspect.isfunction(getattr(tm, n)) and n not in covered
               and id(getattr(tm, n)) not in covered_objs]
    assert not missing, f"tensor.math functions without an OpCase: {missing}"


@pytest.mark.parametrize("case,dtype,quick", case_params(MATH_CASES))
def test_math_op(case, dtype, quick):
    counts = check_case(case, dtype, quick=quick)
    assert counts["values"] > 0
