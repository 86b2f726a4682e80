"""``pushout_accumulators``: a carried sum of per-step terms leaves the loop."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode
from theanine.scan.op import Scan

ENGINES = ["FAST_RUN", "NUMBA", "JAX"]


def _scans(f):
    return [n.op for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Scan)]


def _require(mode):
    if mode != "FAST_RUN":
        pytest.importorskip("numba" if mode == "NUMBA" else "jax")


def _accumulating_updates(term):
    """A scan over ``a`` (steps, 3, 4) and ``b`` (steps, 3, 5) whose only effect is a
    shared accumulator updated by ``term(a[t], b[t])`` at each step."""
    a, b = tt.dtensor3("a"), tt.dtensor3("b")
    acc = th.shared(np.ones((4, 5)), name="acc")

    def step(at, bt):
        return [], {acc: acc + term(at, bt)}

    _, updates = th.scan(step, sequences=[a, b])
    return [a, b], acc, updates


def _ab(steps=6):
    rng = np.random.default_rng(0)
    return rng.normal(size=(steps, 3, 4)), rng.normal(size=(steps, 3, 5))


@pytest.mark.parametrize("mode", ENGINES)
def test_a_carried_sum_of_products_becomes_one_product(mode):
    _require(mode)
    inputs, acc, updates = _accumulating_updates(lambda at, bt: tt.dot(at.T, bt))
    f = th.function(inputs, [], updates=updates, mode=mode)
    assert _scans(f) == []                  # nothing left to loop over
    av, bv = _ab()
    f(av, bv)
    np.testing.assert_allclose(acc.get_value(), 1 + np.einsum("tmk,tmn->kn", av, bv),
                               rtol=1e-12)


def test_the_rewrite_is_what_removed_the_loop():
    inputs, acc, updates = _accumulating_updates(lambda at, bt: tt.dot(at.T, bt))
    f = th.function(inputs, [], updates=updates,
                    mode=Mode("vm", "fast_run").excluding("pushout_accumulators"))
    assert [op.info.n_carry for op in _scans(f)] == [1]
    av, bv = _ab()
    f(av, bv)
    np.testing.assert_allclose(acc.get_value(), 1 + np.einsum("tmk,tmn->kn", av, bv),
                               rtol=1e-12)


def test_a_state_read_elsewhere_in_the_body_stays_in_the_loop():
    a, b = tt.dtensor3("a"), tt.dtensor3("b")
    acc = th.shared(np.zeros((4, 5)), name="acc")

    def step(at, bt):
        return acc.sum(), {acc: acc + tt.dot(at.T, bt)}      # the running sum is read

    partial, updates = th.scan(step, sequences=[a, b])
    f = th.function([a, b], partial, updates=updates)
    assert [op.info.n_carry for op in _scans(f)] == [1]
    av, bv = _ab()
    want = np.cumsum(np.einsum("tmk,tmn->tkn", av, bv), axis=0).sum(axis=(1, 2))
    np.testing.assert_allclose(f(av, bv), np.concatenate([[0], want[:-1]]), atol=1e-12)


def test_a_term_that_reads_the_state_stays_in_the_loop():
    a = tt.dtensor3("a")
    acc = th.shared(np.eye(4), name="acc")

    def step(at):
        return [], {acc: acc + tt.dot(acc, tt.dot(at.T, at)) * 0.1}

    _, updates = th.scan(step, sequences=a)
    f = th.function([a], [], updates=updates)
    assert [op.info.n_carry for op in _scans(f)] == [1]


@pytest.mark.parametrize("mode", ENGINES)
def test_sums_of_sequences_and_of_their_reductions(mode):
    _require(mode)
    a, b = tt.dtensor3("a"), tt.dmatrix("b")
    acc = th.shared(np.zeros((3, 4)), name="acc")
    row = th.shared(np.zeros(4), name="row")

    def step(at, bt):
        return [], {acc: acc + at, row: row + at.sum(axis=0) + bt}

    _, updates = th.scan(step, sequences=[a, b])
    f = th.function([a, b], [], updates=updates, mode=mode)
    assert _scans(f) == []
    av, bv = _ab()[0], np.arange(24.0).reshape(6, 4)
    f(av, bv)
    np.testing.assert_allclose(acc.get_value(), av.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(row.get_value(), av.sum(axis=(0, 1)) + bv.sum(axis=0),
                               rtol=1e-12)


def _rnn(grad_of):
    x, h0, w = tt.dtensor3("x"), tt.dmatrix("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    cost = (hs ** 2).sum()
    wrt = {"x": x, "h0": h0, "w": w}
    return [x, h0, w], th.grad(cost, [wrt[name] for name in grad_of])


def _rnn_values():
    rng = np.random.default_rng(3)
    return rng.normal(size=(7, 3, 5)) * 0.3, rng.normal(size=(3, 5)) * 0.3, \
        rng.normal(size=(5, 5)) * 0.4


@pytest.mark.parametrize("mode", ENGINES)
@pytest.mark.parametrize("grad_of", [("x", "h0", "w"), ("w",)])
def test_backpropagation_through_time_accumulates_the_weight_gradient_after_the_loop(
        mode, grad_of):
    """With only ``w``'s gradient asked for, the per-step delta is not an output of the
    loop: it becomes one, which the product after the loop reads."""
    _require(mode)
    inputs, grads = _rnn(grad_of)
    f = th.function(inputs, grads, mode=mode)
    assert all(op.info.n_carry <= 1 for op in _scans(f))     # only h's gradient is carried
    want = th.function(inputs, grads, mode="PY")(*_rnn_values())
    for got, expected in zip(f(*_rnn_values()), want):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_weight_gradient_matches_finite_differences():
    inputs, (gw,) = _rnn(("w",))
    x, h0, w = inputs
    xv, hv, wv = _rnn_values()
    analytic = th.function(inputs, gw)(xv, hv, wv)
    step = 1e-6
    hs_cost = th.function(inputs, (th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt),
                                           sequences=x, outputs_info=h0,
                                           non_sequences=w)[0] ** 2).sum())
    numeric = np.zeros_like(wv)
    for i in np.ndindex(wv.shape):
        up, down = wv.copy(), wv.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (hs_cost(xv, hv, up) - hs_cost(xv, hv, down)) / (2 * step)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
