"""Theano 1.0's nnet activations and softmax / cross-entropy helpers against NumPy,
with gradients by finite differences (verify_grad), on the default engine and JAX."""

import numpy as np
import pytest
import scipy.special as sp

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.link import jax as jax_backend
from theanine.tensor import nnet

MODES = [None, "JAX"] if jax_backend.available() else [None]

ACTIVATIONS = [
    ("hard_sigmoid", nnet.hard_sigmoid, lambda v: np.clip(0.2 * v + 0.5, 0, 1)),
    ("ultra_fast_sigmoid", nnet.ultra_fast_sigmoid, sp.expit),
    ("softsign", nnet.softsign, lambda v: v / (1 + np.abs(v))),
    ("elu", nnet.elu, lambda v: np.where(v > 0, v, np.expm1(v))),
    ("elu-alpha", lambda x: nnet.elu(x, alpha=0.5), lambda v: np.where(v > 0, v,
                                                                        0.5 * np.expm1(v))),
    ("selu", nnet.selu, lambda v: 1.0507009873554805 * np.where(
        v > 0, v, 1.6732632423543772 * np.expm1(v))),
]


@pytest.mark.parametrize("name,fn,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations(name, fn, ref, rng):
    x = tt.dmatrix("x")
    xv = rng.normal(size=(4, 5)) * 3
    xv[0, :3] = [1e-8, -1e-8, -30.0]
    np.testing.assert_allclose(th.function([x], fn(x))(xv), ref(xv), rtol=1e-12, atol=1e-15)
    away = xv[np.abs(xv) > 0.1].reshape(-1)[:8]             # off the kinks
    if name != "hard_sigmoid":
        verify_grad(fn, [away], rng=rng)
    y = tt.fmatrix("y")
    assert th.function([y], fn(y))(xv.astype("float32")).dtype == np.float32


def test_logsoftmax_and_softmax_with_bias(rng):
    x, b = tt.dmatrix("x"), tt.dvector("b")
    xv, bv = rng.normal(size=(3, 4)), rng.normal(size=4)
    f = th.function([x, b], [nnet.logsoftmax(x), nnet.softmax_with_bias(x, b)])
    ls, swb = f(xv, bv)
    np.testing.assert_allclose(ls, sp.log_softmax(xv, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(swb, sp.softmax(xv + bv, axis=-1), rtol=1e-12)
    verify_grad(lambda a, c: nnet.softmax_with_bias(a, c)[:, 1], [xv, bv], rng=rng)
    with pytest.raises(TypeError, match="matrix"):
        nnet.softmax_with_bias(b, b)


def test_sigmoid_binary_crossentropy_is_finite_for_large_logits(rng):
    o, t = tt.dvectors("o", "t")
    ov = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    tv = np.array([1.0, 0.0, 1.0, 0.5, 0.0])
    got = th.function([o, t], nnet.sigmoid_binary_crossentropy(o, t))(ov, tv)
    want = tv * np.logaddexp(0, -ov) + (1 - tv) * np.logaddexp(0, ov)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    small = rng.normal(size=5)
    np.testing.assert_allclose(
        th.function([o, t], nnet.sigmoid_binary_crossentropy(o, t))(small, tv),
        th.function([o, t], nnet.binary_crossentropy(tt.sigmoid(o), t))(small, tv),
        rtol=1e-10)
    verify_grad(lambda a: nnet.sigmoid_binary_crossentropy(a, tv), [small], rng=rng)


@pytest.mark.parametrize("mode", MODES)
def test_crossentropy_softmax_1hot(mode, rng):
    x, y = tt.dmatrix("x"), tt.lvector("y")
    xv, yv = rng.normal(size=(4, 5)), np.array([0, 4, 2, 2])
    nll, sm = nnet.crossentropy_softmax_1hot(x, y)
    got_nll, got_sm = th.function([x, y], [nll, sm], mode=mode)(xv, yv)
    np.testing.assert_allclose(got_sm, sp.softmax(xv, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(got_nll, -sp.log_softmax(xv, axis=-1)[np.arange(4), yv],
                               rtol=1e-12)
    verify_grad(lambda a: nnet.crossentropy_softmax_1hot(a, yv)[0], [xv], rng=rng)
    with pytest.raises(TypeError, match="integer vector"):
        nnet.crossentropy_softmax_1hot(x, tt.dvector("z"))


def _h_softmax_reference(xv, W1, b1, W2, b2, n_outputs):
    classes = sp.softmax(xv @ W1 + b1, axis=-1)
    within = sp.softmax(np.einsum("bi,cio->bco", xv, W2) + b2, axis=-1)
    return (classes[:, :, None] * within).reshape(len(xv), -1)[:, :n_outputs]


@pytest.mark.parametrize("mode", MODES)
def test_h_softmax(mode, rng):
    batch, n_in, n_classes, per, n_outputs = 3, 4, 3, 4, 10          # 12 slots, 10 used
    W1, b1 = rng.normal(size=(n_in, n_classes)), rng.normal(size=n_classes)
    W2, b2 = rng.normal(size=(n_classes, n_in, per)), rng.normal(size=(n_classes, per))
    x, y = tt.dmatrix("x"), tt.lvector("y")
    xv, yv = rng.normal(size=(batch, n_in)), np.array([0, 9, 5])
    probs = nnet.h_softmax(x, batch, n_outputs, n_classes, per, W1, b1, W2, b2)
    chosen = nnet.h_softmax(x, batch, n_outputs, n_classes, per, W1, b1, W2, b2, target=y)
    got, got_t = th.function([x, y], [probs, chosen], mode=mode)(xv, yv)
    want = _h_softmax_reference(xv, W1, b1, W2, b2, n_outputs)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(got_t, want[np.arange(batch), yv], rtol=1e-12)
    full = _h_softmax_reference(xv, W1, b1, W2, b2, n_classes * per)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-12)     # a distribution
    verify_grad(lambda a: nnet.h_softmax(a, batch, n_outputs, n_classes, per, W1, b1, W2, b2,
                                         target=yv), [xv], rng=rng)
