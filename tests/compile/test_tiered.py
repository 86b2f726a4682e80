"""Tiered execution (theanine/compile/tiered.py): FAST_RUN functions start on the
default engine, and a hot one switches to its whole-function Numba version, built in
the background, checked against the default engine and swapped in between calls.

Thresholds are set low here so that the swap happens early (the suite otherwise runs
with tiering off: tests/conftest.py)."""

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

pytest.importorskip("numba", reason="the Numba version needs numba")
ROOT = Path(__file__).resolve().parents[2]

# built in this process (a child process per build would cost its start-up each time;
# the child process has its own test below)
EARLY = dict(tiered=True, tiered__calls=2, tiered__seconds=0.0, tiered__child=False)


def _settled(f, calls_after=2, *args):
    """Wait for the background build, then make ``calls_after`` calls."""
    thread = getattr(f.tiering, "thread", None)
    if thread is not None:
        thread.join(300)
    return [f(*args) for _ in range(calls_after)]


def _loop(k=3000):
    x = tt.dvector("x")
    out, _ = th.scan(lambda p, x: tt.tanh(p * x + 0.1), outputs_info=tt.zeros_like(x),
                     non_sequences=x, n_steps=k)
    return x, out


def test_a_hot_loop_switches_to_numba_with_the_same_results():
    x, out = _loop()
    reference = th.function([x], out[-1], mode=th.Mode("vm", "fast_run"))  # not tiered
    with th.config.change_flags(**EARLY):
        f = th.function([x], out[-1])
        xv = np.linspace(-1.0, 1.0, 5)
        f(xv), f(xv)                                   # hot after two calls
        assert f.tiering.state == "compiling"
        results = _settled(f, 3, xv)
    assert f.tiering.state == "numba", f.tiering.reason
    assert f.tiering.calls == {"default": 2, "numba": 3}
    for r in results:
        np.testing.assert_allclose(r, reference(xv), rtol=1e-12)


def _recurrent_model():
    w = th.shared(np.ones(3), name="w")
    x = tt.dvector("x")
    hs, _ = th.scan(lambda h, w, x: tt.tanh(h * w + x), outputs_info=tt.zeros_like(x),
                    non_sequences=[w, x], n_steps=500)
    return w, x, hs[-1], {w: w * 0.5 + hs[-1]}


def test_updates_are_applied_once_per_call_and_the_trial_writes_nothing():
    w1, x1, out1, updates1 = _recurrent_model()
    w2, x2, out2, updates2 = _recurrent_model()
    plain = th.function([x2], out2, updates=updates2, mode=th.Mode("vm", "fast_run"))
    xv = np.array([0.5, -0.25, 1.0])
    kept = xv.copy()
    with th.config.change_flags(**EARLY):
        f = th.function([x1], out1, updates=updates1)
        for step in range(6):
            got, want = f(xv), plain(xv)
            if step == 1:                   # hot: wait for the Numba version
                f.tiering.thread.join(300)
            np.testing.assert_allclose(got, want, rtol=1e-12)
            np.testing.assert_allclose(w1.get_value(), w2.get_value(), rtol=1e-12)
    assert f.tiering.state == "numba", f.tiering.reason
    assert f.tiering.calls == {"default": 2, "numba": 4}
    np.testing.assert_array_equal(xv, kept)                # arguments untouched


def test_a_cheap_function_stops_being_watched():
    x = tt.dvector("x")
    with th.config.change_flags(tiered=True, tiered__calls=3, tiered__seconds=10.0):
        f = th.function([x], x + 1.0)
        for _ in range(3):
            f(np.zeros(2))
    assert f.tiering.state == "default" and "not hot" in f.tiering.reason
    assert type(f).__call__ is f.fn                        # no wrapper left: no cost


