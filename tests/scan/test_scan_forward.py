"""Scan's forward semantics against NumPy loops, in generated code and in ``perform``."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.scan.op import Scan, ScanError
from theanine.tensor.random import RandomStream

MODES = ["FAST_RUN", "PY"]


def scan_nodes(fn):
    return [n for n in fn.maker.fgraph.toposort() if isinstance(n.op, Scan)]


@pytest.mark.parametrize("mode", MODES)
def test_pow_tutorial(mode):
    k = tt.iscalar("k")
    A = tt.vector("A")
    result, updates = th.scan(lambda prior, A: prior * A, outputs_info=tt.ones_like(A),
                              non_sequences=A, n_steps=k)
    power = th.function([A, k], result[-1], updates=updates, mode=mode)
    np.testing.assert_allclose(power(range(10), 2), np.arange(10.0) ** 2)
    full = th.function([A, k], result, mode=mode)
    a = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(full(a, 4), np.stack([a ** i for i in range(1, 5)]))
    assert full(a, 0).shape == (0, 3)


@pytest.mark.parametrize("mode", MODES)
def test_polynomial_tutorial_and_accumulator(mode):
    coefficients = tt.vector("coefficients")
    x = tt.scalar("x")
    full_range = tt.arange(10000)
    components, _ = th.scan(lambda c, p, v: c * (v ** p), outputs_info=None,
                            sequences=[coefficients, full_range], non_sequences=x)
    f = th.function([coefficients, x], components.sum(), mode=mode)
    coeff = np.asarray([1, 0, 2], dtype=np.float32)
    assert f(coeff, 3) == pytest.approx(19.0)
    totals, _ = th.scan(lambda c, p, acc, v: acc + c * (v ** p),
                        outputs_info=tt.zeros_like(x, dtype=components.dtype),
                        sequences=[coefficients, full_range], non_sequences=x)
    g = th.function([coefficients, x], totals[-1], mode=mode)
    assert g(coeff, 3) == pytest.approx(19.0)


@pytest.mark.parametrize("mode", MODES)
def test_sequence_taps_and_mit_sot(mode, rng):
    x = tt.dvector("x")
    x0 = tt.dvector("x0")

    def step(xm1, xp2, y2, y1):
        return y1 + 0.5 * y2 + xm1 * xp2

    out, _ = th.scan(step, sequences=dict(input=x, taps=[-1, 2]),
                     outputs_info=dict(initial=x0, taps=[-2, -1]))
    f = th.function([x, x0], out, mode=mode)
    xv, x0v = rng.normal(size=9), rng.normal(size=3)
    n = len(xv) - 3
    ys = list(x0v[-2:])
    for t in range(n):
        ys.append(ys[-1] + 0.5 * ys[-2] + xv[t] * xv[t + 3])
    np.testing.assert_allclose(f(xv, x0v), ys[2:])


@pytest.mark.parametrize("mode", MODES)
def test_several_outputs_sot_and_map(mode, rng):
    seq = tt.dmatrix("seq")
    h0 = tt.dvector("h0")
    w = tt.dmatrix("w")

    def step(s, h, w):
        new = tt.tanh(tt.dot(w, h) + s)
        return new, (new ** 2).sum()

    (hs, norms), _ = th.scan(step, sequences=seq, outputs_info=[h0, None], non_sequences=w)
    f = th.function([seq, h0, w], [hs, norms], mode=mode)
    sv, hv, wv = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(3, 3))
    got_h, got_n = f(sv, hv, wv)
    h, want_h, want_n = hv, [], []
    for s in sv:
        h = np.tanh(wv @ h + s)
        want_h.append(h)
        want_n.append((h ** 2).sum())
    np.testing.assert_allclose(got_h, want_h)
    np.testing.assert_allclose(got_n, want_n)


@pytest.mark.parametrize("mode", MODES)
def test_n_steps_defaults_to_shortest_sequence(mode):
    a, b = tt.dvector("a"), tt.dvector("b")
    out, _ = th.scan(lambda x, y: x * y, sequences=[a, b])
    f = th.function([a, b], out, mode=mode)
    np.testing.assert_allclose(f(np.arange(5.0), np.arange(3.0)), [0.0, 1.0, 4.0])
    n = tt.lscalar("n")
    out2, _ = th.scan(lambda x: x + 1, sequences=[a], n_steps=n)
    g = th.function([a, n], out2, mode=mode)
    np.testing.assert_allclose(g(np.arange(5.0), 2), [1.0, 2.0])


@pytest.mark.parametrize("mode", MODES)
def test_until_while_loop(mode):
    x0 = tt.dscalar("x0")
    limit = tt.dscalar("limit")

    def step(x, limit):
        new = x * 2
        return new, th.scan.until(new > limit)

    out, _ = th.scan(step, outputs_info=x0, non_sequences=limit, n_steps=100)
    f = th.function([x0, limit], out, mode=mode)
    np.testing.assert_allclose(f(1.0, 20.0), [2.0, 4.0, 8.0, 16.0, 32.0])
    np.testing.assert_allclose(f(1.0, 1e9)[-1], 2.0 ** 30)


@pytest.mark.parametrize("mode", MODES)
def test_shared_update_inside_loop(mode):
    counter = th.shared(np.float64(0.0), name="counter")
    x = tt.dvector("x")

    def step(v):
        return v + counter, {counter: counter + 1}

    out, updates = th.scan(step, sequences=x)
    assert list(updates) == [counter]
    f = th.function([x], out, updates=updates, mode=mode)
    np.testing.assert_allclose(f(np.zeros(4)), [0.0, 1.0, 2.0, 3.0])
    assert counter.get_value() == 4.0
    np.testing.assert_allclose(f(np.zeros(2)), [4.0, 5.0])
    assert counter.get_value() == 6.0


@pytest.mark.parametrize("mode", MODES)
def test_nested_scan(mode, rng):
    m = tt.dmatrix("m")

    def row_cumsum(row):
        acc, _ = th.scan(lambda v, a: a + v, sequences=row,
                         outputs_info=tt.zeros_like(row[0]))
        return acc[-1]

    sums, _ = th.scan(row_cumsum, sequences=m)
    f = th.function([m], sums, mode=mode)
    mv = rng.normal(size=(4, 6))
    np.testing.assert_allclose(f(mv), mv.sum(axis=1))


@pytest.mark.parametrize("mode", MODES)
def test_closure_and_loop_invariant_inputs(mode, rng):
    x = tt.dvector("x")
    w = tt.dmatrix("w")
    scale = tt.dscalar("scale")
    out, _ = th.scan(lambda h: tt.dot(tt.dot(w, w), h) * scale, outputs_info=x, n_steps=3)
    node = out.owner
    inner_ops = [type(n.op).__name__ for n in node.op.fgraph.toposort()]
    assert inner_ops.count("Dot") == 1, "dot(w, w) is computed once, outside the loop"
    f = th.function([x, w, scale], out, mode=mode)
    xv, wv = rng.normal(size=3), rng.normal(size=(3, 3)) * 0.5
    h, want = xv, []
    for _ in range(3):
        h = (wv @ wv) @ h * 2.0
        want.append(h)
    np.testing.assert_allclose(f(xv, wv, 2.0), want)


@pytest.mark.parametrize("mode", MODES)
def test_map_reduce_folds(mode):
    x = tt.dvector("x")
    doubled, _ = th.map(lambda v: v * 2, sequences=x)
    total, _ = th.reduce(lambda v, acc: acc + v, sequences=x, outputs_info=tt.zeros_like(x[0]))
    left, _ = th.foldl(lambda v, acc: acc * 10 + v, sequences=x,
                       outputs_info=tt.zeros_like(x[0]))
    right, _ = th.foldr(lambda v, acc: acc * 10 + v, sequences=x,
                        outputs_info=tt.zeros_like(x[0]))
    f = th.function([x], [doubled, total, left, right], mode=mode)
    d, s, lft, rgt = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(d, [2.0, 4.0, 6.0])
    assert s == 6.0 and lft == 123.0 and rgt == 321.0


@pytest.mark.parametrize("mode", MODES)
def test_go_backwards(mode):
    x = tt.dvector("x")
    out, _ = th.scan(lambda v, acc: acc * 10 + v, sequences=x,
                     outputs_info=tt.zeros_like(x[0]), go_backwards=True)
    f = th.function([x], out, mode=mode)
    np.testing.assert_allclose(f(np.array([1.0, 2.0, 3.0])), [3.0, 32.0, 321.0])


def test_generated_loop_matches_perform(rng):
    x = tt.dmatrix("x")
    y0 = tt.dmatrix("y0")
    out, _ = th.scan(lambda s, a, b: (a * 0.3 + b * s, s.sum()), sequences=x,
                     outputs_info=[dict(initial=y0, taps=[-3, -1]), None])
    xv, y0v = rng.normal(size=(7, 2)), rng.normal(size=(4, 2))
    fast = th.function([x, y0], out)
    ref = th.function([x, y0], out, mode="PY")
    for a, b in zip(fast(xv, y0v), ref(xv, y0v)):
        np.testing.assert_allclose(a, b)
    source = loop_sources(fast)[0]
    assert "for t in range(n):" in source and "buf0[t + 3] = " in source


def loop_sources(fn):
    """The generated source of each Scan loop in a compiled function."""
    return [v.source for v in fn.fn.codegen.ns.values() if hasattr(v, "writer")]


def test_test_values_flow_through_scan():
    x = tt.dvector("x")
    x.tag.test_value = np.array([1.0, 2.0, 3.0])
    with th.change_flags(compute_test_value="raise"):
        out, _ = th.scan(lambda v, acc: acc + v * 2, sequences=x,
                         outputs_info=tt.zeros_like(x[0]))
    np.testing.assert_allclose(out.tag.test_value, [2.0, 6.0, 12.0])


def test_return_list_and_strict():
    x, w = tt.dvector("x"), tt.dscalar("w")
    outs, _ = th.scan(lambda v, w: v * w, sequences=x, non_sequences=w, return_list=True,
                      strict=True)
    assert isinstance(outs, list) and len(outs) == 1
    with pytest.raises(ScanError, match="strict=True.*w"):
        th.scan(lambda v: v * w, sequences=x, strict=True)


def test_random_stream_inside_the_loop():
    draws = []
    for mode in ("FAST_RUN", "PY"):
        srng = RandomStream(seed=3)
        x = tt.dvector("x")
        out, updates = th.scan(lambda v, srng=srng: v + srng.normal(size=(2,)), sequences=x)
        assert len(updates) == 1          # the generator's default update, collected
        f = th.function([x], out, updates=updates, mode=mode)
        first, second = f(np.zeros(3)), f(np.zeros(3))
        assert len({tuple(r) for r in first}) == 3, "a new draw every step"
        assert not np.allclose(first, second), "the generator advances between calls"
        draws.append(first)
    np.testing.assert_allclose(draws[0], draws[1])


@pytest.mark.parametrize("mode", MODES)
def test_shared_update_to_a_loop_input_is_a_copy(mode):
    c = th.shared(np.zeros(2), name="c")
    w = tt.dvector("w")
    x = tt.dvector("x")
    out, updates = th.scan(lambda v: (v * 2, {c: w}), sequences=x)
    f = th.function([x, w], out, updates=updates, mode=mode)
    wv = np.array([1.0, 2.0])
    f(np.ones(3), wv)
    wv[0] = 99.0
    np.testing.assert_allclose(c.get_value(borrow=True), [1.0, 2.0])


def test_infer_shape_matches_the_outputs(rng):
    x, h0, w = tt.dmatrix("x"), tt.dvector("h0"), tt.dmatrix("w")
    (hs, norms, rows), _ = th.scan(lambda s, h, w: (tt.tanh(tt.dot(w, h) + s), h.sum(),
                                                    tt.dot(w, s)),
                                   sequences=x, outputs_info=[h0, None, None],
                                   non_sequences=w)
    node = hs.owner
    shapes = node.op.infer_shape(None, node, [tuple(tt.shape(i)[d] for d in range(i.ndim))
                                              for i in node.inputs])
    f = th.function([x, h0, w], [tt.stack(list(s)) if s else tt.constant(0)
                                 for s in shapes], on_unused_input="ignore")
    xv, hv, wv = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(3, 3))
    got = f(xv, hv, wv)
    values = th.function([x, h0, w], [hs, norms, rows])(xv, hv, wv)
    assert [tuple(g) for g in got] == [v.shape for v in values]


@pytest.mark.parametrize("mode", MODES + ["NUMBA", "JAX"])
def test_values_passed_through_a_step_are_the_previous_ones(mode):
    """A step that returns one of its inputs (a tap, a carried shared value) gives the
    value it read, whatever the loop writes first: one state trailing another, a
    mapped output of the previous state, and two shared values swapped."""
    if mode == "JAX":
        pytest.importorskip("jax")
    v, a, k = tt.dvector("v"), tt.dvector("a"), tt.iscalar("k")
    av, ones = np.array([1.0, 2.0, 0.5]), np.ones(3)
    powers = np.stack([av ** i for i in range(7)])          # powers[i] = a**i
    (lead, trail), _ = th.scan(lambda p1, p2, a: [p1 * a, p1], outputs_info=[v, v],
                               non_sequences=a, n_steps=k)
    f = th.function([v, a, k], [lead[-1], trail[-1], lead, trail], mode=mode)
    last_lead, last_trail, all_lead, all_trail = f(ones, av, 5)
    np.testing.assert_allclose(last_lead, powers[5])
    np.testing.assert_allclose(last_trail, powers[4])
    np.testing.assert_allclose(all_lead, powers[1:6])
    np.testing.assert_allclose(all_trail, powers[0:5])
    (state, before), _ = th.scan(lambda p, a: [p * a, p], outputs_info=[v, None],
                                 non_sequences=a, n_steps=k)
    g = th.function([v, a, k], [state[-1], before[-1], before], mode=mode)
    last, last_before, every_before = g(ones, av, 4)
    np.testing.assert_allclose(last, powers[4])
    np.testing.assert_allclose(last_before, powers[3])
    np.testing.assert_allclose(every_before, powers[0:4])
    x, y = th.shared(np.float64(1.0), name="x"), th.shared(np.float64(2.0), name="y")
    _, updates = th.scan(lambda: {x: y, y: x}, n_steps=k)
    swap = th.function([k], [], updates=updates, mode=mode)
    swap(3)
    assert (x.get_value(), y.get_value()) == (2.0, 1.0)
