"""Stabilize rules: the naive graph overflows or loses digits, the rewritten one does not.

Each test evaluates the same user formula without rewrites (``NO_REWRITE``) and with
them, at an input where the naive formula fails, against an exact reference.
"""

import numpy as np
import pytest
import scipy.special as sp
from op_checker import linker_names, mode_for_linker
from rewrite_helpers import compile_both, op_names

import theanine as th
import theanine.tensor as tt


def run(inputs, out, values):
    f, ref, counts = compile_both(inputs, out)
    with np.errstate(all="ignore"):                          # the naive graph overflows
        naive = ref(*values)
    return f(*values), naive, counts, f


def test_log1p():
    x = tt.dvector("x")
    v = np.array([1e-17, 1e-10, 0.5])
    got, naive, counts, f = run([x], tt.log(1 + x), [v])
    assert counts["log(add(1, x)) -> log1p(x)"] == 1 and op_names(f) == ["log1p"]
    assert naive[0] == 0.0                                   # all digits lost
    np.testing.assert_allclose(got, np.log1p(v), rtol=1e-15)
    got, naive, counts, _ = run([x], tt.log(1 - x), [v])
    assert naive[0] == 0.0
    np.testing.assert_allclose(got, np.log1p(-v), rtol=1e-15)
    _, _, counts, _ = run([x], tt.log(2 + x), [v])
    assert counts["log(add(1, x)) -> log1p(x)"] == 0


@pytest.mark.parametrize("build", [lambda x: tt.log(1 + tt.exp(x)),
                                   lambda x: tt.log(tt.exp(x) + 1),
                                   lambda x: tt.log1p(tt.exp(x))])
def test_softplus(build):
    x = tt.dvector("x")
    v = np.array([-1000.0, 0.0, 1000.0])
    got, naive, _, f = run([x], build(x), [v])
    assert op_names(f) == ["softplus"]
    assert np.isinf(naive[2])                               # exp(1000) overflows
    np.testing.assert_allclose(got, np.logaddexp(0, v))


def test_softplus_negative_case():
    x = tt.dvector("x")
    _, _, _, f = run([x], tt.log(2 + tt.exp(x)), [np.zeros(2)])
    assert "softplus" not in op_names(f)


def test_sigmoid_from_its_formula():
    x = tt.fvector("x")
    v = np.array([-100.0, 0.0, 30.0], dtype="float32")
    got, naive, counts, f = run([x], 1 / (1 + tt.exp(-x)), [v])
    assert op_names(f) == ["sigmoid"] and got.dtype == np.float32
    _, inner, _, _ = run([x], tt.exp(-x), [v])
    assert np.isinf(inner[0])           # the naive graph goes through inf (exp(100), float32)
    exact = sp.expit(v.astype("float64")).astype("float32")    # float32 subnormal at -100
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-43)
    np.testing.assert_allclose(naive, exact, rtol=1e-6, atol=1e-43)
    # the tutorial's form: exp(-dot - b), the sigmoid of dot + b
    w, b = tt.fvector("w"), tt.fscalar("b")
    _, _, _, f = run([x, w, b], 1 / (1 + tt.exp(-x * w - b)),
                     [v, np.ones(3, "float32"), np.float32(0)])
    assert "sigmoid" in op_names(f) and "exp" not in op_names(f)
    _, _, _, f = run([x], 1 / (2 + tt.exp(-x)), [v])
    assert "sigmoid" not in op_names(f)


def test_log_sigmoid_and_log_one_minus_sigmoid():
    x = tt.dvector("x")
    v = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    got, naive, _, f = run([x], tt.log(tt.sigmoid(x)), [v])
    assert "log" not in op_names(f) and np.isinf(naive[0])
    np.testing.assert_allclose(got, -np.logaddexp(0, -v))
    got, naive, _, f = run([x], tt.log(1 - tt.sigmoid(x)), [v])
    assert "log" not in op_names(f) and np.isinf(naive[3])   # 1 - sigmoid(40) == 0
    np.testing.assert_allclose(got, -np.logaddexp(0, v))
    got, naive, _, _ = run([x], tt.log(1 / (1 + tt.exp(-x))), [v])
    assert np.isinf(naive[0])
    np.testing.assert_allclose(got, -np.logaddexp(0, -v))


