"""Profiling: per-node times, tables adding up to 100%, memory peaks, optimizer report."""

import importlib.util
import io
import os
import pathlib
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile import ProfileStats
from theanine.compile.profiling_memory import memory_peaks
from theanine.ifelse import ifelse
from theanine.link.python import dispatch_fused
from theanine.link.python.codegen import VMLinker
from theanine.scalar import basic as ts
from theanine.tensor.elemwise import Elemwise

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _logreg():
    spec = importlib.util.spec_from_file_location("logreg_profiled", ROOT / "examples" /
                                                  "logreg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quiet(stats):
    """Keep a test's profile out of the report printed at interpreter exit."""
    stats.atexit_print = False
    return stats


def _tables(text):
    """``{title: [(pct, cum) per row]}`` for every time table of a summary."""
    tables, title, prev = {}, None, ""
    for line in text.splitlines():
        if line and set(line) == {"-"} and prev:
            title = prev
            tables[title] = []
            continue
        m = re.match(r"\s+(\d+\.\d)% +(\d+\.\d)% ", line)
        if m and title is not None:
            tables[title].append((float(m.group(1)), float(m.group(2))))
        prev = line
    return {k: v for k, v in tables.items() if v}


@pytest.fixture(scope="module")
def logreg_profile():
    logreg = _logreg()
    rng = np.random.default_rng(0)
    with th.config.change_flags(profile=True, profile_memory=True, profile_optimizer=True):
        train, predict, _, _ = logreg.build(rng)
    data_x = rng.standard_normal((400, 784))
    data_y = rng.integers(0, 2, 400).astype("float64")
    for _ in range(5):
        train(data_x, data_y)
    predict(data_x)
    _quiet(train.profile)
    _quiet(predict.profile)
    return train, predict


def test_logreg_summary_has_every_section(logreg_profile):
    train, _ = logreg_profile
    assert isinstance(train.profile, ProfileStats)
    out = io.StringIO()
    train.profile.summary(file=out)
    text = out.getvalue()
    for needle in ("Function train: linker vm, per-node times",
                   "calls: 5; time in __call__:",
                   "time in the generated function body:", "time in nodes:", "% of __call__",
                   "compile:", "rewrite", "validation", "+ link", "nodes: ",
                   "Class (op classes)", "Ops (equal ops merged)", "Apply (nodes;",
                   "Source lines", "logreg.py:", "gw, gb = th.grad(cost, [w, b])",
                   "peak as executed", "peak without garbage collection",
                   "peak without in-place and views", "largest outputs",
                   "Rewrites (profile_optimizer)", "merge1", "merge_constant"):
        assert needle in text, needle
    assert "Dot(x, w)" in text and "Elemwise" in text


def test_logreg_tables_add_up_to_100_percent(logreg_profile):
    train, predict = logreg_profile
    shared = _quiet(ProfileStats("both"))
    shared.functions = train.profile.functions + predict.profile.functions
    for stats in (train.profile, shared):
        text = stats.summary_text(n_apply=6, n_ops=4)
        tables = _tables(text)
        assert len(tables) == 4, list(tables)   # class, ops, apply, source lines
        for title, rows in tables.items():
            pcts = [p for p, _ in rows]
            assert abs(sum(pcts) - 100.0) <= 0.05 * len(pcts) + 1e-9, (title, pcts)
            assert rows[-1][1] == pytest.approx(100.0, abs=0.051), title
            assert all(b >= a for (_, a), (_, b) in zip(rows, rows[1:])), title
    # the remainder line holds what the top-N rows leave out
    assert "more rows" in train.profile.summary_text(n_apply=6, n_ops=4)


def test_logreg_counts_and_times(logreg_profile):
    train, _ = logreg_profile
    entry = train.profile.functions[0]
    code = entry.code
    assert entry.calls == 5 and code.runs[0] == 5
    assert all(code.calls_of(p) == 5 for p in range(len(code.order)))
    assert all(t > 0 for t in code.times)
    assert 0 < entry.node_time <= entry.body_time <= entry.call_time
    assert [n for n in code.order] == train.maker.fgraph.toposort()
    # the profiled function computes the same as the plain one
    rng = np.random.default_rng(1)
    logreg = _logreg()
    plain, _, w, b = logreg.build(np.random.default_rng(5))
    with th.config.change_flags(profile=True):
        prof, _, w2, b2 = logreg.build(np.random.default_rng(5))
    _quiet(prof.profile)
    xv, yv = rng.standard_normal((20, 784)), rng.integers(0, 2, 20).astype("float64")
    for a, c in zip(plain(xv, yv), prof(xv, yv)):
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(w.get_value(), w2.get_value())


def test_shared_stats_sum_functions_and_reset():
    x = tt.dvector("x")
    stats = _quiet(ProfileStats("shared"))
    f = th.function([x], tt.exp(x).sum(), profile=stats, name="f")
    g = th.function([x], (x * 2).mean(), profile=stats, name="g")
    assert f.profile is stats and g.profile is stats
    f(np.ones(3))
    f(np.ones(3))
    g(np.ones(3))
    assert stats.calls == 3 and [e.calls for e in stats.functions] == [2, 1]
    text = stats.summary_text()
    assert "Profile: shared  (2 function(s): f, g)" in text
    assert "Total: 3 calls" in text and "f: " in text and "g: " in text
    stats.reset()
    assert stats.calls == 0 and sum(stats.functions[0].code.times) == 0


def test_lazy_branch_nodes_count_their_own_calls():
    c = tt.dscalar("c")
    x = tt.dvector("x")
    stats = _quiet(ProfileStats(memory=True))
    f = th.function([c, x], ifelse(c > 0, tt.exp(x).sum(), tt.log(x).sum()), profile=stats,
                    mode=th.Mode().excluding("fusion"))
    xv = np.arange(1.0, 5.0)
    for cv in (1.0, 1.0, 1.0, -1.0):
        expect = np.exp(xv).sum() if cv > 0 else np.log(xv).sum()
        assert f(cv, xv) == pytest.approx(expect)
    code = stats.functions[0].code
    calls = {str(n.op): code.calls_of(p) for p, n in enumerate(code.order)}
    assert calls["Elemwise{exp}"] == 3 and calls["Elemwise{log}"] == 1
    assert calls["Elemwise{gt}"] == 4
    # the last call took the else branch: its replay saw log and mean, not exp
    ran = {str(code.order[e].op) for e in code.events if e >= 0}
    assert "Elemwise{log}" in ran and "Elemwise{exp}" not in ran
    assert memory_peaks(code).executed == 1 + xv.nbytes + 8  # c > 0, log(x), its sum
    assert "Elemwise{exp}" in stats.summary_text()


def test_py_linker_and_whole_call_linker():
    x = tt.dvector("x")
    stats = _quiet(ProfileStats())
    f = th.function([x], tt.exp(x) + 1, mode=th.Mode("py", "fast_run"), profile=stats)
    np.testing.assert_allclose(f(np.zeros(2)), [2.0, 2.0])
    assert stats.functions[0].code is not None and stats.functions[0].linker_name == "py"

    class OpaqueLinker:
        """A linker that does not generate Python (like a compiled backend)."""

        name = "opaque"

        def make_function(self, fgraph, spec):
            return VMLinker().make_function(fgraph, spec)

    stats2 = _quiet(ProfileStats())
    g = th.function([x], tt.exp(x), mode=th.Mode(OpaqueLinker(), "fast_run"), profile=stats2)
    g(np.zeros(2))
    g(np.zeros(2))
    text = stats2.summary_text()
    assert "linker opaque, whole-call time only" in text
    assert "calls: 2" in text and "no per-node times" in text
    assert stats2.functions[0].call_time > 0


def test_errors_still_name_the_node():
    x = tt.dvector("x")
    y = tt.dvector("y")
    stats = _quiet(ProfileStats())
    f = th.function([x, y], tt.exp(x) + y, profile=stats)
    with pytest.raises(ValueError, match=r"Apply node that caused the error: Elemwise\{Composite"):
        f(np.ones(2), np.ones(3))


def _traced_peak(f, *args):
    f(*args)  # warm up
    # tracemalloc counts every thread: a fused kernel of an earlier test still
    # compiling in the background would add its allocations to this peak
    dispatch_fused.wait_for_kernels()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        f(*args)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _memory_graph():
    x = tt.dvector("x")
    y = tt.exp(x)
    z = y * 2.0
    w = z + y
    u = tt.log(w) - z
    return x, [(u * w).sum(), u]


def test_memory_peak_matches_tracemalloc():
    xv = np.random.default_rng(0).random(500_000)
    # as written, and rewritten (unfused: a fused kernel's own buffers are allocated
    # outside NumPy, where tracemalloc cannot see them)
    for mode in (th.Mode("vm", "None"), th.Mode().excluding("fusion")):
        for allow_gc in (True, False):
            x, outs = _memory_graph()
            stats = _quiet(ProfileStats(memory=True))
            with th.config.change_flags(allow_gc=allow_gc):
                f = th.function([x], outs, profile=stats, mode=mode)
            measured = _traced_peak(f, xv)
            peaks = memory_peaks(stats.functions[0].code)
            assert abs(peaks.executed - measured) <= 0.1 * measured, (mode, peaks, measured)
            assert peaks.no_gc >= peaks.executed
            if allow_gc:
                assert peaks.no_gc > peaks.executed
            else:
                assert peaks.no_gc == peaks.executed
            if mode.query.name != "None" and allow_gc:
                # exp, 2*exp, their sum and log: in-place ops reuse buffers, so at most
                # four full arrays are alive, and fewer than without in-place/views
                assert peaks.executed <= 4 * xv.nbytes
                assert peaks.executed < peaks.no_views <= peaks.no_gc_no_views
                assert peaks.intermediates >= peaks.no_gc_no_views


def test_memory_counts_views_and_inplace_outputs_as_shared():
    x = tt.dmatrix("x")
    e = tt.exp(x)
    twice = Elemwise(ts.mul, {0: 0})(e, tt.constant(2.0))   # writes into exp's buffer
    out = (twice.T + 1.0).sum()
    stats = _quiet(ProfileStats(memory=True))
    f = th.function([x], out, profile=stats, mode=th.Mode("vm", "None"), accept_inplace=True)
    xv = np.random.default_rng(0).random((300, 400))
    assert f(xv) == pytest.approx((2 * np.exp(xv) + 1).sum())
    peaks = memory_peaks(stats.functions[0].code)
    # as executed, exp's buffer is reused by the in-place mul and viewed by .T: two arrays
    assert peaks.executed == 2 * xv.nbytes
    assert 2 * xv.nbytes < peaks.no_gc <= 2 * xv.nbytes + 64    # + the 0-d/1-elem values
    # counted as fresh arrays, mul and .T would each need their own
    assert peaks.no_gc_no_views == peaks.intermediates
    assert 4 * xv.nbytes < peaks.no_gc_no_views <= 4 * xv.nbytes + 64
    measured = _traced_peak(f, xv)
    assert abs(peaks.executed - measured) <= 0.1 * measured


def test_profile_optimizer_alone_reports_rewrites_without_timing_runs():
    x = tt.dvector("x")
    with th.config.change_flags(profile_optimizer=True):
        f = th.function([x], tt.exp(x) + tt.exp(x), name="opt")
    _quiet(f.profile)
    assert f.profile.functions[0].code is None
    f(np.zeros(2))
    text = f.profile.summary_text()
    assert "profile_optimizer only" in text
    assert re.search(r"merge1 .* merge_node: 1", text)


def test_profile_flag_prints_at_exit_to_destination(tmp_path):
    dest = tmp_path / "profile.txt"
    script = ("import numpy as np, theanine as th, theanine.tensor as tt\n"
              "x = tt.dvector('x')\n"
              "f = th.function([x], tt.exp(x) * 2, name='atexit_fn')\n"
              "g = th.function([x], tt.log(x), name='other')\n"
              "f(np.ones(3)); g(np.ones(3))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               THEANINE_FLAGS=f"profile=True,profiling__destination={dest}")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    text = dest.read_text()
    assert "Function atexit_fn: linker vm, per-node times" in text
    assert "Function other" in text and "Profile: Sum of all profiles" in text
    assert "<string>:3" in text or "Elemwise{exp}" in text


def test_scan_body_is_profiled_as_its_own_block():
    k = tt.iscalar("k")
    a = tt.dvector("a")
    result, updates = th.scan(lambda prior, a: prior * a + 1.0, outputs_info=tt.ones_like(a),
                              non_sequences=a, n_steps=k)
    stats = _quiet(ProfileStats())
    f = th.function([a, k], result[-1], updates=updates, profile=stats)
    av = np.arange(3.0)
    expect = np.ones(3)
    for _ in range(4):
        expect = expect * av + 1.0
    np.testing.assert_allclose(f(av, 4), expect)
    f(av, 2)
    code = stats.functions[0].code
    (pos, inner), = code.inner.items()
    assert type(code.order[pos].op).__name__ == "Scan"
    assert inner.runs[0] == 6                       # 4 + 2 steps
    assert all(inner.calls_of(p) == 6 for p in range(len(inner.order)))
    assert 0 < sum(inner.times) <= inner.body_time[0] <= code.times[pos]
    text = stats.summary_text()
    assert f"Inner graph of fn node #{pos}: Scan" in text and "body runs: 6" in text
    block = text[text.index("Inner graph"):]
    for rows in _tables(block).values():
        assert rows[-1][1] == pytest.approx(100.0, abs=0.051)
    assert "Elemwise{mul}" in block or "Composite" in block


def test_nodes_made_by_graph_passes_keep_the_users_line(logreg_profile):
    """Fused, merged and in-place nodes are attributed to the line that built what
    they compute (the source-line table), never to the ``th.function`` call."""
    train, _ = logreg_profile
    fgraph = train.maker.fgraph
    rewritten = [n for n in fgraph.apply_nodes
                 if "Composite" in str(n.op) or n.op.destroy_map]
    assert rewritten
    for node in rewritten:
        filename, lineno, _ = node.tag.trace[0]
        assert filename.endswith("logreg.py"), node
        text = pathlib.Path(filename).read_text().splitlines()[lineno - 1]
        assert "th.function" not in text, (node, text)
