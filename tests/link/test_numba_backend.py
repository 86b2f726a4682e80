"""The Numba backend (theanine/link/numba/): whole graphs as one ``numba.njit`` function.

The op checker, the random graphs and the tutorial run on it too; these tests
cover what is particular to it: loops and lazy branches compiled natively,
call-outs for ops without a Numba form, random streams shared with the default
engine, errors naming the node, and the disk cache across processes (loading,
damaged entries, two processes compiling at once)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse
from theanine.scan.basic import until
from theanine.tensor.random import RandomStream

pytest.importorskip("numba", reason="the Numba backend needs the numba package")
NUMBA = th.Mode(linker="numba")
ROOT = Path(__file__).resolve().parents[2]


def same_as_default(inputs, outputs, args, **kwargs):
    """Compile on both engines, check equal values and dtypes; the Numba function."""
    fn = th.function(inputs, outputs, mode=NUMBA, **kwargs)
    ref = th.function(inputs, outputs, **kwargs)(*args)
    got = fn(*args)
    for value, want in zip(got if isinstance(got, list) else [got],
                           ref if isinstance(ref, list) else [ref]):
        assert isinstance(value, np.ndarray) and value.dtype == want.dtype
        np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12)
    return fn


def test_mode_names_and_one_compiled_function():
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x) * 2.0, mode="NUMBA")
    np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 2)
    assert "numba.njit" in f.source and f.fn.callouts == []
    with th.config.change_flags(mode="NUMBA"):
        g = th.function([x], x + 1)
    assert type(g.maker.linker).__name__ == "NumbaLinker"


def test_scan_loops_are_native_with_taps_reverse_until_and_keep():
    k, a = tt.iscalar("k"), tt.dvector("A")
    powers, _ = th.scan(lambda prior, a: prior * a, outputs_info=tt.ones_like(a),
                        non_sequences=a, n_steps=k)
    for out in (powers, powers[-1]):            # every step, and the last one only (keep)
        f = same_as_default([a, k], out, [np.arange(5.0), 4])
        assert f.fn.callouts == []
    s = tt.dvector("s")
    taps, _ = th.scan(lambda x0, x1, p2, p1: x0 + x1 + 0.5 * p2 + p1,
                      sequences={"input": s, "taps": [-1, 1]},
                      outputs_info={"initial": tt.zeros(2), "taps": [-2, -1]},
                      go_backwards=True)
    same_as_default([s], taps, [np.arange(8.0)])
    doubling, _ = th.scan(lambda p: (p * 2, until(p > 50)), outputs_info=tt.constant(1.0),
                          n_steps=100)
    f = same_as_default([], doubling, [])
    assert len(f()) == 7


def test_recurrent_arrays_that_keep_no_more_than_their_taps_live_in_variables():
    """``sot_storage`` "regs": the loop binds each step's result to a variable (no
    copy into a ring row); values, the rows kept and a shape error match the
    default engine."""
    x0, a, k = tt.dmatrix("x0"), tt.dvector("a"), tt.iscalar("k")
    seq, _ = th.scan(lambda p2, p1, a: p1 * 0.5 + p2 * a,
                     outputs_info=dict(initial=x0, taps=[-2, -1]), non_sequences=a,
                     n_steps=k)
    x0v, av = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 0.5])
    for out in (seq[-1], seq[-2:]):
        for steps in (1, 2, 5):
            f = same_as_default([x0, a, k], out, [x0v, av, steps])
        sources = [getattr(g, "fingerprint", "") or ""
                   for g in f.fn.jitted.py_func.__globals__.values()]
        assert any("v0_1 = outs[0]" in src and "b0 = " not in src for src in sources)
    np.testing.assert_array_equal(x0v, np.arange(6.0).reshape(2, 3))   # inputs intact
    grow, _ = th.scan(lambda p, a: tt.concatenate([p, a[:1]]), outputs_info=a,
                      non_sequences=a, n_steps=k)
    with pytest.raises(ValueError, match="keep the shape of its initial state"):
        th.function([a, k], grow[-1], mode=NUMBA)(av, 3)


def test_scan_gradient_matches_the_default_engine(rng):
    x = tt.tensor3("x")
    w = th.shared(rng.standard_normal((4, 4)) * 0.3, name="W")
    u = th.shared(rng.standard_normal((3, 4)) * 0.3, name="U")
    hs, _ = th.scan(lambda xt, h: tt.tanh(tt.dot(xt, u) + tt.dot(h, w)), sequences=x,
                    outputs_info=tt.zeros((2, 4)))
    cost = (hs ** 2).sum()
    f = same_as_default([x], [cost, *th.grad(cost, [w, u])], [rng.standard_normal((5, 2, 3))])
    assert f.fn.callouts == []


def test_ifelse_branches_are_lazy():
    a, b, v = tt.dscalar("a"), tt.dscalar("b"), tt.dvector("v")
    out = ifelse(tt.lt(a, b), v[10], tt.mean(tt.tanh(v) * tt.exp(-v * v)))
    f = th.function([a, b, v], out, mode=NUMBA)
    assert f.fn.callouts == []
    v0 = np.linspace(-1, 2, 5)
    # the then-branch reads v[10] of a 5-vector: it must not run when not taken
    np.testing.assert_allclose(f(3.0, 2.0, v0), np.mean(np.tanh(v0) * np.exp(-v0 * v0)))
    with pytest.raises(IndexError):
        f(1.0, 2.0, v0)


def test_softmax_family_and_indexing_compile_without_call_outs(rng):
    from theanine.tensor.nnet import log_softmax, logsumexp, softmax

    x = tt.dmatrix("x")
    outs = [softmax(x), log_softmax(x, axis=0), logsumexp(x, axis=1),
            tt.set_subtensor(x[1:, 0], 5.0), tt.inc_subtensor(x[0], 1.0), x[-1, 1:3]]
    f = same_as_default([x], outs, [rng.standard_normal((3, 4)) * 50])
    assert f.fn.callouts == []


def test_ops_without_a_numba_form_are_counted_call_outs():
    from theanine.compile.profiling import ProfileStats

    stats = ProfileStats()
    stats.atexit_print = False
    x = tt.dmatrix("x")
    f = th.function([x], tt.nlinalg.pinv(x * 2).sum(axis=0) + x.sum(axis=0), mode=NUMBA,
                    profile=stats)
    data = np.random.default_rng(0).standard_normal((3, 3))
    np.testing.assert_allclose(f(data), np.linalg.pinv(data * 2).sum(axis=0) + data.sum(axis=0))
    assert [c for c in f.fn.callouts if "Pinv" in c]
    assert "njit segments" in f.source
    (entry,) = stats.functions
    assert any(key.startswith("call-out MatrixPinv") for key in entry.phases)
    assert "call-out MatrixPinv" in stats.summary_text()


def test_random_numbers_are_the_default_engines_stream():
    draws = []
    for mode in (None, NUMBA):
        srng = RandomStream(seed=7)
        x = tt.dvector("x")
        f = th.function([x], x + srng.normal(size=(4,)), mode=mode)
        draws.append([f(np.zeros(4)) for _ in range(3)])
    np.testing.assert_array_equal(np.array(draws[1]), np.array(draws[0]))


def test_errors_in_compiled_code_name_the_node():
    x, y = tt.dvector("x"), tt.dvector("y")
    f = th.function([x, y], tt.exp(x) + y, mode=NUMBA)
    with pytest.raises(ValueError, match="(?s)Apply node.*Elemwise"):
        f(np.ones(3), np.ones(4))


# -- the disk cache, across processes ---------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, theanine as th, theanine.tensor as tt
    x = tt.dvector("x")
    f = th.function([x], (tt.exp(x) * 2.0 + x).sum(), mode="NUMBA")
    value = float(f(np.linspace(0, 1, 7)))
    hits = sum(f.fn.jitted.stats.cache_hits.values())
    # Numba's lowering tables (loaded by its registry refresh, which a hit skips)
    refreshed = "numba.np.polynomial.polynomial_core" in sys.modules
    print(json.dumps({"value": value, "cache_hits": hits, "refreshed": refreshed}))
""")