def test_log_sigmoid_negative_cases():
    x = tt.dvector("x")
    v = np.array([-3.0, 0.0, 3.0])
    got, _, counts, f = run([x], tt.log(tt.sigmoid(x) * 2), [v])
    assert counts["log(sigmoid(x)) -> -softplus(-x)"] == 0 and "softplus" not in op_names(f)
    np.testing.assert_allclose(got, np.log(2 * sp.expit(v)))
    got, _, counts, f = run([x], tt.log(2 - tt.sigmoid(x)), [v])
    assert counts["log(sub(1, sigmoid(x))) -> neg(softplus(x))"] == 0
    assert "softplus" not in op_names(f)
    np.testing.assert_allclose(got, np.log(2 - sp.expit(v)))


def test_expm1():
    x = tt.dvector("x")
    v = np.array([1e-10, 1e-5, 1.0])
    got, naive, counts, f = run([x], tt.exp(x) - 1, [v])
    assert op_names(f) == ["expm1"]
    assert abs(naive[0] - 1e-10) / 1e-10 > 1e-8             # most digits lost
    np.testing.assert_allclose(got, np.expm1(v), rtol=1e-15)
    _, _, _, f = run([x], tt.exp(x) - 2, [v])
    assert "expm1" not in op_names(f)


def test_logsumexp():
    x = tt.dmatrix("x")
    v = np.array([[1000.0, 1000.0, 999.0], [-np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0]])
    got, naive, counts, _ = run([x], tt.log(tt.sum(tt.exp(x), axis=1)), [v])
    assert counts["logsumexp"] == 1
    assert np.isinf(naive[0])
    np.testing.assert_allclose(got, sp.logsumexp(v, axis=1))
    got, naive, counts, _ = run([x], tt.log(tt.exp(x).sum()), [v[2:]])
    assert counts["logsumexp"] == 1
    np.testing.assert_allclose(got, sp.logsumexp(v[2:]))
    got, naive, counts, _ = run([x], tt.log(tt.exp(x).sum(axis=0, keepdims=True)), [v[:1]])
    assert counts["logsumexp"] == 1 and got.shape == (1, 3)
    np.testing.assert_allclose(got, v[:1])
    _, _, counts, _ = run([x], tt.log(tt.sum(x, axis=1)), [np.ones((2, 2))])
    assert counts["logsumexp"] == 0


@pytest.mark.parametrize("shape, axis", [((0,), None), ((3, 0), 1), ((0, 4), 0), ((0, 4), None)])
@pytest.mark.parametrize("linker", linker_names())
def test_logsumexp_of_an_empty_reduction_is_minus_inf_with_its_gradient(shape, axis, linker):
    """NumPy's ``log(sum(exp(x)))`` over nothing is ``log(0) = -inf``; the stable form's
    max over nothing would raise (it did, in FAST_RUN and in ``th.grad``'s own
    stabilization of the cost)."""
    x = tt.TensorType("float64", (None,) * len(shape))("x")
    out = tt.log(tt.sum(tt.exp(x), axis=axis))
    f = th.function([x], [out, th.grad(out.sum(), x)], mode=mode_for_linker(linker))
    v = np.zeros(shape)
    with np.errstate(divide="ignore"):
        want = np.log(np.sum(np.exp(v), axis=axis))
    got, grad = f(v)
    np.testing.assert_array_equal(got, want)
    assert grad.shape == shape


def test_hand_written_cross_entropy_is_overflow_free():
    """The logistic-regression tutorial's loss, exactly as written there."""
    x, w = tt.dmatrix("x"), tt.dvector("w")
    b, y = tt.dscalar("b"), tt.dvector("y")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    xent = -y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)
    xv = np.array([[100.0, 0.0], [-100.0, 0.0], [800.0, 1.0], [-800.0, 1.0]])
    wv, bv, yv = np.array([1.0, 0.5]), np.float64(0.0), np.array([0.0, 1.0, 0.0, 1.0])
    got, naive, _, _ = run([x, w, b, y], xent, [xv, wv, bv, yv])
    z = xv @ wv + bv
    exact = yv * np.logaddexp(0, -z) + (1 - yv) * np.logaddexp(0, z)
    assert not np.all(np.isfinite(naive))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, exact, rtol=1e-12)


