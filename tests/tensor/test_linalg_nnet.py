"""linalg / nnet behaviour the op table does not cover: build-time errors, stability."""

import numpy as np
import pytest
import scipy.special as sp

import theanine as th
import theanine.tensor as tt
from theanine.tensor.type import TensorType


def t(shape, dtype="float64"):
    return TensorType(dtype, shape)()


@pytest.mark.parametrize("build,shapes", [
    (tt.matmul, ((2, 3), (4, 5))),
    (tt.matmul, ((3,), (4,))),
    (tt.matmul, ((2, 2, 3), (5, 3, 4))),
    (lambda a, b: tt.tensordot(a, b, 1), ((2, 3), (4, 5))),
    (lambda a, b: tt.tensordot(a, b, [[0], [1]]), ((2, 3), (4, 5))),
    (tt.batched_dot, ((2, 3, 4), (5, 4, 1))),
])
def test_static_shape_mismatch_names_both_shapes(build, shapes):
    a, b = t(shapes[0]), t(shapes[1])
    with pytest.raises(ValueError) as info:
        build(a, b)
    text = str(info.value)
    for shape in shapes:
        assert str(shape).replace(" ", "") in text.replace(" ", "")


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tt.matmul(t(()), t((3,)))
    with pytest.raises(ValueError, match="out of range"):
        tt.tensordot(t((2, 3)), t((3,)), 3)
    with pytest.raises(ValueError, match="paired"):
        tt.tensordot(t((2, 3)), t((3, 2)), [[0, 1], [0]])
    with pytest.raises(TypeError, match="2-d or 3-d"):
        tt.batched_dot(t((2,)), t((2, 3)))
    with pytest.raises(TypeError, match="integers"):
        tt.to_one_hot(t((3,)), 4)


def test_methods_and_operators_reach_linalg():
    x, y = tt.dmatrix("x"), tt.dmatrix("y")
    f = th.function([x, y], [x @ y, x.cumsum(axis=1), x.cumprod(), y.__rmatmul__(x)])
    a, b = np.arange(6.0).reshape(2, 3), np.ones((3, 2))
    got = f(a, b)
    for value, want in zip(got, [a @ b, a.cumsum(1), a.cumprod(), a @ b]):
        np.testing.assert_allclose(value, want)


def test_matmul_runtime_mismatch_error():
    a, b = tt.dmatrix("a"), tt.dmatrix("b")
    f = th.function([a, b], tt.matmul(a, b))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        f(np.ones((2, 3)), np.ones((4, 5)))


def test_softmax_family_is_stable_for_large_inputs():
    x = tt.dmatrix("x")
    f = th.function([x], [tt.softmax(x), tt.log_softmax(x), tt.logsumexp(x, axis=1),
                          tt.logsumexp(x, axis=1, keepdims=True)])
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])
    sm, lsm, lse, lsek = f(big)
    np.testing.assert_allclose(sm, sp.softmax(big, axis=1))
    np.testing.assert_allclose(lsm, sp.log_softmax(big, axis=1))
    np.testing.assert_allclose(lse, sp.logsumexp(big, axis=1))
    assert lsek.shape == (2, 1)
    assert np.all(np.isfinite(lsm))


def test_softmax_gradient_is_stable():
    node = tt.log_softmax(tt.dmatrix("x")).owner
    gz = tt.dmatrix("gz")
    (gx,) = node.op.L_op(node.inputs, node.outputs, [gz])
    f = th.function([node.inputs[0], gz], gx)
    big = np.array([[1000.0, 0.0, -1000.0]])
    out = f(big, np.ones((1, 3)))
    np.testing.assert_allclose(out, [[-2.0, 1.0, 1.0]])


def test_crossentropies():
    coding = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([2, 0])
    c, y = tt.dmatrix("c"), tt.lvector("y")
    f = th.function([c, y], tt.categorical_crossentropy(c, y))
    np.testing.assert_allclose(f(coding, labels), -np.log([0.5, 0.6]))
    with pytest.raises(ValueError, match="labels must lie"):
        f(coding, np.array([3, 0]))
    o, tg = tt.dvector("o"), tt.dvector("t")
    g = th.function([o, tg], tt.binary_crossentropy(o, tg))
    np.testing.assert_allclose(g(np.array([0.9, 0.2]), np.array([1.0, 0.0])),
                               -np.log([0.9, 0.8]))
    assert tt.nnet.sigmoid is tt.sigmoid and tt.nnet.softplus is tt.softplus


def test_static_shapes():
    assert tt.matmul(t((5, 2, 3)), t((3, 4))).type.shape == (5, 2, 4)
    assert tt.matmul(t((None, 1, 2, 3)), t((7, 3, 4))).type.shape == (None, 7, 2, 4)
    assert tt.matmul(t((3,)), t((3,))).type.shape == ()
    assert tt.tensordot(t((2, 3, 4)), t((4, 3, 5)), [[1, 2], [1, 0]]).type.shape == (2, 5)
    assert tt.outer(t((2,)), t((3, 2))).type.shape == (2, 6)
    assert tt.cumsum(t((2, 3))).type.shape == (6,)
    assert tt.cumsum(t((None, 3))).type.shape == (None,)
    assert tt.batched_dot(t((4, 2)), t((4, 2))).type.shape == (4,)
    assert tt.to_one_hot(tt.lvector(), 3).type.shape == (None, 3)


def test_sort_arguments():
    x = tt.dmatrix("x")
    with pytest.raises(ValueError, match="kind"):
        tt.sort(x, kind="bogus")
    with pytest.raises(ValueError, match="0-d"):
        tt.sort(tt.dscalar())
    f = th.function([x], [tt.sort(x, axis=None), tt.argsort(x, axis=0)])
    a = np.array([[3.0, 1.0], [2.0, 5.0]])
    s, i = f(a)
    np.testing.assert_array_equal(s, np.sort(a, axis=None))
    np.testing.assert_array_equal(i, np.argsort(a, axis=0))
