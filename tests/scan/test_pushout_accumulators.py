"""``pushout_accumulators``: a carried sum of per-step terms leaves the loop."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode
from theanine.scan.op import Scan, ScanError

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


FORMS = {   # the state's shape, the sequences' step shapes, the term
    "matrix . vector": ((4,), [(4, 3), (3,)], lambda a, b: tt.dot(a, b)),
    "vector . matrix": ((5,), [(3,), (3, 5)], lambda a, b: tt.dot(a, b)),
    "vector . vector": ((), [(3,), (3,)], lambda a, b: tt.dot(a, b)),
    "matrix . matrix, transposed left": ((4, 5), [(3, 4), (3, 5)], lambda a, b: tt.dot(a.T, b)),
    "matrix . matrix": ((4, 5), [(4, 3), (3, 5)], lambda a, b: tt.dot(a, b)),
    "two products and a sum": ((4, 5), [(3, 4), (3, 5)],
                               lambda a, b: tt.dot(a.T, b) + tt.dot(a.T, b * 2) + b.sum()),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_product_form_matches_the_loop(form, dtype):
    """Vectors and matrices on either side, a tap one step back, float32, a reverse
    loop and a step count shorter than the sequences: as the loop computes them."""
    shape, steps, term = FORMS[form]
    seqs = [tt.TensorType(dtype, (None,) * (len(s) + 1))(f"s{k}") for k, s in enumerate(steps)]
    acc0 = tt.TensorType(dtype, (None,) * len(shape))("acc0")
    n = tt.lscalar("n")

    def step(a_prev, a, b, acc):
        return acc + term(a + a_prev, b)

    for backwards in (False, True):
        sums, _ = th.scan(step, sequences=[dict(input=seqs[0], taps=[-1, 0]), seqs[1]],
                          outputs_info=acc0, n_steps=n, go_backwards=backwards)
        pushed = th.function([*seqs, acc0, n], sums[-1])
        looped = th.function([*seqs, acc0, n], sums[-1],
                             mode=Mode("vm", "fast_run").excluding("pushout_accumulators"))
        assert all(op.info.n_sot == 0 for op in _scans(pushed))     # it fired
        assert [op.info.n_sot for op in _scans(looped)] == [1]
        rng = np.random.default_rng(7)
        values = [rng.normal(size=(9,) + s).astype(dtype) for s in steps]
        values.append(rng.normal(size=shape).astype(dtype))
        tol = 1e-4 if dtype == "float32" else 1e-11
        np.testing.assert_allclose(pushed(*values, 6), looped(*values, 6), rtol=tol, atol=tol)


def test_a_recurrent_sum_of_which_the_whole_trace_is_read_stays_in_the_loop():
    x = tt.dmatrix("x")
    sums, _ = th.scan(lambda xt, acc: acc + xt, sequences=x, outputs_info=tt.zeros(3))
    f = th.function([x], [sums, sums[-1]])
    assert [op.info.n_sot for op in _scans(f)] == [1]
    xv = np.arange(12.0).reshape(4, 3)
    got_all, got_last = f(xv)
    np.testing.assert_allclose(got_all, np.cumsum(xv, axis=0))
    np.testing.assert_allclose(got_last, xv.sum(axis=0))


@pytest.mark.parametrize("mode", ENGINES)
def test_a_recurrent_sum_read_at_its_last_step_leaves_the_loop(mode):
    """``outputs_info=zeros`` and ``result[-1]``: the usual way to write a sum; with
    no step to run, ``result[-1]`` still fails as the loop's empty result does."""
    _require(mode)
    x, w, n = tt.dmatrix("x"), tt.dmatrix("w"), tt.lscalar("n")
    sums, _ = th.scan(lambda xt, acc, w: acc + tt.dot(xt, w), sequences=x,
                      outputs_info=tt.zeros(4), non_sequences=w, n_steps=n)
    f = th.function([x, w, n], sums[-1], mode=mode)
    assert _scans(f) == []
    xv, wv = np.arange(15.0).reshape(5, 3), np.ones((3, 4))
    np.testing.assert_allclose(f(xv, wv, 5), (xv @ wv).sum(axis=0))
    np.testing.assert_allclose(f(xv, wv, 2), (xv[:2] @ wv).sum(axis=0))
    with pytest.raises(IndexError):
        th.function([x, w, n], sums[-1], mode="FAST_RUN")(xv, wv, 0)
    with pytest.raises(IndexError):
        f(xv, wv, 0)


@pytest.mark.parametrize("mode", ENGINES)
def test_a_loop_pushed_out_whole_keeps_the_loops_errors(mode):
    """No loop is left of a map or a sum over a sequence; a negative or too large
    ``n_steps`` still raises the loop's ``ScanError`` on every engine (they had given
    a slice of the sequence)."""
    _require(mode)
    x, n = tt.dmatrix("x"), tt.lscalar("n")
    sums, _ = th.scan(lambda xt, acc: acc + xt, sequences=x, outputs_info=tt.zeros(3),
                      n_steps=n)
    doubled, _ = th.scan(lambda xt: xt * 2, sequences=x, n_steps=n)
    for out in (sums[-1], doubled):
        f = th.function([x, n], out, mode=mode)
        assert _scans(f) == []
        np.testing.assert_allclose(f(np.ones((4, 3)), 3), th.function([x, n], out)(
            np.ones((4, 3)), 3))
        with pytest.raises(ScanError, match="n_steps=-1 is negative"):
            f(np.ones((4, 3)), -1)
        with pytest.raises(ScanError, match="has 4 steps but n_steps=6"):
            f(np.ones((4, 3)), 6)
