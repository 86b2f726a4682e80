"""Theano's ``tensor.extra_ops`` names and broadcast-pattern helpers against NumPy."""

import numpy as np
import pytest
from op_checker import OpCase, check_case

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.tensor import extra_ops as eo
from theanine.tensor.shape import Unbroadcast


def test_diff_matches_numpy(rng):
    x = tt.dtensor3("x")
    xv = rng.normal(size=(3, 5, 4))
    for n, axis in ((1, -1), (2, 1), (1, 0), (3, 1)):
        got = th.function([x], eo.diff(x, n, axis))(xv)
        np.testing.assert_allclose(got, np.diff(xv, n, axis), rtol=1e-12)
    verify_grad(lambda a: eo.diff(a, 2, axis=1), [xv], rng=rng)


def test_fill_diagonal_and_offset(rng):
    a, v = tt.dmatrix("a"), tt.dscalar("v")
    for shape in ((3, 3), (3, 5), (5, 2)):
        av = rng.normal(size=shape)
        want = av.copy()
        np.fill_diagonal(want, 7.0)
        np.testing.assert_allclose(th.function([a, v], eo.fill_diagonal(a, v))(av, 7.0), want)
        for offset in (-2, -1, 1, 2):
            want = av.copy()
            rows = np.arange(shape[0])
            cols = rows + offset
            keep = (cols >= 0) & (cols < shape[1])
            want[rows[keep], cols[keep]] = -3.0
            got = th.function([a, v], eo.fill_diagonal_offset(a, v, offset))(av, -3.0)
            np.testing.assert_allclose(got, want)
    av = rng.normal(size=(3, 4))
    verify_grad(lambda m, s: eo.fill_diagonal_offset(m, s, 1), [av, np.array(2.0)], rng=rng)
    with pytest.raises(TypeError, match="matrix"):
        eo.fill_diagonal(tt.dvector("z"), 1.0)


def test_unravel_and_ravel_index():
    i = tt.lvector("i")
    flat = np.array([0, 7, 23, 13])
    for order in ("C", "F"):
        got = th.function([i], list(eo.unravel_index(i, (2, 3, 4), order)))(flat)
        for g, w in zip(got, np.unravel_index(flat, (2, 3, 4), order=order)):
            np.testing.assert_array_equal(g, w)
        coords = np.unravel_index(flat, (2, 3, 4), order=order)
        a, b, c = tt.lvectors("a", "b", "c")
        back = th.function([a, b, c], eo.ravel_multi_index([a, b, c], (2, 3, 4),
                                                           order=order))(*coords)
        np.testing.assert_array_equal(back, flat)
    a, b = tt.lvectors("a", "b")
    wrap = th.function([a, b], eo.ravel_multi_index([a, b], (3, 4), mode="wrap"))
    np.testing.assert_array_equal(wrap(np.array([3, -1]), np.array([5, 0])),
                                  np.ravel_multi_index(([3, -1], [5, 0]), (3, 4), mode="wrap"))
    clip = th.function([a, b], eo.ravel_multi_index([a, b], (3, 4), mode="clip"))
    np.testing.assert_array_equal(clip(np.array([9, -1]), np.array([5, 0])),
                                  np.ravel_multi_index(([9, -1], [5, 0]), (3, 4), mode="clip"))


def test_bincount(rng):
    x, w = tt.lvector("x"), tt.dvector("w")
    xv, wv = np.array([0, 3, 3, 1, 7]), rng.normal(size=5)
    f = th.function([x, w], [eo.bincount(x), eo.bincount(x, w), eo.bincount(x, minlength=10)])
    counts, weighted, long = f(xv, wv)
    np.testing.assert_array_equal(counts, np.bincount(xv))
    np.testing.assert_allclose(weighted, np.bincount(xv, wv))
    np.testing.assert_array_equal(long, np.bincount(xv, minlength=10))
    empty = th.function([x], eo.bincount(x))(np.array([], dtype="int64"))
    assert empty.shape == (0,)
    verify_grad(lambda ww: eo.bincount(xv, ww), [wv], rng=rng)
    with pytest.raises(TypeError, match="integers"):
        eo.bincount(tt.dvector("d"))


def test_broadcast_patterns():
    r = tt.TensorType("float64", (True, False))("r")          # Theano's positional pattern
    assert r.type.shape == (1, None) and r.broadcastable == (True, False)
    u = eo.unbroadcast(r, 0)
    assert u.type.shape == (None, None)
    assert eo.addbroadcast(tt.dmatrix("m"), 1).broadcastable == (False, True)
    assert eo.patternbroadcast(r, (False, True)).broadcastable == (False, True)
    f = th.function([r], eo.unbroadcast(r, 0) * 2.0)
    np.testing.assert_allclose(f(np.ones((1, 3))), 2 * np.ones((1, 3)))
    m = tt.dmatrix("m")
    g = th.function([m], eo.addbroadcast(m, 1))
    with pytest.raises(ValueError, match="specify_shape"):
        g(np.ones((2, 3)))
    gr = th.grad((eo.unbroadcast(r, 0) * 3.0).sum(), r)
    assert gr.type.shape == (1, None)


UNBROADCAST = OpCase("unbroadcast", lambda x: Unbroadcast((0,))(x), lambda x: x, nin=1,
                     shapes=[((1, 4),), ((1, 1),)], static=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unbroadcast_op_checked(dtype):
    assert check_case(UNBROADCAST, dtype)["values"] > 0


def test_truth_value_of_variables_as_in_theano():
    x, y = tt.dvectors("x", "y")
    assert bool(x) and (x or y) is x                   # any variable is true
    with pytest.raises(TypeError, match="comparison"):
        x < y < x                                      # noqa: B015
    with pytest.raises(TypeError, match="comparison"):
        bool(tt.eq(x, y))