def test_other_spellings_of_the_same_formulas():
    x = tt.dvector("x")
    v = np.array([-1000.0, 1e-10, 1000.0])
    small = np.array([-1000.0, 1e-10, 1.0])
    got, naive, counts, f = run([x], tt.exp(x) + (-1), [small])
    assert counts["add(exp(x), -1) -> expm1(x)"] == 1 and op_names(f) == ["expm1"]
    np.testing.assert_allclose(got, np.expm1(small), rtol=1e-15)
    got, naive, counts, f = run([x], tt.reciprocal(1 + tt.exp(-x)), [v])
    assert counts["reciprocal(1+exp(u)) -> sigmoid(-u)"] == 1 and op_names(f) == ["sigmoid"]
    np.testing.assert_allclose(got, sp.expit(v))
    got, naive, counts, f = run([x], tt.log1p(-tt.sigmoid(x)), [v])
    assert counts["log1p(neg(sigmoid(x))) -> neg(softplus(x))"] == 1
    assert np.isinf(naive[2])
    np.testing.assert_allclose(got, -np.logaddexp(0, v))
    _, _, counts, f = run([x], tt.log1p(-tt.tanh(x)), [v])
    assert "softplus" not in op_names(f)


def test_one_minus_sigmoid():
    x = tt.dvector("x")
    v = np.array([-5.0, 0.0, 40.0])
    got, naive, counts, f = run([x], 1 - tt.sigmoid(x), [v])
    assert counts["1 - sigmoid(x) -> sigmoid(-x)"] == 1 and op_names(f) == ["neg", "sigmoid"]
    assert naive[2] == 0.0                                   # sigmoid(40) rounds to 1
    np.testing.assert_allclose(got, sp.expit(-v), rtol=1e-15)
    _, _, counts, _ = run([x], 2 - tt.sigmoid(x), [v])
    assert counts["1 - sigmoid(x) -> sigmoid(-x)"] == 0


def test_division_by_one_plus_exp():
    x, a = tt.dvectors("x", "a")
    v, av = np.array([-800.0, 0.0, 800.0]), np.array([2.0, 3.0, 4.0])
    got, naive, counts, f = run([a, x], a / (1 + tt.exp(x)), [av, v])
    assert counts["a/(1+exp(u)) -> a*sigmoid(-u)"] == 1 and "exp" not in op_names(f)
    np.testing.assert_allclose(got, av * sp.expit(-v))
    _, _, counts, _ = run([a, x], a / (2 + tt.exp(x)), [av, v])
    assert counts["a/(1+exp(u)) -> a*sigmoid(-u)"] == 0


def test_sigmoid_times_exp_of_the_negation():
    x, a = tt.dvectors("x", "a")
    v, av = np.array([-800.0, 0.0, 30.0]), np.array([2.0, 3.0, 4.0])
    got, naive, counts, f = run([a, x], -(a * tt.sigmoid(x)) * tt.exp(-x), [av, v])
    assert counts["sigmoid_times_exp"] == 1 and "exp" not in op_names(f)
    assert np.isnan(naive[0])                                # 0 * inf
    np.testing.assert_allclose(got, -av * sp.expit(-v))
    _, _, counts, _ = run([a, x], a * tt.sigmoid(x) * tt.exp(x), [av, v])
    assert counts["sigmoid_times_exp"] == 0