def test_a_numba_version_that_is_not_faster_is_not_used():
    x = tt.dvector("x")
    with th.config.change_flags(**EARLY):
        f = th.function([x], (tt.exp(x) * 2.0).sum())
        xv = np.linspace(0, 1, 10)
        f(xv), f(xv)
        _settled(f, 1, xv)
    # one tiny node: the default engine's call is already as cheap as it gets
    assert f.tiering.state in ("default", "numba")
    if f.tiering.state == "default":
        assert "not faster" in f.tiering.reason
        assert type(f).__call__ is f.fn


def test_the_default_engine_is_timed_before_any_numba_code_runs(monkeypatch):
    # the Numba version's BLAS leaves a second pool of threads spinning, which slowed
    # NumPy's BLAS calls timed right after it up to 10x and swapped in a slower version
    from theanine.compile import tiered
    from theanine.link.numba.linker import NumbaLinker

    events = []
    timed = tiered._best_of
    made = NumbaLinker.make_function

    def best_of(fn, inputs):
        events.append("timed " + ("numba" if hasattr(fn, "numba_version") else "default"))
        return timed(fn, inputs)

    def make_function(self, *args, **kwargs):
        fn = made(self, *args, **kwargs)

        def run(*a, **kw):
            events.append("numba runs")
            return fn(*a, **kw)
        run.phase_times, run.numba_version = fn.phase_times, True
        return run

    monkeypatch.setattr(tiered, "_best_of", best_of)
    monkeypatch.setattr(NumbaLinker, "make_function", make_function)
    x, out = _loop(50)
    with th.config.change_flags(**EARLY):
        f = th.function([x], out[-1])
        xv = np.linspace(-1.0, 1.0, 5)
        f(xv), f(xv)
        _settled(f, 1, xv)
    assert events[:2] == ["timed default", "numba runs"], (events, f.tiering.reason)
    assert "timed numba" in events


def test_the_profile_says_which_tier_ran_each_call():
    x, out = _loop()
    stats = th.compile.ProfileStats(atexit_print=False)
    with th.config.change_flags(**EARLY):
        f = th.function([x], out[-1], profile=stats)
        xv = np.linspace(-1.0, 1.0, 5)
        f(xv), f(xv)
        _settled(f, 3, xv)
    assert f.tiering.state == "numba", f.tiering.reason
    assert [run[:3] for run in f.tiering.runs] == [["default", 1, 2], ["numba", 3, 3]]
    entry = stats.functions[0]
    assert entry.calls == 5
    assert entry.call_time >= sum(run[3] for run in f.tiering.runs) * 0.5
    text = stats.summary_text()
    assert "tiered: numba" in text
    assert "calls 1-2: default engine" in text and "calls 3-5: Numba version" in text
    assert "Numba version compile (Numba, first call)" in text
    assert "per-node tables cover the default engine's calls only" in text


def test_a_profiled_function_that_stays_on_the_default_engine_says_why():
    x = tt.dvector("x")
    stats = th.compile.ProfileStats(atexit_print=False)
    with th.config.change_flags(tiered=True, tiered__calls=2, tiered__seconds=10.0):
        f = th.function([x], x + 1.0, profile=stats)
        for _ in range(4):
            f(np.zeros(2))
    assert f.tiering.state == "default"
    assert f.tiering.runs == [["default", 1, 4, pytest.approx(f.tiering.runs[0][3])]]
    text = stats.summary_text()
    assert "tiered: default (not hot" in text and "calls 1-4: default engine" in text


def test_off_for_trust_input_other_modes_and_the_flag():
    x = tt.dvector("x")
    with th.config.change_flags(**EARLY):
        assert not hasattr(th.function([x], x * 2, trust_input=True), "tiering")
        assert not hasattr(th.function([x], x * 2, mode="FAST_COMPILE"), "tiering")
        assert hasattr(th.function([x], x * 2), "tiering")
    with th.config.change_flags(tiered=False):
        assert not hasattr(th.function([x], x * 2), "tiering")


