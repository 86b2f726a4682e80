"""Scan's gradient (a reverse Scan) against finite differences and between linkers."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.scan.op import Scan


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def rnn_cost(x, h0, w, u):
    hs, _ = th.scan(lambda xt, h, w, u: tt.tanh(tt.dot(h, w) + tt.dot(xt, u)),
                    sequences=x, outputs_info=h0, non_sequences=[w, u])
    return hs.sum() + (hs[-1] ** 2).sum()


def test_tanh_rnn(rng):
    verify_grad(rnn_cost, [rng.normal(size=(5, 2)), rng.normal(size=3),
                           rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3))])


def test_mit_sot_taps(rng):
    def cost(x0, a):
        out, _ = th.scan(lambda y2, y1, a: a * y1 + 0.5 * y2 * y1,
                         outputs_info=dict(initial=x0, taps=[-2, -1]), non_sequences=a,
                         n_steps=4)
        return out.sum()

    verify_grad(cost, [rng.normal(size=(3, 2)), rng.normal(size=2)])


@pytest.mark.parametrize("limit", [1000.0, 20.0])
def test_while_loop(limit):
    def cost(x0, lim):
        out, _ = th.scan(lambda x, lim: (x * 1.5, th.scan.until(tt.gt(x.sum(), lim))),
                         outputs_info=x0, non_sequences=lim, n_steps=10)
        return (out ** 2).sum()

    verify_grad(cost, [np.array([1.0, 2.0]), np.array(limit)])


def test_sequence_taps_and_go_backwards(rng):
    def taps(x):
        out, _ = th.scan(lambda a, b: a * b, sequences=dict(input=x, taps=[-1, 1]))
        return out.sum()

    def backwards(x, h0):
        hs, _ = th.scan(lambda xt, h: tt.tanh(h * xt), sequences=x, outputs_info=h0,
                        go_backwards=True)
        return hs.sum()

    verify_grad(taps, [rng.normal(size=6)])
    verify_grad(backwards, [rng.normal(size=(5, 2)), rng.normal(size=2)])


def test_shared_state_updated_in_loop(rng):
    def cost(x):
        c = th.shared(np.array([0.5, 1.0]), name="c")
        out, upd = th.scan(lambda v: (v * c, {c: c * v}), sequences=x)
        return out.sum() + upd[c].sum()

    verify_grad(cost, [rng.normal(size=(4, 2))])


def test_nested_scan(rng):
    def cost(m, v):
        def outer(row, acc):
            inner, _ = th.scan(lambda a, b: tt.tanh(a * b + acc), sequences=[row, v])
            return acc + inner.sum()

        out, _ = th.scan(outer, sequences=m, outputs_info=tt.zeros_like(v[0]))
        return out[-1]

    verify_grad(cost, [rng.normal(size=(3, 4)), rng.normal(size=4)])


def test_truncate_gradient_stops_after_k_steps(rng):
    x, h0, w = tt.dmatrix("x"), tt.dvector("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w, truncate_gradient=2)
    gx, gh0 = th.function([x, h0, w], th.grad(hs[-1].sum(), [x, h0]))(
        rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5)
    assert np.all(gx[:4] == 0) and np.all(gx[4:] != 0)
    assert np.all(gh0 == 0)


def test_generated_gradient_matches_perform(rng):
    x, h0, w, u = tt.dmatrix("x"), tt.dvector("h0"), tt.dmatrix("w"), tt.dmatrix("u")
    grads = th.grad(rnn_cost(x, h0, w, u), [x, h0, w, u])
    fast = th.function([x, h0, w, u], grads)
    ref = th.function([x, h0, w, u], grads, mode="PY")
    args = [rng.normal(size=(5, 2)), rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5,
            rng.normal(size=(2, 3))]
    for a, b in zip(fast(*args), ref(*args)):
        np.testing.assert_allclose(a, b)
    scans = [n.op for n in fast.maker.fgraph.toposort() if isinstance(n.op, Scan)]
    assert sorted(op.info.reverse for op in scans) == [False, True]