def _expected():
    x = np.linspace(0, 1, 7)
    return float((np.exp(x) * 2.0 + x).sum())


def _start(cache):
    env = dict(os.environ, THEANINE_FLAGS=f"compiledir={cache}", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["value"] == pytest.approx(_expected(), rel=1e-12)
    return result


def test_two_processes_compile_at_once_then_a_third_loads_and_a_damaged_entry_is_rebuilt(
        tmp_path):
    first, second = _start(tmp_path), _start(tmp_path)       # same graph, empty cache
    cold = [_result(p) for p in (first, second)]
    assert all(r["cache_hits"] in (0, 1) for r in cold)
    assert any(r["refreshed"] for r in cold)                  # a compile sets it all up
    loaded = _result(_start(tmp_path))
    assert loaded["cache_hits"] == 1                          # loads, never recompiles
    assert not loaded["refreshed"]                            # nor sets up Numba's compiler
    damaged = list((tmp_path / "numba" / "__pycache__").glob("f_*.nb*"))
    assert damaged
    for path in damaged:
        path.write_bytes(path.read_bytes()[:20])             # a writer killed halfway
    assert _result(_start(tmp_path))["cache_hits"] == 0      # detected, compiled afresh
    assert _result(_start(tmp_path))["cache_hits"] == 1      # and written back whole


def test_whole_functions_compile_at_llvm_level_2_unless_the_user_chose_one(monkeypatch):
    """Level 2 compiles in 20% less time than Numba's default 3 at the same speed;
    the level is restored afterwards, and ``NUMBA_OPT`` set by the user wins."""
    import numba

    from theanine.link.numba import cache
    seen = []

    class Recorder:
        py_func = None

        def compile(self, signature):
            seen.append(int(numba.config.OPT))

    monkeypatch.setattr(cache, "load_cached", lambda dispatcher, signature: False)
    before = numba.config.OPT
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    cache.compile_first_call(Recorder(), (1.0,))
    assert seen == [cache.OPT_LEVEL] and numba.config.OPT is before
    monkeypatch.setenv("NUMBA_OPT", "3")
    cache.compile_first_call(Recorder(), (1.0,))
    assert seen[-1] == int(before)


BLAS_SCRIPT = textwrap.dedent("""
    import json, sys, numpy as np, theanine as th, theanine.tensor as tt
    from theanine.tensor.nlinalg import matrix_inverse
    a = tt.dmatrix("a")
    f = th.function([a], [tt.dot(a, a), matrix_inverse(a)], mode="NUMBA")
    m = np.array([[2.0, 1.0], [0.5, 3.0]])
    first = [r.tolist() for r in f(m)]
    package_imported = "scipy.linalg" in sys.modules
    import scipy.linalg                        # the user's own import, afterwards
    from scipy.linalg import cython_blas, cython_lapack
    same = (cython_blas is sys.modules["scipy.linalg.cython_blas"]
            and cython_lapack is sys.modules["scipy.linalg.cython_lapack"])
    solved = scipy.linalg.solve(m, np.ones(2)).tolist()
    again = [r.tolist() for r in f(m + 1.0)]
    print(json.dumps({"first": first, "again": again, "package_imported": package_imported,
                      "same": same, "solved": solved}))
""")


def test_compiled_blas_and_lapack_calls_do_not_import_the_scipy_linalg_package(tmp_path):
    """Numba's ``np.dot``/``np.linalg`` take their BLAS and LAPACK pointers from
    ``scipy.linalg.cython_blas``/``cython_lapack``; those load without running
    ``scipy.linalg``'s ``__init__`` (0.15 s of a cached function's first call), and a
    later ``import scipy.linalg`` works and reuses them."""
    env = dict(os.environ, THEANINE_FLAGS=f"compiledir={tmp_path}", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", BLAS_SCRIPT], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    m = np.array([[2.0, 1.0], [0.5, 3.0]])
    for got, arg in ((result["first"], m), (result["again"], m + 1.0)):
        np.testing.assert_allclose(got[0], arg @ arg, rtol=1e-14)
        np.testing.assert_allclose(got[1], np.linalg.inv(arg), rtol=1e-13)
    assert not result["package_imported"]
    assert result["same"]
    np.testing.assert_allclose(result["solved"], np.linalg.solve(m, np.ones(2)), rtol=1e-13)


@pytest.mark.parametrize("dst_shape, src", [
    ((3, 4), np.arange(4.0)),                       # fewer dimensions: broadcast
    ((3, 4), np.arange(3.0)[:, None]),              # length 1: broadcast
    ((2, 3, 4), np.arange(24.0).reshape(2, 3, 4)),  # same shape
    ((2, 3), 7.5),                                  # a scalar
    ((), np.array(2.0)),                            # 0-d
    ((3, 4), np.arange(4, dtype=np.int32)),         # another dtype: cast
])
def test_assign_helpers_match_numpy_assignment(dst_shape, src):
    """The generated code writes array rows and slices through assign.py's loops
    (Numba's own slice assignment costs seconds of compile per type pair)."""
    from theanine.link.numba.assign import assign, assign_add
    base = np.linspace(-1.0, 1.0, int(np.prod(dst_shape))).reshape(dst_shape)
    got, want = base.copy(), base.copy()
    assign(got, src)
    want[...] = src
    np.testing.assert_array_equal(got, want)
    got, want = base.copy(), base.copy()
    assign_add(got.T if got.ndim == 2 and np.ndim(src) == 0 else got, src)
    want += src
    np.testing.assert_array_equal(got, want)


def test_assign_helpers_refuse_shapes_that_do_not_broadcast():
    from theanine.link.numba.assign import MISMATCH, assign, assign_add
    for helper in (assign, assign_add):
        with pytest.raises(ValueError, match=MISMATCH):
            helper(np.zeros((3, 4)), np.ones(3))


def test_scan_rows_and_slice_increments_run_through_the_assign_helpers():
    x = tt.dmatrix("x")
    hs, _ = th.scan(lambda r, h: h * 0.5 + r, sequences=x, outputs_info=tt.zeros_like(x[0]))
    out = tt.inc_subtensor(hs[1:], x[:-1])
    fn = same_as_default([x], out, [np.arange(12.0).reshape(4, 3)])
    assert fn.fn.callouts == []
    node_sources = fn.fn.source + "".join(    # node bodies written in place, or called
        getattr(g, "fingerprint", None) or getattr(g, "source", "")
        for g in fn.fn.jitted.py_func.__globals__.values())
    assert "_assign(b0[" in node_sources and "_assign_add(view" in node_sources


def test_blas_updates_match_the_default_engine_and_ignore_z_when_beta_is_zero():
    from theanine.tensor.blas import gemm_no_inplace, gemv_no_inplace, ger_no_inplace
    z, x, y = tt.dmatrices("z", "x", "y")
    v, u = tt.dvectors("v", "u")
    a, b = tt.dscalars("a", "b")
    rng = np.random.default_rng(3)
    zv, xv, yv = rng.normal(size=(3, 4)), rng.normal(size=(3, 5)), rng.normal(size=(5, 4))
    vv, uv = rng.normal(size=5), rng.normal(size=3)
    outs = [gemm_no_inplace(z, a, x, y, b), gemv_no_inplace(u, a, x, v, b),
            ger_no_inplace(z, a, u, y[0])]
    for bv in (0.5, 0.0):
        zz = zv if bv else np.full_like(zv, np.nan)      # beta == 0: z is not read
        uu = uv if bv else np.full_like(uv, np.nan)
        got = same_as_default([z, x, y, v, u, a, b], outs[:2], [zz, xv, yv, vv, uu, 1.5, bv])
        assert got.fn.callouts == []
        np.testing.assert_allclose(got(zz, xv, yv, vv, uu, 1.5, bv)[0],
                                   1.5 * xv @ yv + (bv * zv if bv else 0), rtol=1e-12)
    same_as_default([z, u, y, a], outs[2], [zv, uv, yv, 2.0])


def _node_sources(fn):
    return "".join(getattr(g, "fingerprint", None) or getattr(g, "source", "")
                   for g in fn.fn.jitted.py_func.__globals__.values())


def test_large_transcendental_work_outside_loops_runs_on_the_parallel_drivers():
    """The fused kernels' prange drivers (both cores) take large flat operands of a
    full fused reduction or of an elementwise program with transcendental math."""
    from theanine.link.fused.numba_kernel import PARALLEL_MIN
    v = tt.dvector("v")
    branch = tt.mean(tt.tanh(v) * tt.exp(-v * v))
    data = np.random.default_rng(5).standard_normal(PARALLEL_MIN * 4)
    with th.config.change_flags(numba__parallel=True):
        fn = same_as_default([v], [branch, tt.exp(v) * 2.0], [data])
    sources = _node_sources(fn)
    assert sources.count("_par(n, ") == 2           # the reduction and the elementwise node
    # below the parallel size, the drivers' serial twins: the program's vectorized body
    # is compiled once, in the kernel module, not also into the node's own loop
    assert sources.count("_ser(n, ") == 2 and "= body_v(" not in sources
    with th.config.change_flags(numba__parallel=False):
        serial = th.function([v], [branch, tt.exp(v) * 2.0], mode=NUMBA)
    assert "_par(n, " not in _node_sources(serial)
    np.testing.assert_allclose(fn(data)[0], serial(data)[0], rtol=1e-12)
    small = data[:100]                                  # below PARALLEL_MIN: serial loop
    np.testing.assert_allclose(fn(small)[0], serial(small)[0], rtol=1e-12)


def test_no_parallel_drivers_for_cheap_math_or_inside_loop_bodies():
    v = tt.dvector("v")
    cheap = th.function([v], v * 2.0 + 1.0, mode=NUMBA)
    assert "_par(n, " not in _node_sources(cheap)
    hs, _ = th.scan(lambda h: tt.tanh(h) * tt.exp(h), outputs_info=v, n_steps=3)
    looped = same_as_default([v], hs[-1], [np.linspace(-1.0, 1.0, 7)])
    assert "_par(n, " not in _node_sources(looped)


def _loop_sources(f):
    return [getattr(g, "fingerprint", "") or "" for g in f.fn.jitted.py_func.__globals__.values()]


def test_a_kept_state_is_written_into_its_row_and_returned_without_a_copy():
    """A step whose new state is an elementwise result writes it straight into the
    state's row of the buffer every step is kept in, and the scan returns the rows
    as a view; a state another output of the step also reads is copied in."""
    x, h0 = tt.dmatrix("x"), tt.dvector("h0")
    xv, h0v = np.linspace(-1.0, 1.0, 12).reshape(4, 3), np.array([0.1, -0.2, 0.3])
    hs, _ = th.scan(lambda xt, h: tt.tanh(h * 0.5 + xt), sequences=x, outputs_info=h0)
    f = same_as_default([x, h0], hs, [xv, h0v])
    loop = next(src for src in _loop_sources(f) if "def scan" in src)
    assert "b0[(1 + i) % S0])" in loop and "_assign(b0[(1 + i) % S0]" not in loop
    assert "r0 = b0[1:1 + done]" in loop
    np.testing.assert_array_equal(xv, np.linspace(-1.0, 1.0, 12).reshape(4, 3))
    # stopped early by ``until``: the view has the rows computed
    grown, _ = th.scan(lambda h: (h * 2.0, until(h.sum() > 20)), outputs_info=h0,
                       n_steps=50)
    same_as_default([h0], grown, [np.ones(3)])
    # the new state is also another output of the step: copied into its row
    (hs2, sums), _ = th.scan(lambda xt, h: [tt.tanh(h + xt), tt.tanh(h + xt) * 2.0],
                             sequences=x, outputs_info=[h0, None])
    f = same_as_default([x, h0], [hs2, sums], [xv, h0v])
    loop = next(src for src in _loop_sources(f) if "def scan" in src)
    assert "_assign(b0[(1 + i) % S0]" in loop


def test_a_backward_scan_writes_the_steps_it_keeps_in_their_final_order():
    """A backward loop (a gradient's) writes its mapped output from the last row up,
    so it needs no reversed copy; values match the default engine."""
    x, h0, w = tt.dmatrix("x"), tt.dvector("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    cost = (hs ** 2).sum()
    rng = np.random.default_rng(3)
    args = [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(3, 3)) / 2]
    f = same_as_default([x, h0, w], [cost, *th.grad(cost, [x, h0, w])], args)
    backward = [src for src in _loop_sources(f) if "def scan" in src and "n - 1 - i" in src]
    assert backward and "m0[n - 1 - i]" in backward[0] and "rn0[::-1]" not in backward[0]
    same_as_default([x, h0, w], [cost, *th.grad(cost, [x, h0, w])],
                    [args[0][:1], args[1], args[2]])


def test_an_arithmetic_step_kernel_is_inlined_into_the_step_a_costly_one_called():
    """The step's in-place elementwise function: with arithmetic only, its call costs
    as much as its work, so Numba inlines it; with transcendental math it stays a
    call (cheaper to compile); values match the default engine either way."""
    from theanine.link.numba.elemwise import elemwise_function
    v = tt.dvector("v")
    for expr, inlined in ((v * 2.0 + 1.0, True), (tt.tanh(v) * 2.0, False)):
        node = th.function([v], expr).maker.fgraph.outputs[0].owner
        fn, _ = elemwise_function(node.op.scalar_op, node, into=True)
        assert (fn.targetoptions.get("inline") == "always") is inlined
    a, k = tt.dvector("a"), tt.iscalar("k")
    for step in (lambda p, a: p * a + 0.5, lambda p, a: tt.tanh(p * a)):
        seq, _ = th.scan(step, outputs_info=v, non_sequences=a, n_steps=k)
        f = same_as_default([v, a, k], seq[-1], [np.ones(4), np.linspace(0.5, 1.5, 4), 7])
        assert any("dst0" in src for src in _loop_sources(f))


def test_a_register_state_is_written_over_the_state_that_drops_out():
    """A step's new state goes into the buffer of the state no tap reads any more
    (two buffers take turns): values match the default engine, inputs stay intact,
    and where a step passes a value through (which a register could then share) or
    carries a state, every step makes its own array."""
    x0, a, k = tt.dmatrix("x0"), tt.dvector("a"), tt.iscalar("k")
    x0v, av = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 0.5])
    seq, _ = th.scan(lambda p2, p1, a: p1 * 0.5 + p2 * a,
                     outputs_info=dict(initial=x0, taps=[-2, -1]), non_sequences=a,
                     n_steps=k)
    for steps in (1, 2, 3, 6):
        f = same_as_default([x0, a, k], seq[-1], [x0v, av, steps])
    assert any("sp0 = old0" in src and "dst0" in src for src in _loop_sources(f))
    np.testing.assert_array_equal(x0v, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(av, [1.0, 2.0, 0.5])

    # the second state is the first one's previous value, passed through
    v = tt.dvector("v")
    (s1, s2), _ = th.scan(lambda p1, p2, a: [p1 * a, p1], outputs_info=[v, v],
                          non_sequences=a, n_steps=k)
    f = same_as_default([v, a, k], [s1[-1], s2[-1]], [np.ones(3), av, 5])
    assert not any("sp0" in src for src in _loop_sources(f))
    # a state also read by another output of the step
    (s1, s2), _ = th.scan(lambda p1, a: [p1 * a, (p1 * a).sum()], outputs_info=[v, None],
                          non_sequences=a, n_steps=k)
    f = same_as_default([v, a, k], [s1[-1], s2], [np.ones(3), av, 4])
    # a step whose result outgrows the buffer (broadcasting) gets a new array, and
    # the loop reports the shape change as the default engine does
    grow, _ = th.scan(lambda p, a: p * a, outputs_info=v, non_sequences=a, n_steps=k)
    f = th.function([v, a, k], grow[-1], mode=NUMBA)
    assert any("sp0" in src for src in _loop_sources(f))
    for mode in (NUMBA, None):
        with pytest.raises(ValueError, match="keep the shape of its initial state"):
            th.function([v, a, k], grow[-1], mode=mode)(np.ones(1), av, 3)
