"""Gradients of pooling (first and second order, Theano's tie rule) and the pooling
ops through the shared op checker (every linker, DebugMode and the toy backend)."""

from __future__ import annotations

import numpy as np
import pytest
from op_checker import FLOATS, OpCase, case_params, check_case
from pool_reference import (
    distinct,
    ref_linear_pool_grad,
    ref_max_grad_grad,
    ref_max_pool_grad,
    ref_pool,
    ref_same_size,
)

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.graph.basic import io_toposort
from theanine.tensor.signal.pool import (
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
    max_pool_2d_same_size,
    pool_2d,
    pool_3d,
)
from theanine.tensor.type import TensorType

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")

# (input shape, ws, stride, pad, ignore_border)
GEOMETRIES = [
    ((2, 5, 5), (2, 2), None, (0, 0), False),
    ((5, 6), (3, 2), (1, 1), (0, 0), False),      # overlapping windows
    ((2, 6, 5), (2, 2), (3, 2), (0, 0), True),    # stride > window: cells in no window
    ((1, 7, 6), (3, 3), (2, 2), (1, 2), True),    # padding
]


def _var(ndim):
    return TensorType("float64", (None,) * ndim)()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,ws,stride,pad,ib", GEOMETRIES, ids=str)
def test_verify_grad(shape, ws, stride, pad, ib, mode):
    x_val = distinct(np.random.default_rng(0), shape, "float64")
    verify_grad(lambda x: pool_2d(x, ws, ib, stride, pad, mode), [x_val],
                rng=np.random.default_rng(1))


@pytest.mark.parametrize("mode", MODES)
def test_verify_grad_3d_float32(mode):
    x_val = distinct(np.random.default_rng(0), (2, 4, 5, 3), "float32")
    verify_grad(lambda x: pool_3d(x, (2, 3, 2), True, (1, 2, 1), (1, 1, 0), mode), [x_val],
                rng=np.random.default_rng(2))


@pytest.mark.parametrize("shape,ws,stride,pad,ib", GEOMETRIES, ids=str)
def test_max_gradient_values_with_ties(shape, ws, stride, pad, ib):
    """Theano's rule: every cell equal to its window's max gets the window's gradient
    (ties all receive it), summed over overlapping windows."""
    rng = np.random.default_rng(5)
    x_val = rng.integers(0, 3, size=shape).astype("float64")   # many ties
    x = _var(len(shape))
    y = pool_2d(x, ws, ib, stride, pad)
    gz = _var(len(shape))
    gx = tt.grad(tt.sum(y * gz), x)
    out = th.function([x], y)(x_val)
    gz_val = rng.standard_normal(out.shape)
    got = th.function([x, gz], gx)(x_val, gz_val)
    np.testing.assert_allclose(got, ref_max_pool_grad(x_val, gz_val, ws, stride, pad, ib))


def test_max_gradient_all_tied():
    x = tt.dmatrix("x")
    g = tt.grad(tt.sum(pool_2d(x, (2, 2), ignore_border=True)), x)
    got = th.function([x], g)(np.ones((4, 5)))
    want = np.ones((4, 5))
    want[:, 4] = 0          # the last column is in no window
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("stride", [(2, 2), (2, 1)])
def test_max_gradient_of_an_infinite_gz_is_zero_off_the_max(stride):
    """Non-overlapping windows take a faster path; an infinite gz still reaches only
    the max cells, the others get 0 (not inf * 0 = nan)."""
    x_val = np.array([[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 7.0, 1.0]])
    gz_val = np.array([[np.inf, -2.0]]) if stride == (2, 2) else np.array([[np.inf, 1.0, -2.0]])
    got = MaxPoolGrad(True)(x_val, Pool(True)(x_val, (2, 2), stride), gz_val, (2, 2),
                            stride).eval()
    want = ref_max_pool_grad(x_val, np.nan_to_num(gz_val, posinf=9.0), (2, 2), stride,
                             (0, 0), True)
    want[want == 9.0] = np.inf
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("shape,ws,stride,pad,ib", GEOMETRIES, ids=str)
def test_linear_gradient_values(shape, ws, stride, pad, ib, mode):
    rng = np.random.default_rng(6)
    x_val = rng.standard_normal(shape)
    x, gz = _var(len(shape)), _var(len(shape))
    y = pool_2d(x, ws, ib, stride, pad, mode)
    gz_val = rng.standard_normal(ref_pool(x_val, ws, stride, pad, ib, mode).shape)
    got = th.function([x, gz], tt.grad(tt.sum(y * gz), x))(x_val, gz_val)
    np.testing.assert_allclose(got, ref_linear_pool_grad(x_val, gz_val, ws, stride, pad, ib,
                                                         mode), rtol=1e-12, atol=1e-12)
    assert isinstance(tt.grad(tt.sum(y), x).owner.op, AveragePoolGrad)


# -- second order -----------------------------------------------------------------------

