"""Test values through gradients and compilation (the tutorial's logreg under 'raise')."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.utils import TestValueError
from theanine.tensor.elemwise import Elemwise


@pytest.fixture
def raise_mode():
    with th.config.change_flags(compute_test_value="raise"):
        yield


def test_grad_nodes_get_test_values(raise_mode):
    rng = np.random.default_rng(0)
    xv, yv, wv = rng.standard_normal((6, 4)), rng.integers(0, 2, 6).astype(float), \
        rng.standard_normal(4)
    x, y = tt.dmatrix("x"), tt.dvector("y")
    x.tag.test_value, y.tag.test_value = xv, yv
    w = th.shared(wv, name="w")
    p = 1 / (1 + tt.exp(-tt.dot(x, w)))
    cost = (-y * tt.log(p) - (1 - y) * tt.log(1 - p)).mean()
    gw = tt.grad(cost, w)           # Theano's spelling T.grad
    step = w - 0.1 * gw              # built on the gradient: needs its test value
    pv = 1 / (1 + np.exp(-xv @ wv))
    np.testing.assert_allclose(gw.tag.test_value, xv.T @ (pv - yv) / 6, rtol=1e-10)
    np.testing.assert_allclose(step.tag.test_value, wv - 0.1 * xv.T @ (pv - yv) / 6,
                               rtol=1e-10)


def test_missing_value_behind_unevaluated_nodes_names_the_root_input():
    x, s = tt.dvector("x"), tt.dscalar("s")
    x.tag.test_value = np.ones(3)          # s has none
    g = tt.grad((tt.exp(x) * s).sum(), x)  # built with test values off: none computed
    with th.config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError, match=r"^s \(") as info:
            g * 2
        assert "s.tag.test_value" in str(info.value)
        s.tag.test_value = 3.0             # now the values above g are computed on demand
        np.testing.assert_allclose((g * 2).tag.test_value, 6 * np.exp(np.ones(3)))


def test_compiling_under_raise_needs_no_test_values():
    x, c = tt.dvector("x"), tt.dscalar("c")
    y = tt.exp(x) * c + x * c                # built without test values
    with th.config.change_flags(compute_test_value="raise"):
        f = th.function([x, c], y)           # the fused node's inputs have none: fine
    assert f(np.zeros(2), 2.0).tolist() == [2.0, 2.0]


def test_compiling_does_not_compute_test_values(raise_mode):
    x = tt.dvector("x")
    x.tag.test_value = np.ones(3)
    c = tt.dscalar("c")
    c.tag.test_value = 2.0
    y = tt.exp(x) * c + x * c
    # rewrites (fusion) build nodes whose inputs carry no test values: no error
    f = th.function([x, c], y)
    assert any(isinstance(n.op, Elemwise) for n in f.maker.fgraph.toposort())
    np.testing.assert_allclose(f(np.arange(3.0), 3.0),
                               np.exp(np.arange(3.0)) * 3 + np.arange(3.0) * 3)
