"""The JAX backend beyond fixed shapes: while loops, data-dependent shapes, jacobians,
and buffer donation of shared updates.

A while loop keeping only its last values is part of the one compiled program; a
graph whose shapes depend on the data runs op by op on the device (and says so);
every result is compared with the default engine's."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt

jax = pytest.importorskip("jax", reason="the JAX backend needs the jax package")
JAX = th.Mode(linker="jax")


def _both(inputs, outputs, *values):
    f = th.function(inputs, outputs, mode=JAX)
    return f, f(*values), th.function(inputs, outputs)(*values)


def _same(got, want):
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-12)


def _doubling_until_above(limit):
    x0 = tt.dscalar("x0")
    vals, _ = th.scan(lambda v: (v * 2.0, th.scan.until(v * 2.0 > limit)),
                      outputs_info=x0, n_steps=50)
    return x0, vals


def test_while_loop_keeping_its_last_value_is_one_compiled_program():
    x0, vals = _doubling_until_above(100.0)
    f = th.function([x0], vals[-1], mode=JAX)
    assert f.fn.jax_execution["mode"].startswith("one XLA program")
    for start in (1.0, 3.0, 200.0, 1e-30):       # stops late, early, at once, never
        np.testing.assert_allclose(f(start), th.function([x0], vals[-1])(start))
    assert f.fn.jax_execution["mode"].startswith("one XLA program")
    with jax.enable_x64(True):
        assert "while" in f.fn.jitted.lower(np.float64(1.0)).as_text()


def test_while_loop_keeping_every_step_runs_op_by_op_and_says_why():
    x0, vals = _doubling_until_above(100.0)
    for start in (1.0, 3.0, 200.0, 1e-30):
        f, got, want = _both([x0], vals, start)
        _same(got, want)
    mode = f.fn.jax_execution["mode"]
    assert mode.startswith("op by op") and "while loop" in mode and "test_jax_dynamic" in mode


def test_while_loop_with_sequences_taps_mapped_outputs_and_carries(rng):
    x, h0 = tt.dvector("x"), tt.dvector("h0")

    def body(xt, h2, h1):
        h = 0.5 * h1 + 0.25 * h2 + xt
        return [h, h * xt], th.scan.until(h > 3.0)

    (hs, mapped), _ = th.scan(body, sequences=x,
                              outputs_info=[dict(initial=h0, taps=[-2, -1]), None])
    xv = np.abs(rng.normal(size=12)) + 0.5
    for x_scale in (1.0, 0.01, 100.0):
        f, got, want = _both([x, h0], [hs, mapped, hs[-1], mapped[-2:]], xv * x_scale,
                             np.array([0.1, 0.2]))
        _same(got, want)
    back, _ = th.scan(lambda v, prev: (prev + v, th.scan.until(prev + v > 2.0)),
                      sequences=x, outputs_info=tt.constant(0.0), go_backwards=True)
    _same(*_both([x], back, xv)[1:])


def test_shapes_computed_from_the_data_run_op_by_op():
    n, v = tt.lscalar("n"), tt.dvector("v")
    f, got, want = _both([n], tt.arange(n) * 2, 4)
    _same(got, want)
    assert f.fn.jax_execution["mode"].startswith("op by op")
    vv = np.array([0.0, 1.5, 0.0, -2.0])
    f, got, want = _both([v], [tt.nonzero(v)[0], v[tt.nonzero(v)] * 2], vv)
    _same(got, want)
    assert got[0].dtype == np.int64
    k = tt.lscalar("k")
    out, _ = th.scan(lambda p: p * 2.0, outputs_info=tt.constant(1.0), n_steps=k)
    for steps in (0, 3, 5):
        _same(*_both([k], out, steps)[1:])


def test_jacobian_is_one_batched_program(rng):
    x, w = tt.dvector("x"), tt.dmatrix("w")
    y = tt.tanh(tt.dot(w, x)) * x.sum()
    jac = th.gradient.jacobian(y, [x, w])
    xv, wv = rng.normal(size=3), rng.normal(size=(4, 3))
    f, got, want = _both([x, w], jac, xv, wv)
    _same(got, want)
    assert got[1].shape == (4, 4, 3)
    assert f.fn.jax_execution["mode"].startswith("one XLA program")


def test_updates_reuse_the_old_buffer_unless_someone_holds_it():
    w = th.shared(np.ones(4), name="w")
    x = tt.dvector("x")
    step = th.function([x], (w * x).sum(), updates={w: w * 0.5 + x}, mode=JAX)
    step(np.ones(4))                       # the NumPy value is copied, never donated
    first = w.container[0]
    step(np.ones(4))
    assert first.is_deleted()              # its buffer now holds the new value
    lent = w.get_value(borrow=True)        # the user holds this one: never donated
    step(np.ones(4))
    assert not lent.is_deleted()
    np.testing.assert_allclose(lent, [1.75] * 4)
    with jax.enable_x64(True):
        mine = jax.numpy.full(4, 2.0)
    w.set_value(mine, borrow=True)
    step(np.zeros(4))
    assert not mine.is_deleted() and float(mine[0]) == 2.0
    np.testing.assert_allclose(w.get_value(), [1.0] * 4)
    # two shared variables holding the same array: neither call destroys the other's
    v = th.shared(np.zeros(4), name="v")
    both = th.function([], [], updates={w: w + 1.0, v: v + 2.0}, mode=JAX)
    both()
    v.container[0] = w.container[0]
    both()
    np.testing.assert_allclose(w.get_value(), [3.0] * 4)
    np.testing.assert_allclose(v.get_value(), [4.0] * 4)
