"""The JAX backend (theanine/link/jax/): whole graphs under ``jax.jit``.

The op checker runs every op on it too (tests/op_checker.py); these tests cover
what is particular to it: lazy ``ifelse`` as ``lax.cond``, 64-bit mode confined to
theanine's functions, shared updates, and clear errors."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse
from theanine.tensor.random import RandomStream

jax = pytest.importorskip("jax", reason="the JAX backend needs the jax package")
JAX = th.Mode(linker="jax")


def test_mode_names_and_generated_source():
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x) * 2.0, mode="JAX")
    np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 2)
    assert "jax.jit" in f.source and f(np.zeros(2)).dtype == np.float64
    with th.config.change_flags(mode="JAX"):
        g = th.function([x], x + 1)
    assert type(g.maker.linker).__name__ == "JAXLinker"


def test_float64_stays_inside_theanine_functions():
    x = tt.dvector("x")
    f = th.function([x], x * 1.5, mode=JAX)
    assert f(np.ones(2)).dtype == np.float64
    assert jax.numpy.asarray(1.0).dtype == np.float32      # the user's JAX is untouched
    with th.config.change_flags(floatX="float32"):
        v = tt.vector("v")
        h = th.function([v], v * 1.5, mode=JAX)
    assert h(np.ones(2, dtype="float32")).dtype == np.float32


def test_logistic_regression_trains_like_the_default_engine(rng):
    xv, yv = rng.normal(size=(40, 5)), (rng.random(40) > 0.5).astype("float64")
    results = []
    for mode in (None, JAX):
        x, y = tt.dmatrix("x"), tt.dvector("y")
        w, b = th.shared(np.zeros(5), name="w"), th.shared(0.0, name="b")
        p = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
        cost = (-y * tt.log(p) - (1 - y) * tt.log(1 - p)).mean() + 0.01 * (w ** 2).sum()
        gw, gb = th.grad(cost, [w, b])
        train = th.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)],
                            mode=mode)
        costs = [float(train(xv, yv)) for _ in range(20)]
        results.append((costs, w.get_value(), float(b.get_value())))
    (c0, w0, b0), (c1, w1, b1) = results
    np.testing.assert_allclose(c1, c0, rtol=1e-12)
    np.testing.assert_allclose(w1, w0, rtol=1e-12)
    assert c1[-1] < c1[0] and isinstance(w1, np.ndarray)


def test_ifelse_is_a_lazy_cond(rng):
    a, b = tt.dscalars("a", "b")
    x, y = tt.dmatrices("x", "y")
    z = ifelse(tt.lt(a, b), tt.mean(tt.exp(x)), tt.mean(tt.log(y)))
    f = th.function([a, b, x, y], z, mode=JAX)
    xv, yv = rng.random((3, 4)), rng.random((3, 4)) + 1
    assert f(0.0, 1.0, xv, yv) == pytest.approx(np.mean(np.exp(xv)))
    assert f(1.0, 0.0, xv, yv) == pytest.approx(np.mean(np.log(yv)))
    assert "_lax_cond" in f.source
    with jax.enable_x64(True):                   # one conditional in the compiled program
        text = f.fn.jitted.lower(np.float64(0), np.float64(1), xv, yv).as_text()
    assert "stablehlo.case" in text


def test_an_op_without_a_jax_form_is_a_clear_compile_time_error():
    from theanine.graph.basic import Apply
    from theanine.graph.op import Op
    from theanine.link.jax.dispatch import JAXLoweringError

    class Halve(Op):
        __props__ = ()

        def make_node(self, x):
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, out):
            out[0][0] = inputs[0] / 2

    v = tt.dvector("v")
    with pytest.raises(JAXLoweringError, match=r"Halve.*built at .*test_jax_backend.py"):
        th.function([v], Halve()(v) + 1.0, mode=JAX)


def test_shared_values_stay_on_the_device_between_calls():
    w = th.shared(np.ones(3), name="w")
    x = tt.dvector("x")
    step = th.function([x], w.sum(), updates={w: w * 2.0 + x}, mode=JAX)
    step(np.zeros(3))
    kept = w.get_value(borrow=True)
    assert isinstance(kept, jax.Array)                       # no round trip to the host
    step(np.zeros(3))
    assert w.get_value(borrow=True) is not kept
    host = w.get_value()
    assert type(host) is np.ndarray and host.tolist() == [4.0, 4.0, 4.0]
    # the default engine (which updates w in place) takes it back to the host
    numpy_step = th.function([x], [], updates={w: w - x})
    numpy_step(np.ones(3))
    assert type(w.get_value(borrow=True)) is np.ndarray
    np.testing.assert_allclose(w.get_value(), [3.0, 3.0, 3.0])
    with jax.enable_x64(True):
        w.set_value(jax.numpy.arange(3.0))                   # set_value takes both
    np.testing.assert_allclose(w.get_value(), [0.0, 1.0, 2.0])
    assert float(step(np.zeros(3))) == 3.0


def test_device_arrays_are_accepted_as_arguments():
    x = tt.dvector("x")
    f = th.function([x], (x * x).sum(), mode=JAX)
    with jax.enable_x64(True):
        xd = jax.device_put(np.arange(4.0))
    assert float(f(xd)) == 14.0
    assert "isinstance(x, _array_types)" in f.source
    with pytest.raises(TypeError, match="argument 0"):
        f(np.arange(4, dtype="int32").astype(object))


def _both(inputs, outputs, *values):
    """The JAX backend's values and the default engine's."""
    jx = th.function(inputs, outputs, mode=JAX)(*values)
    ref = th.function(inputs, outputs)(*values)
    return jx, ref


def test_scan_runs_as_lax_scan(rng):
    a = tt.dvector("a")
    power, _ = th.scan(lambda prior, a: prior * a, outputs_info=tt.ones_like(a),
                       non_sequences=a, n_steps=10)
    f = th.function([a], power[-1], mode=JAX)
    np.testing.assert_allclose(f(np.arange(4.0)), np.arange(4.0) ** 10)
    x, h0 = tt.dvector("x"), tt.dmatrix("h0")
    fib, _ = th.scan(lambda xt, y2, y1: 0.5 * y1 + 0.25 * y2 + xt, sequences=x,
                     outputs_info=dict(initial=h0, taps=[-2, -1]))
    back, _ = th.scan(lambda v, prev: prev + v, sequences=x, outputs_info=tt.constant(0.0),
                      go_backwards=True)
    xv, hv = rng.normal(size=7), rng.normal(size=(3, 2))
    jx, ref = _both([x, h0], [fib, fib[-2:], back], xv, hv)
    for got, want in zip(jx, ref):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_scan_gradient_matches_the_default_engine(rng):
    x, w = tt.dmatrix("x"), tt.dmatrix("w")
    h0 = tt.dvector("h0")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    cost = (hs ** 2).sum()
    grads = th.grad(cost, [w, h0, x])
    xv, wv, hv = rng.normal(size=(5, 3)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)
    jx, ref = _both([x, w, h0], [cost] + grads, xv, wv, hv)
    for got, want in zip(jx, ref):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def _gpus():
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


def test_device_selection():
    x = tt.dvector("x")
    f = th.function([x], x + 1.0, mode=JAX)
    assert f.maker.linker.device.platform == "cpu"
    if not _gpus():
        with th.config.change_flags(device="cuda0"):
            with pytest.raises(RuntimeError, match="device='cuda0'.*no such device"):
                th.function([x], x + 1.0, mode="JAX")
        return
    with th.config.change_flags(device="cuda", floatX="float32"):       # a GPU machine
        v = tt.vector("v")
        g = th.function([v], tt.exp(v).sum(), mode="JAX")
    assert g.maker.linker.device.platform == "gpu"
    np.testing.assert_allclose(g(np.ones(4, "float32")), 4 * np.e, rtol=1e-6)


def test_as_op_runs_on_the_host_and_only_in_the_taken_branch():
    calls = []

    @th.as_op(itypes=[tt.dmatrix], otypes=[tt.dscalar])
    def counted_sum(m):
        calls.append(1)
        return np.sum(m)

    a, b = tt.dscalars("a", "b")
    x, y = tt.dmatrices("x", "y")
    f = th.function([a, b, x, y], ifelse(tt.lt(a, b), tt.mean(x), counted_sum(y)), mode=JAX)
    ones = np.ones((3, 2))
    assert f(0.0, 1.0, ones * 2, ones) == 2.0
    assert calls == []                                  # the branch not taken never ran
    assert f(1.0, 0.0, ones * 2, ones) == 6.0
    assert calls == [1]

    @th.as_op(itypes=[tt.dvector], otypes=[tt.dvector])
    def unknown_length(v):
        return v
    v = tt.dvector("v")
    with pytest.raises(NotImplementedError, match="fixed static shape"):
        th.function([v], unknown_length(v), mode=JAX)


def test_debugprint_names_the_backend():
    x = tt.dvector("x")
    text = th.function([x], tt.exp(x).sum(), mode=JAX).dprint(file="str")
    assert text.splitlines()[0] == "Compiled for the jax backend:"
    assert "Compiled for" not in th.function([x], tt.exp(x).sum()).dprint(file="str")


def test_profile_reports_compile_transfer_and_run():
    from theanine.compile.profiling import ProfileStats

    stats = ProfileStats()
    stats.atexit_print = False
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x).sum(), mode=JAX, profile=stats)
    for _ in range(3):
        f(np.ones(100))
    (entry,) = stats.functions
    phases = entry.phases
    assert set(phases) == {"first call (trace, XLA compile, run)", "transfers to the device",
                           "runs on the device"}
    assert all(t > 0 for t in phases.values())
    text = stats.summary_text()
    assert "runs on the device" in text
    # the per-node tables are the default engine's, on the same inputs, and say so
    assert "GUIDE: the default engine run on the same inputs" in text
    assert entry.code.runs[0] == 3 and "Elemwise{exp}" in text


def test_profile_guide_leaves_shared_values_and_updates_alone():
    w = th.shared(np.ones(3), name="w")
    x = tt.dvector("x")
    plain = th.function([x], (w * x).sum(), updates={w: w + x}, mode=JAX)
    guided = th.function([x], (w * x).sum(), updates={w: w + x}, mode=JAX, profile=True)
    guided.profile.atexit_print = False
    assert float(plain(np.ones(3))) == 3.0
    assert float(guided(np.ones(3))) == 6.0          # updates applied once per call
    np.testing.assert_allclose(w.get_value(), [3.0, 3.0, 3.0])
    assert isinstance(w.get_value(borrow=True), jax.Array)   # still on the device


def test_random_draws_use_jax_keys_from_the_shared_generators():
    stream = RandomStream(3)
    draws = [stream.normal(2.0, 0.5, size=(4000,)), stream.uniform(1.0, 3.0, size=(50,)),
             stream.binomial(10, 0.3, size=(40,)), stream.integers(0, 5, size=(60,)),
             stream.choice(5, size=(3,), replace=False), stream.permutation(6)]
    f = th.function([], draws, mode=JAX)
    normal, uniform, binom, ints, choice, perm = f()
    assert abs(normal.mean() - 2.0) < 0.05 and abs(normal.std() - 0.5) < 0.03
    assert 1.0 <= uniform.min() and uniform.max() < 3.0
    assert binom.dtype == np.int64 and 0 <= binom.min() and binom.max() <= 10
    assert set(np.unique(ints)) <= set(range(5)) and len(set(choice.tolist())) == 3
    assert sorted(perm.tolist()) == list(range(6))
    assert not np.array_equal(f()[0], normal)                 # the streams move on
    again = th.function([], [RandomStream(3).normal(2.0, 0.5, size=(4000,))], mode=JAX)()
    np.testing.assert_array_equal(again[0], normal)            # reproducible by seed


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as exc:        # noqa: BLE001 (the type is what is compared)
        return type(exc), str(exc).splitlines()[0]
    return None


def test_errors_are_the_default_engines_and_indices_out_of_range_raise():
    """XLA clamps an index out of range and JAX raises its own exception types; the
    backend raises what the default engine raises (it checks integer indices, traced
    ones after the call, and reruns a failing call there for the message), and a
    failed call leaves shared values as they were."""
    from theanine.tensor.sorting import TakeAlongAxis

    x, m = tt.dvector("x"), tt.dmatrix("m")
    i, idx, rows = tt.iscalar("i"), tt.lvector("idx"), tt.lmatrix("rows")
    xv = np.arange(3.0)
    cases = [
        ([x, i], x[i], (xv, 5)),
        ([x, i], x[i], (xv, -4)),
        ([x, idx], x[idx], (xv, np.array([0, 7]))),
        ([x, idx], x[idx], (xv, np.array([-4]))),
        ([x, idx], tt.inc_subtensor(x[idx], 1.0), (xv, np.array([0, 9]))),
        ([m, rows], TakeAlongAxis(1)(m, rows), (np.ones((2, 3)), np.array([[0], [3]]))),
        ([x, m], x + m, (xv, np.ones((2, 2)))),
        ([x], x[5], (xv,)),
    ]
    for inputs, out, args in cases:
        want = _error(th.function(inputs, out), *args)
        assert want is not None
        assert _error(th.function(inputs, out, mode=JAX), *args) == want
    for inputs, out, args in cases[:4]:      # in range, negative ones too
        good = (args[0], 2 if np.ndim(args[1]) == 0 else np.array([0, -3]))
        np.testing.assert_array_equal(th.function(inputs, out, mode=JAX)(*good),
                                      th.function(inputs, out)(*good))
    s = th.shared(np.arange(4.0), name="s")
    f = th.function([x, idx], x[idx].sum(), updates=[(s, s + x[idx].sum())], mode=JAX)
    f(xv, np.array([0, 1]))
    with pytest.raises(IndexError, match="out of bounds"):
        f(xv, np.array([0, 7]))
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0, 3.0, 4.0])
    f(xv, np.array([2]))
    np.testing.assert_array_equal(s.get_value(), [3.0, 4.0, 5.0, 6.0])


def test_integer_indices_inside_branches_and_loops_run():
    x, idx, c = tt.dvector("x"), tt.lvector("idx"), tt.dscalar("c")
    xv, iv = np.arange(4.0), np.array([3, 0])
    lazy = ifelse(tt.lt(c, 0), x[idx].sum(), x[idx[:1]].sum())
    looped, _ = th.scan(lambda k, x: x[idx] * k, sequences=tt.arange(3.0), non_sequences=x)
    for out in (lazy, looped):
        f = th.function([x, idx, c], out, mode=JAX, on_unused_input="ignore")
        g = th.function([x, idx, c], out, on_unused_input="ignore")
        for cv in (-1.0, 1.0):
            np.testing.assert_allclose(f(xv, iv, cv), g(xv, iv, cv))


def test_indices_out_of_range_inside_loops_and_branches_raise():
    """A loop body, a lazy branch or a Jacobian's ``vmap`` checks its own traced
    indices (and integer powers) and hands the verdict out: JAX had given clamped
    values (or zeros) there.  An
    integer index read from a sequence is a dynamic index, compiled with the loop."""
    x, idx, c, k = tt.dvector("x"), tt.lvector("idx"), tt.lscalar("c"), tt.lscalar("k")
    scalar, _ = th.scan(lambda i, x: x[i], sequences=idx, non_sequences=x)
    vector, _ = th.scan(lambda i, x: x[[i, 0]].sum(), sequences=idx, non_sequences=x)
    power, _ = th.scan(lambda i, k: k ** i, sequences=idx, non_sequences=k)
    until, _ = th.scan(lambda i, x: (x[i], th.scan.until(tt.eq(i, 0))), sequences=idx,
                       non_sequences=x)
    cases = [
        ([x, idx], scalar, (np.arange(3.0), np.array([0, 7]))),
        ([x, idx], scalar, (np.arange(3.0), np.array([-4, 0]))),
        ([x, idx], vector, (np.arange(3.0), np.array([2, 3]))),
        ([idx, k], power, (np.array([1, -1]), 2)),
        ([x, idx], until[-1], (np.arange(3.0), np.array([1, 7, 0]))),
        ([x, idx, c], ifelse(c, x[idx].sum(), x.sum()), (np.arange(3.0), np.array([7]), 1)),
        ([x, idx, c], ifelse(c, x[idx[0]], x.sum()), (np.arange(3.0), np.array([7]), 1)),
        ([x, idx, c], ifelse(c, x.sum(), x[idx[0]] * 2), (np.arange(3.0), np.array([7]), 0)),
        ([x, idx], th.gradient.jacobian(x[idx] ** 2, x), (np.arange(3.0), np.array([0, 7]))),
    ]
    for inputs, out, args in cases:
        want = _error(th.function(inputs, out), *args)
        assert want is not None
        assert _error(th.function(inputs, out, mode=JAX), *args) == want
    for inputs, out, args in cases:         # in range: the same values as the default engine
        good = tuple(np.array([1, 0]) if isinstance(a, np.ndarray) and a.dtype.kind == "i"
                     else a for a in args)
        np.testing.assert_allclose(th.function(inputs, out, mode=JAX)(*good),
                                   th.function(inputs, out)(*good))
    np.testing.assert_array_equal(th.function([x, idx], scalar, mode=JAX)(
        np.arange(3.0), np.array([-1, -3])), [2.0, 0.0])
    # the untaken branch's index is not checked (it does not run)
    f = th.function([x, idx, c], ifelse(c, x.sum(), x[idx[0]]), mode=JAX)
    assert f(np.arange(3.0), np.array([7]), 1) == 3.0
    # a while loop checks the steps it ran only
    f = th.function([x, idx], until[-1], mode=JAX)
    assert f(np.arange(3.0), np.array([1, 0, 7])) == 0.0
    # a failing loop leaves shared values as they were
    s = th.shared(np.zeros(3), name="s")
    f = th.function([x, idx], scalar.sum(), updates=[(s, s + x)], mode=JAX)
    with pytest.raises(IndexError):
        f(np.arange(3.0), np.array([1, 3]))
    np.testing.assert_array_equal(s.get_value(), np.zeros(3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_integer_division_by_zero_and_float_to_integer_casts_match_numpy():
    """XLA leaves an integer divided by 0 undefined and saturates a float out of an
    integer's range; NumPy gives 0, and on x86 the most negative int32/int64 (the
    narrow types: the low bits of an int32)."""
    a, b, x = tt.lvector("a"), tt.lvector("b"), tt.dvector("x")
    av, bv = np.array([7, -7, 5, 0]), np.array([0, 2, -3, 0])
    np.testing.assert_array_equal(th.function([a, b], a // b, mode=JAX)(av, bv), av // np.where(
        bv == 0, 1, bv) * (bv != 0))
    xv = np.array([1.7, -2.5, 300.7, -300.2, 3e9, -3e9, 1e30, np.nan, np.inf, -np.inf,
                   70000.5, -2147483648.5, 2147483647.9])
    for dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16"):
        got = th.function([x], tt.cast(x, dtype), mode=JAX)(xv)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, th.function([x], tt.cast(x, dtype))(xv))


def test_negative_integer_exponents_and_signed_zeros_as_numpy():
    """NumPy refuses an integer to a negative integer power (XLA computed one; the
    Numba kernels gave 0) and gives sign(-0.0) = 0.0 (XLA: -0.0)."""
    a, b, x = tt.lvector("a"), tt.lvector("b"), tt.dvector("x")
    s = th.shared(np.arange(3.0), name="s")
    for mode in (JAX, th.Mode(linker="numba")):
        for out in (a ** b, a ** b + 1):
            f = th.function([a, b], out, updates=[(s, s + 1)], mode=mode)
            with pytest.raises(ValueError, match="negative integer powers"):
                f(np.array([2, 3]), np.array([-1, 2]))
            np.testing.assert_array_equal(s.get_value(), [0.0, 1.0, 2.0])
            np.testing.assert_array_equal(f(np.array([2, 3]), np.array([3, 0])),
                                          th.function([a, b], out)(np.array([2, 3]),
                                                                   np.array([3, 0])))
            s.set_value(np.arange(3.0))
    xv = np.array([-0.0, 0.0, np.nan, -3.0])
    got = th.function([x], tt.sign(x), mode=JAX)(xv)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(np.sign(xv)))


def test_ifelse_branches_of_different_shapes_run_op_by_op():
    """An ifelse's types fix only the broadcast pattern: branches of shapes (3, 4) and
    (1, 4) cannot be one ``lax.cond`` (JAX's TypeError had ended the call); the
    function runs op by op with the condition known, as the default engine does."""
    x = tt.dmatrix("x")
    row = tt.TensorType("float64", (1, None))("row")
    s = tt.dscalar("s")
    out = ifelse(tt.lt(s, 0), x * 2, row + 1) * x
    f = th.function([x, row, s], [out, th.grad(out.sum(), x)], mode="JAX")
    ref = th.function([x, row, s], [out, th.grad(out.sum(), x)], mode="FAST_RUN")
    xv, rv = np.arange(12.0).reshape(3, 4), np.arange(4.0).reshape(1, 4)
    for sv in (-1.0, 1.0):
        for got, want in zip(f(xv, rv, sv), ref(xv, rv, sv)):
            np.testing.assert_allclose(got, want, rtol=1e-13)
    assert f.fn.jax_execution["mode"].startswith("op by op"), f.fn.jax_execution
    assert "different shapes" in f.fn.jax_execution["mode"]