@pytest.mark.parametrize("dtype, z", [("float64", 100.0), ("float32", 50.0)])
def test_hand_written_cross_entropy_gradient_is_overflow_free(dtype, z):
    """th.grad of the tutorial's loss is exact where p saturates, in FAST_RUN and also
    without rewrites (th.grad differentiates a stabilized copy of the cost)."""
    x, y = tt.matrix("x", dtype=dtype), tt.vector("y", dtype=dtype)
    w = th.shared(np.array([1.0, 0.5], dtype=dtype), "w")
    b = th.shared(np.asarray(0.0, dtype=dtype), "b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    cost = (-y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)).mean()
    gw, gb = th.grad(cost, [w, b])
    xv = np.array([[z, 0.0], [-z, 0.0], [0.3, 0.1]], dtype=dtype)
    yv = np.array([0.0, 1.0, 1.0], dtype=dtype)
    got, naive, _, _ = run([x, y], [gw, gb], [xv, yv])
    err = sp.expit(xv.astype("float64") @ np.array([1.0, 0.5])) - yv
    np.testing.assert_allclose(naive[0], got[0], rtol=1e-5)
    np.testing.assert_allclose(got[0], xv.T.astype("float64") @ err / 3, rtol=1e-5)
    np.testing.assert_allclose(got[1], err.mean(), rtol=1e-5)


SOFTMAX_SPELLINGS = {
    "op": lambda x: tt.nnet.softmax(x, axis=1),
    "max_shifted": lambda x: (lambda e: e / e.sum(axis=1, keepdims=True))(
        tt.exp(x - x.max(axis=1, keepdims=True))),
    "plain": lambda x: tt.exp(x) / tt.exp(x).sum(axis=1, keepdims=True),
}


@pytest.mark.parametrize("spelling", sorted(SOFTMAX_SPELLINGS))
def test_log_softmax(spelling):
    x = tt.dmatrix("x")
    v = np.array([[0.0, 1000.0, 3.0], [-500.0, 500.0, 0.0], [1.0, 2.0, 3.0]])
    got, naive, counts, f = run([x], tt.log(SOFTMAX_SPELLINGS[spelling](x)), [v])
    assert counts["log(softmax(x)) -> log_softmax(x)"] == 1
    assert op_names(f) == ["LogSoftmax"]
    assert np.isneginf(naive[0, 0]) or np.isnan(naive[0, 0])   # softmax underflows to 0
    np.testing.assert_allclose(got, sp.log_softmax(v, axis=1), rtol=1e-15)


def test_log_softmax_over_all_axes_and_float32():
    x = tt.fmatrix("x")
    v = np.array([[0.0, 100.0], [-100.0, 3.0]], dtype="float32")
    got, naive, counts, f = run([x], tt.log(tt.exp(x) / tt.exp(x).sum()), [v])
    assert op_names(f) == ["LogSoftmax"] and got.dtype == np.float32
    assert np.isneginf(naive[1, 0])
    np.testing.assert_allclose(got, sp.log_softmax(v.astype("float64")), rtol=1e-6)


def test_log_softmax_negative_cases():
    x, y = tt.dmatrices("x", "y")
    v = np.array([[0.0, 1.0], [2.0, 4.0]])
    # sum along axis 1 without keepdims broadcasts along the wrong axis: not a softmax
    got, _, counts, f = run([x], tt.log(tt.exp(x) / tt.exp(x).sum(axis=1)), [v])
    assert counts["log(softmax(x)) -> log_softmax(x)"] == 0 and "LogSoftmax" not in op_names(f)
    np.testing.assert_allclose(got, v - np.log(np.exp(v).sum(axis=1)))
    # numerator and denominator of different variables
    _, _, counts, _ = run([x, y], tt.log(tt.exp(x) / tt.exp(y).sum(axis=1, keepdims=True)),
                          [v, v])
    assert counts["log(softmax(x)) -> log_softmax(x)"] == 0
    # a max over another axis is not a shift softmax ignores: the shifted input is kept
    z = x - x.max(axis=0, keepdims=True)
    got, _, counts, _ = run([x], tt.log(tt.exp(z) / tt.exp(z).sum(axis=1, keepdims=True)),
                            [v])
    assert counts["log(softmax(x)) -> log_softmax(x)"] == 1
    np.testing.assert_allclose(got, sp.log_softmax(v - v.max(axis=0), axis=1))
    _, _, counts, _ = run([x], tt.log(tt.sigmoid(x) / 2), [v])
    assert counts["log(softmax(x)) -> log_softmax(x)"] == 0


def test_categorical_crossentropy_of_softmax_is_overflow_free():
    x, y = tt.dmatrix("x"), tt.ivector("y")
    v = np.array([[0.0, 1000.0, 3.0], [-500.0, 500.0, 0.0], [1.0, 2.0, 3.0]])
    yv = np.array([0, 2, 1], dtype="int32")
    cost = tt.nnet.categorical_crossentropy(tt.nnet.softmax(x), y).mean()
    got, naive, _, f = run([x, y], [cost, th.grad(cost, x)], [v, yv])
    exact = -sp.log_softmax(v, axis=1)[np.arange(3), yv].mean()
    assert not np.isfinite(naive[0])
    assert "LogSoftmax" in op_names(f) and "log" not in op_names(f)
    np.testing.assert_allclose(got[0], exact, rtol=1e-15)
    grad = (sp.softmax(v, axis=1) - np.eye(3)[yv]) / 3
    np.testing.assert_allclose(got[1], grad, atol=1e-15)
    np.testing.assert_allclose(naive[1], grad, atol=1e-15)   # th.grad stabilizes first