@pytest.mark.parametrize("shape,ws,stride,pad,ib", GEOMETRIES, ids=str)
def test_grad_of_grad_max(shape, ws, stride, pad, ib):
    rng = np.random.default_rng(7)
    x_val = distinct(rng, shape, "float64")
    v_val = rng.standard_normal(shape)
    args = (ws, stride, pad)
    maxout = ref_pool(x_val, ws, stride, pad, ib, "max")
    gz_val = rng.standard_normal(maxout.shape)
    # DownsampleFactorMaxGradGrad is MaxPoolGrad's gradient in gz, and the reverse
    verify_grad(lambda gz: MaxPoolGrad(ib)(tt.constant(x_val), tt.constant(maxout), gz, *args),
                [gz_val], rng=rng)
    verify_grad(lambda g: DownsampleFactorMaxGradGrad(ib)(tt.constant(x_val),
                                                          tt.constant(maxout), g, *args),
                [v_val], rng=rng)

    # the whole second derivative: d/dx <grad(sum(pool(x)**2), x), v>
    def hvp(x):
        g = tt.grad(tt.sum(pool_2d(x, ws, ib, stride, pad) ** 2), x)
        return tt.sum(g * tt.constant(v_val))

    verify_grad(hvp, [x_val], rng=rng)
    x = _var(len(shape))
    h = tt.grad(hvp(x), x)
    assert any(isinstance(n.op, DownsampleFactorMaxGradGrad) for n in io_toposort([x], [h]))
    # for each window: 2 * (sum of v over its argmax cells), sent back to the argmax
    want = ref_max_pool_grad(x_val, 2 * ref_max_grad_grad(x_val, v_val, ws, stride, pad, ib),
                             ws, stride, pad, ib)
    np.testing.assert_allclose(th.function([x], h)(x_val), want, rtol=1e-12)


def test_max_grad_ops_are_transposes_even_with_ties():
    rng = np.random.default_rng(8)
    x_val = rng.integers(0, 2, size=(2, 5, 5)).astype("float64")
    ws, st = (3, 2), (1, 2)
    maxout = ref_pool(x_val, ws, st, None, False, "max")
    gz_val, ggx_val = rng.standard_normal(maxout.shape), rng.standard_normal(x_val.shape)
    x, m, gz, ggx = (tt.dtensor3(n) for n in ("x", "m", "gz", "ggx"))
    f = th.function([x, m, gz, ggx], [MaxPoolGrad(False)(x, m, gz, ws, st),
                                      DownsampleFactorMaxGradGrad(False)(x, m, ggx, ws, st)])
    gx, ggz = f(x_val, maxout, gz_val, ggx_val)
    np.testing.assert_allclose(ggz, ref_max_grad_grad(x_val, ggx_val, ws, st))
    np.testing.assert_allclose(np.sum(gx * ggx_val), np.sum(gz_val * ggz), rtol=1e-12)


@pytest.mark.parametrize("mode", MODES[1:])
def test_average_grad_gradient(mode):
    rng = np.random.default_rng(9)
    x_val = rng.standard_normal((2, 7, 6))
    gz_val = rng.standard_normal(ref_pool(x_val, (3, 3), (2, 2), (1, 1), True, mode).shape)
    verify_grad(lambda gz: AveragePoolGrad(True, mode)(tt.constant(x_val), gz, (3, 3), (2, 2),
                                                       (1, 1)), [gz_val], rng=rng)


def test_rop_matches_finite_differences():
    rng = np.random.default_rng(10)
    x_val, v_val = distinct(rng, (2, 5, 6), "float64"), rng.standard_normal((2, 5, 6))
    x, v = tt.dtensor3("x"), tt.dtensor3("v")
    for mode in MODES:
        y = pool_2d(x, (2, 3), False, (1, 2), mode=mode)
        jvp = th.function([x, v], tt.Rop(y, x, v))(x_val, v_val)
        f = th.function([x], y)
        eps = 1e-6
        num = (f(x_val + eps * v_val) - f(x_val - eps * v_val)) / (2 * eps)
        np.testing.assert_allclose(jvp, num, rtol=1e-6, atol=1e-8)


def test_same_size_gradient():
    rng = np.random.default_rng(11)
    x_val = distinct(rng, (2, 4, 5), "float64")
    verify_grad(lambda x: max_pool_2d_same_size(x, (2, 2)), [x_val], rng=rng)
    x = tt.dtensor3("x")
    g = th.function([x], tt.grad(tt.sum(max_pool_2d_same_size(x, (2, 2))), x))(x_val)
    np.testing.assert_array_equal(g, ref_same_size(x_val, (2, 2)) != 0)


def test_integer_input_has_no_gradient_path():
    """Pooling an integer tensor passes no gradient back (as for any rounding)."""
    xf = tt.dmatrix("xf")
    y = tt.cast(pool_2d(tt.cast(xf, "int64"), (2, 2), True), "float64")
    g = tt.grad(tt.sum(y) + tt.sum(xf), xf)
    x_val = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(th.function([xf], g)(x_val), np.ones((4, 4)))
    assert th.function([xf], tt.sum(y))(x_val) == 5 + 7 + 13 + 15


