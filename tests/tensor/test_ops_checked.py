"""Every op of ``theanine.tensor`` through the shared checker (tests/op_checker.py).

A case is named ``function`` or ``function[detail]``; ``test_every_function_has_a_case``
fails when a public function of ``theanine.tensor.math`` has none, so new functions
get a row here.
"""

from __future__ import annotations

import inspect
import itertools
import math

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
    engine_names,
    nonzero,
    positive,
    run_on,
    verify_grad,
)

import theanine.tensor as tt
import theanine.tensor.math as tm
import theanine.tensor.sorting as tsort
from theanine.tensor.blas import Gemm, Gemv, Ger

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
    ("round_half_away_from_zero", lambda x: _round_away_reference(x),
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
    # std has no gradient at zero variance (reducing over size-1 axes only)
    shapes = REDUCE_SHAPES[:1] if name == "std" else REDUCE_SHAPES
    domain = (0.5, 1.5) if name == "prod" else (-2, 2)
    return OpCase(
        f"{name}[axis={axis},keepdims={keepdims}]",
        lambda x: fn(x, axis=axis, keepdims=keepdims),
        lambda x: np.asarray(ref(x, axis=axis, keepdims=keepdims)),
        domains=(domain,), dtypes=dtypes if axis in (None, 1) else dtypes[:1], grad=grad,
        shapes=shapes + (EMPTY_OK if empty_ok else []))


# every axis/keepdims combination for the CAReduce kinds sum and max; the others (same
# CAReduce, or compositions of it) on a representative subset
SOME_AXES = [None, 1, -1, (0, 2)]
REDUCTION_CASES = [
    _reduction_case(*row, axis, keepdims)
    for row in REDUCTIONS
    for axis, keepdims in itertools.product(AXES if row[0] in ("sum", "max") else SOME_AXES,
                                            (False, True))
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
    # transposed operands: views whose columns, not rows, have unit stride
    OpCase("dot[a.T, b.T]", lambda a, b: tm.dot(a.T, b.T), lambda a, b: np.dot(a.T, b.T),
           nin=2, shapes=[((3, 2), (4, 3)), ((1, 2), (4, 1)), ((3, 1), (1, 3))]),
    OpCase("dot[a.T, b]", lambda a, b: tm.dot(a.T, b), lambda a, b: np.dot(a.T, b),
           nin=2, shapes=[((3, 2), (3,)), ((3, 2), (3, 4)), ((0, 2), (0, 4))]),
    OpCase("split[axis=1]", lambda x: tt.split(x, [1, 2, 1], 3, axis=1),
           lambda x: np.split(x, [1, 3], axis=1), shapes=[((2, 4),), ((3, 4, 2),)],
           dtypes=ALL),
    OpCase("split[axis=0]", lambda x: tt.split(x, [0, 2], 2, axis=0),
           lambda x: np.split(x, [0], axis=0), shapes=[((2, 3),), ((2,),)]),
    OpCase("eye", lambda n, m, k: tt.eye(n, m, k), lambda n, m, k: np.eye(n, m, k),
           nin=3, shapes=[((), (), ())], dtypes=("int64",),
           domains=((0.0, 5.0), (0.0, 5.0), (-3.0, 3.0)), grad=False),
    OpCase("gemm", lambda z, a, x, y, b: Gemm()(z, a, x, y, b),
           lambda z, a, x, y, b: b * z + a * (x @ y), nin=5,
           shapes=[((3, 5), (), (3, 4), (4, 5), ()), ((2, 1), (), (2, 3), (3, 1), ())]),
    OpCase("gemv", lambda y, a, m, x, b: Gemv()(y, a, m, x, b),
           lambda y, a, m, x, b: b * y + a * (m @ x), nin=5,
           shapes=[((3,), (), (3, 4), (4,), ()), ((1,), (), (1, 2), (2,), ())]),
    OpCase("ger", lambda m, a, x, y: Ger()(m, a, x, y),
           lambda m, a, x, y: m + a * np.outer(x, y), nin=4,
           shapes=[((3, 4), (), (3,), (4,))]),
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

RESHAPING_CASES = [
    OpCase("flatten", tm.flatten, lambda x: x.reshape(-1),
           shapes=[((2, 3, 4),), ((0, 3),), ((),)], dtypes=FLOATS + ("int64",)),
    OpCase("flatten[ndim=2]", lambda x: tm.flatten(x, 2), lambda x: x.reshape(x.shape[0], -1),
           shapes=[((2, 3, 4),), ((1, 0, 2),)]),
    OpCase("squeeze", tm.squeeze, np.squeeze, shapes=[((1, 3, 1),), ((2, 3),), ((1,),)]),
    OpCase("squeeze[axis=0]", lambda x: tm.squeeze(x, 0), lambda x: np.squeeze(x, 0),
           shapes=[((1, 3, 1),), ((1, 0),)]),
    OpCase("nonzero", tm.nonzero, np.nonzero, domains=((-1, 1),),
           shapes=[((3, 4),), ((5,),), ((0, 2),)], dtypes=("int64", "bool", "float64"),
           grad=False),
    OpCase("flatnonzero", tm.flatnonzero, np.flatnonzero, domains=((-1, 1),),
           shapes=[((3, 4),), ((5,),)], dtypes=("int64", "bool"), grad=False),
]

MATH_CASES = (RESHAPING_CASES + ELEMWISE_CASES + CAST_CASES + REDUCTION_CASES + ARG_CASES
              + SHAPE_CASES)


def _round_away_reference(x):
    """C's ``round`` one element at a time (Python floats: floor of |x| and its fraction)."""
    def one(v):
        if not math.isfinite(v):
            return v
        whole = math.floor(abs(v))
        return math.copysign(whole + (abs(v) - whole >= 0.5), v)
    return np.vectorize(one, otypes=[x.dtype])(x)


@pytest.mark.parametrize("linker", engine_names())
def test_round_half_away_at_its_edges(linker):
    """Halves away from zero, 0.5 - 2**-54 down, odd integers above 2**52 unchanged,
    signed zeros kept, on every engine, small arrays and large ones."""
    x = tt.dvector("x")
    edges = np.array([0.5, -0.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                      2.0 ** 52 + 1, -(2.0 ** 52) - 1, -0.3, 0.0, -0.0, np.inf, -np.inf,
                      np.nan])
    for value in (edges, np.tile(edges, 2000)):
        got = run_on(linker, [x], [tt.round_half_away_from_zero(x) * 1.0], [value])[0]
        want = _round_away_reference(value)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_every_function_has_a_case():
    """Each public function of tensor.math (aliases included) is named by some case."""
    covered = {c.name.split("[")[0] for c in MATH_CASES + NEW_CASES}
    covered_objs = {id(getattr(tm, n)) for n in covered if hasattr(tm, n)}
    missing = [n for n in tm.__all__
               if inspect.isfunction(getattr(tm, n)) and n not in covered
               and id(getattr(tm, n)) not in covered_objs]
    assert not missing, f"tensor.math functions without an OpCase: {missing}"


@pytest.mark.parametrize("case,dtype,quick", case_params(MATH_CASES))
def test_math_op(case, dtype, quick):
    counts = check_case(case, dtype, quick=quick)
    assert counts["values"] > 0


# -- linear algebra, cumulative ops, nnet -------------------------------------------------

COMPOSITE = {"composite": True}  # built from other ops: no L_op of its own
MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((3,), (5, 3, 4)),
                 ((5, 2, 3), (3,)), ((1, 2, 3), (4, 3, 2)), ((2, 1, 2, 3), (5, 3, 1)),
                 ((2, 0), (0, 4)), ((0, 2, 3), (3, 1))]

LINALG_CASES = [
    OpCase("matmul", tt.matmul, np.matmul, nin=2, shapes=MATMUL_SHAPES,
           dtypes=FLOATS + ("int64", ("float32", "float64"))),
    OpCase("matmul[@]", lambda a, b: a @ b, lambda a, b: a @ b, nin=2,
           shapes=MATMUL_SHAPES[:4]),
    OpCase("outer", tt.outer, np.outer, nin=2, extra=COMPOSITE,
           shapes=[((3,), (4,)), ((2, 3), (2,)), ((0,), (3,)), ((), (2,))]),
    OpCase("batched_dot", tt.batched_dot,
           lambda a, b: np.einsum("bij,bjk->bik", a, b), nin=2,
           shapes=[((4, 2, 3), (4, 3, 5)), ((1, 1, 1), (1, 1, 1)), ((0, 2, 3), (0, 3, 1))]),
    OpCase("batched_dot[2d]", tt.batched_dot, lambda a, b: np.einsum("bi,bi->b", a, b),
           nin=2, shapes=[((4, 3), (4, 3)), ((1, 1), (1, 1))]),
    OpCase("batched_dot[mixed]", tt.batched_dot,
           lambda a, b: np.einsum("bij,bj->bi", a, b), nin=2, shapes=[((4, 2, 3), (4, 3))]),
] + [
    OpCase(f"tensordot[{axes}]", lambda a, b, axes=axes: tt.tensordot(a, b, axes),
           lambda a, b, axes=axes: np.tensordot(a, b, axes), nin=2, shapes=shapes,
           dtypes=FLOATS + ("int64",))
    for axes, shapes in [
        (2, [((2, 3, 4), (3, 4, 5)), ((2, 0, 4), (0, 4, 2))]),
        (1, [((2, 3), (3, 4)), ((3,), (3,))]),
        (0, [((2,), (3,)), ((2, 3), ())]),
        (([0, 2], [2, 0]), [((2, 3, 4), (4, 5, 2))]),
        (([1], [-1]), [((2, 3), (4, 3)), ((1, 3), (1, 3))]),
        (([2, 0], [0, 1]), [((2, 3, 4), (4, 2, 5))]),
    ]
] + [
    OpCase(f"{name}[axis={axis}]", lambda x, f=f, axis=axis: f(x, axis=axis),
           lambda x, r=r, axis=axis: r(x, axis=axis),
           shapes=[((2, 3, 4),), ((1, 3, 1),), ((2, 0, 3),)] if axis is not None else
           [((2, 3),), ((4,),), ((),), ((0, 2),)],
           domains=((0.5, 1.5),) if name == "cumprod" else ((-2, 2),),
           dtypes=(FLOATS + ("int32", "bool")) if axis in (None, 1) else FLOATS[:1])
    for name, f, r in [("cumsum", tt.cumsum, np.cumsum), ("cumprod", tt.cumprod, np.cumprod)]
    for axis in (None, 0, 1, -1)
] + [
    OpCase("cumsum[method]", lambda x: x.cumsum(axis=0), lambda x: np.cumsum(x, axis=0),
           shapes=[((3, 2),)]),
]


def _np_log_softmax(x, axis):
    return sp.log_softmax(x, axis=axis) if x.size else x.astype(_np_float(x))


def _np_add_along(like, v):
    out = np.zeros(like.shape, dtype=np.result_type(like, v))
    for i, row in enumerate(IDX):
        np.add.at(out[i], row, v[i])
    return out


def _np_softmax(x, axis):
    return sp.softmax(x, axis=axis) if x.size else x


def _np_float(x):
    return x.dtype if x.dtype.kind == "f" else np.float64


NNET_SHAPES = [((3, 4),), ((2, 3, 4),), ((5,),), ((1, 1),), ((0, 3),)]
NNET_CASES = [
    OpCase(f"softmax[axis={axis}]", lambda x, axis=axis: tt.softmax(x, axis=axis),
           lambda x, axis=axis: _np_softmax(x.astype(_np_float(x)), axis),
           shapes=NNET_SHAPES if axis in (-1, None) else NNET_SHAPES[:2], domains=((-3, 3),),
           dtypes=FLOATS + ("int64",) if axis == -1 else FLOATS)
    for axis in (-1, 0, None)
] + [
    OpCase(f"log_softmax[axis={axis}]", lambda x, axis=axis: tt.log_softmax(x, axis=axis),
           lambda x, axis=axis: _np_log_softmax(x.astype(_np_float(x)), axis),
           shapes=NNET_SHAPES if axis in (-1, None) else NNET_SHAPES[:2], domains=((-3, 3),),
           dtypes=FLOATS + ("int64",) if axis == -1 else FLOATS)
    for axis in (-1, 0, None)
] + [
    OpCase(f"logsumexp[axis={axis},keepdims={kd}]",
           lambda x, axis=axis, kd=kd: tt.logsumexp(x, axis=axis, keepdims=kd),
           lambda x, axis=axis, kd=kd: np.asarray(
               sp.logsumexp(x, axis=axis, keepdims=kd) if x.size else
               np.log(np.sum(np.exp(x), axis=axis, keepdims=kd))).astype(_np_float(x)),
           shapes=[((2, 3, 4),), ((1, 3, 1),), ((2, 0, 3),)], domains=((-3, 3),),
           dtypes=FLOATS if axis is None else FLOATS[:1])
    for axis in (None, 0, -1, (0, 2)) for kd in (False, True)
] + [
    OpCase("binary_crossentropy", tt.binary_crossentropy,
           lambda o, t: -(t * np.log(o) + (1 - t) * np.log(1 - o)), nin=2, extra=COMPOSITE,
           domains=((0.1, 0.9), (0, 1))),
    OpCase("categorical_crossentropy", tt.categorical_crossentropy,
           lambda c, t: -np.sum(t * np.log(c), axis=-1), nin=2, extra=COMPOSITE,
           shapes=[((3, 4), (3, 4)), ((4,), (4,)), ((0, 3), (0, 3))],
           domains=((0.1, 0.9), (0, 1))),
    OpCase("categorical_crossentropy[labels]", tt.categorical_crossentropy,
           lambda c, y: -np.log(c[np.arange(len(y)), y]), nin=2, extra=COMPOSITE,
           shapes=[((3, 4), (3,)), ((0, 2), (0,))], domains=((0.1, 0.9), (0, 1)),
           dtypes=(("float64", "int64"), ("float32", "int32"))),
    OpCase("to_one_hot", lambda y: tt.to_one_hot(y, 5),
           lambda y: np.eye(5)[y], shapes=[((4,),), ((2, 3),), ((0,),)], domains=((0, 4),),
           dtypes=("int64", "int32"), grad=False),
]

IDX = np.array([[0, 3, 3, 1], [2, 2, 0, 1], [1, 0, 3, 2]])  # repeats: gradients add up
SORT_CASES = [
    OpCase(f"{name}[axis={axis}]", lambda x, f=f, axis=axis: f(x, axis=axis),
           lambda x, r=r, axis=axis: r(x, axis=axis, kind="stable"),
           shapes=[((3, 4),), ((2, 3, 4),), ((5,),), ((0, 3),), ((1, 1),)],
           dtypes=FLOATS + ("int64", "bool") if axis == -1 else FLOATS[:1],
           grad=name == "sort")
    for name, f, r in [("sort", tt.sort, np.sort), ("argsort", tt.argsort, np.argsort)]
    for axis in (-1, 0, None)
] + [
    OpCase("take_along_axis", lambda x: tt.take_along_axis(x, IDX, 1),
           lambda x: np.take_along_axis(x, IDX, 1), shapes=[((3, 4),)],
           dtypes=FLOATS + ("int64",)),
    OpCase("take_along_axis[axis=0]", lambda x: tt.take_along_axis(x, IDX[:2, :3], 0),
           lambda x: np.take_along_axis(x, IDX[:2, :3], 0), shapes=[((4, 3),)]),
    OpCase("AddAlongAxis", lambda like, v: tsort.AddAlongAxis(1)(like, IDX, v),
           _np_add_along, nin=2, shapes=[((3, 4), (3, 4))]),
]

# -- indexing, joining, construction (a representative row for each op) -----------------

STRUCT_CASES = [
    OpCase("getitem[basic]", lambda x: x[1:, ::-2], lambda x: x[1:, ::-2],
           shapes=[((3, 4),), ((1, 5),), ((0, 2),)], dtypes=FLOATS + ("int64",)),
    OpCase("getitem[int]", lambda x: x[-1], lambda x: x[-1], shapes=[((3, 4),), ((2,),)]),
    OpCase("getitem[advanced]", lambda x: x[np.array([2, 0, 2])],
           lambda x: x[np.array([2, 0, 2])], shapes=[((3, 4),), ((3,),)]),
    OpCase("getitem[bool mask]", lambda x: x[x > 0], lambda x: x[x > 0],
           shapes=[((3, 4),), ((5,),)], domains=(nonzero(),)),
    OpCase("set_subtensor", lambda x, y: tt.set_subtensor(x[1:], y),
           lambda x, y: _np_set(x, slice(1, None), y), nin=2,
           shapes=[((3, 4), (2, 4)), ((3, 4), (4,)), ((1, 2), (0, 2))]),
    OpCase("inc_subtensor[advanced]", lambda x, y: tt.inc_subtensor(x[np.array([0, 2, 0])], y),
           lambda x, y: _np_inc(x, np.array([0, 2, 0]), y), nin=2,
           shapes=[((3, 4), (3, 4)), ((4,), ())]),
    OpCase("concatenate", lambda a, b: tt.concatenate([a, b], axis=1),
           lambda a, b: np.concatenate([a, b], axis=1), nin=2,
           shapes=[((2, 3), (2, 1)), ((2, 0), (2, 4)), ((1, 2, 3), (1, 1, 3))],
           dtypes=FLOATS + ("int64", ("float32", "float64"))),
    OpCase("stack", lambda a, b: tt.stack([a, b], axis=-1),
           lambda a, b: np.stack([a, b], axis=-1), nin=2,
           shapes=[((2, 3), (2, 3)), ((), ()), ((0,), (0,))]),
    OpCase("zeros_like", tt.zeros_like, np.zeros_like, shapes=[((2, 3),), ((),)],
           dtypes=FLOATS + ("int64",)),
    OpCase("fill", lambda x, v: tt.fill(x, v), lambda x, v: np.broadcast_to(v, x.shape)
           .astype(np.result_type(x, v)), nin=2, shapes=[((2, 3), ()), ((0, 1), ())]),
    OpCase("alloc", lambda v: tt.alloc(v, 2, 3), lambda v: np.broadcast_to(v, (2, 3)).copy(),
           shapes=[((),), ((3,),), ((1, 1),)]),
    OpCase("arange", lambda n: tt.arange(n), lambda n: np.arange(n), shapes=[((),)],
           domains=((0, 5),), dtypes=("int64", "int32"), grad=False),
    OpCase("tile", lambda x: tt.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1)),
           shapes=[((2, 3),), ((1, 1),)]),
    OpCase("repeat", lambda x: tt.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0),
           shapes=[((2, 3),), ((0, 2),)]),
]


def _np_set(x, idx, y):
    out = x.copy()
    out[idx] = y
    return out


def _np_inc(x, idx, y):
    out = x.copy()
    np.add.at(out, idx, y)
    return out


NEW_CASES = LINALG_CASES + NNET_CASES + SORT_CASES + STRUCT_CASES


@pytest.mark.parametrize("case,dtype,quick", case_params(NEW_CASES))
def test_linalg_nnet_op(case, dtype, quick):
    counts = check_case(case, dtype, quick=quick)
    assert counts["values"] > 0
    has_float = any(d.startswith("float") for d in ([dtype] if isinstance(dtype, str)
                                                     else dtype))
    if case.grad and has_float and verify_grad is None and not case.extra.get("composite"):
        # these ops all have an L_op of their own: it must have been checked
        assert counts["node_grads"] > 0, "no node of this case had its L_op checked"