def test_a_function_called_often_enough_is_built_once_its_calls_add_up():
    """Not hot in the watched calls, but each call is long enough to count: a counter
    takes over and the build starts when the estimated time reaches the threshold."""
    x, out = _loop(1000)
    with th.config.change_flags(tiered=True, tiered__calls=2, tiered__seconds=0.5,
                                tiered__min_call=1e-4, tiered__child=False):
        f = th.function([x], out[-1])
        xv = np.linspace(-1.0, 1.0, 5)
        f(xv), f(xv)
        assert f.tiering.state == "watching" and f.tiering._left > 1
        calls = 2
        while f.tiering.state == "watching":
            f(xv)
            calls += 1
            assert calls < 10_000
        assert f.tiering.state == "compiling"
        _settled(f, 2, xv)
    assert f.tiering.state == "numba", f.tiering.reason
    assert f.tiering.calls["numba"] == 2


def test_short_calls_are_not_counted():
    x = tt.dvector("x")
    with th.config.change_flags(tiered=True, tiered__calls=2, tiered__seconds=10.0,
                                tiered__min_call=1.0):
        f = th.function([x], tt.tanh(x) * 2.0)
        f(np.zeros(3)), f(np.zeros(3))
    assert f.tiering.state == "default" and "tiered__min_call" in f.tiering.reason
    assert type(f).__call__ is f.fn


def test_the_numba_version_is_compiled_by_a_child_process_and_loaded(tmp_path):
    """The child compiles into the disk cache (no GIL held here meanwhile); this
    process only loads the machine code."""
    x = tt.dvector("x")
    out, _ = th.scan(lambda p, x: tt.tanh(p * x + 0.37), outputs_info=tt.zeros_like(x),
                     non_sequences=x, n_steps=2000)        # a graph no other test compiles
    with th.config.change_flags(**dict(EARLY, tiered__child=True),
                                compiledir=str(tmp_path)):
        f = th.function([x], out[-1])
        xv = np.linspace(-1.0, 1.0, 5)
        f(xv), f(xv)
        _settled(f, 2, xv)
    assert f.tiering.state == "numba", f.tiering.reason
    assert f.tiering.child is None
    assert sum(f.tiering._numba_call.jitted.stats.cache_hits.values()) >= 1
    assert list((tmp_path / "numba").glob("f_*.py"))


CHILD_AFTER_OWN_BUILD = textwrap.dedent("""
    import json, tempfile
    import numpy as np, theanine as th, theanine.tensor as tt

    def settled(constant, child):
        x = tt.dvector("x")
        out, _ = th.scan(lambda p, x: tt.tanh(p * x + constant),
                         outputs_info=tt.zeros_like(x), non_sequences=x, n_steps=500)
        flags = dict(tiered=True, tiered__calls=2, tiered__seconds=0.0,
                     tiered__child=child, compiledir=tempfile.mkdtemp())
        with th.config.change_flags(**flags):
            f = th.function([x], out[-1])
            xv = np.linspace(-1.0, 1.0, 5)
            f(xv), f(xv)
            f.tiering.thread.join(600)
            return f.tiering.state, f.tiering.reason

    print(json.dumps([settled(0.1, False), settled(0.37, True)]))
""")


def test_a_child_build_does_not_call_this_processs_own_functions():
    """Numba names machine code by module, name and a per-process counter: the child
    gave its scan step (constant 0.37) the name this process's own step (0.1) had,
    and the loaded function called the wrong one (its outputs differed).  Each
    generated function is now named by its content.  In a fresh process,
    where the counters line up."""
    out = subprocess.run([sys.executable, "-c", CHILD_AFTER_OWN_BUILD], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    (own, _), (child, reason) = json.loads(out.stdout.strip().splitlines()[-1])
    assert own == "numba" and child == "numba", reason


def test_a_build_the_child_cannot_do_falls_back_to_this_process():
    from theanine.compile.tiered_build import build_in_child
    assert "does not pickle" in build_in_child(None, None, (lambda: 0,), {})
    assert "failed" in build_in_child(None, None, (), {})   # the child cannot build None