# -- the shared op checker --------------------------------------------------------------

def _p2(ws, ib, stride=None, pad=(0, 0), mode="max"):
    return (lambda x: pool_2d(x, ws, ib, stride, pad, mode),
            lambda x: ref_pool(x, ws, stride, pad, ib, mode))


def _p3(ws, ib, stride=None, pad=(0, 0, 0), mode="max"):
    return (lambda x: pool_3d(x, ws, ib, stride, pad, mode),
            lambda x: ref_pool(x, ws, stride, pad, ib, mode))


SHAPES_2D = [((2, 3, 5, 5),), ((7, 6),), ((1, 4, 3),)]
SHAPES_3D = [((2, 4, 5, 3),), ((1, 3, 3, 4),)]
D = (distinct,)


def _grad_case(name, op, ws, stride, pad, ib, ref):
    return OpCase(name, lambda x, g: op(ib)(x, Pool(ib)(x, ws, stride, pad), g, ws, stride, pad),
                  lambda x, g: ref(x, g, ws, stride, pad, ib), nin=2,
                  domains=(distinct, (-1, 1)), grad=False,
                  shapes=[((2, 5, 5), ref_pool(np.zeros((2, 5, 5)), ws, stride, pad, ib).shape
                           if op is MaxPoolGrad else (2, 5, 5))])


POOL_CASES = [
    OpCase("pool_2d[max,ib=False]", *_p2((2, 2), False), domains=D, shapes=SHAPES_2D),
    OpCase("pool_2d[max,ib=True,st=(1,2),pad=(1,1)]", *_p2((3, 2), True, (1, 2), (1, 1)),
           domains=D, shapes=SHAPES_2D),
    OpCase("pool_2d[sum,ib=False,st=(2,1)]", *_p2((2, 3), False, (2, 1), mode="sum"),
           domains=D, shapes=SHAPES_2D),
    OpCase("pool_2d[average_inc_pad,pad]", *_p2((3, 3), True, (2, 2), (1, 1),
                                                "average_inc_pad"), domains=D, shapes=SHAPES_2D),
    OpCase("pool_2d[average_exc_pad,pad]", *_p2((3, 2), True, (1, 1), (2, 1),
                                                "average_exc_pad"), domains=D, shapes=SHAPES_2D),
    OpCase("pool_2d[average_exc_pad,ib=False]", *_p2((2, 2), False, (3, 1),
                                                     mode="average_exc_pad"),
           domains=D, shapes=SHAPES_2D),
    OpCase("pool_3d[max,ib=False,st]", *_p3((2, 2, 2), False, (1, 2, 3)), domains=D,
           shapes=SHAPES_3D),
    OpCase("pool_3d[average_exc_pad,pad]", *_p3((2, 3, 2), True, (2, 1, 2), (1, 1, 1),
                                                "average_exc_pad"), domains=D, shapes=SHAPES_3D),
    OpCase("max_pool_2d_same_size", lambda x: max_pool_2d_same_size(x, (2, 2)),
           lambda x: ref_same_size(x, (2, 2)), domains=D, shapes=SHAPES_2D, grad=False),
    _grad_case("MaxPoolGrad", MaxPoolGrad, (2, 3), (1, 2), (0, 0), False,
               lambda x, g, *a: ref_max_pool_grad(x, g, *a)),
    _grad_case("DownsampleFactorMaxGradGrad", DownsampleFactorMaxGradGrad, (3, 3), (2, 2),
               (1, 1), True, lambda x, g, *a: ref_max_grad_grad(x, g, *a)),
    OpCase("AveragePoolGrad[average_exc_pad]",
           lambda x, g: AveragePoolGrad(True, "average_exc_pad")(x, g, (3, 2), (2, 1), (1, 1)),
           lambda x, g: ref_linear_pool_grad(x, g, (3, 2), (2, 1), (1, 1), True,
                                             "average_exc_pad"),
           nin=2, shapes=[((2, 5, 4), (2, 3, 5)), ((1, 6, 3), (1, 3, 4))]),
    OpCase("AveragePoolGrad[sum,ib=False]",
           lambda x, g: AveragePoolGrad(False, "sum")(x, g, (2, 2), (1, 3)),
           lambda x, g: ref_linear_pool_grad(x, g, (2, 2), (1, 3), None, False, "sum"),
           nin=2, shapes=[((2, 5, 4), (2, 4, 2))]),
]


@pytest.mark.parametrize("case,dtype,quick", case_params(POOL_CASES))
def test_pool_op_checked(case, dtype, quick):
    counts = check_case(case, dtype, quick=quick)
    assert counts["values"] > 0
    if case.grad and not quick:
        assert counts["node_grads"] > 0 and counts["verify_grad"] > 0
    assert dtype in FLOATS
