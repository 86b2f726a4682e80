"""Rewriting work grows linearly with the graph (an elementwise chain, FAST_RUN passes).

Work is counted as rule attempts, not seconds, so the test does not depend on
the machine's load; the seconds are measured in benchmarks/bench_foundation.py.
"""

import theanine.tensor as tt
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting import basic as rw_basic
from theanine.graph.rewriting.pipeline import OPTIMIZER_QUERIES, run_pipeline


def rewrite_attempts(n: int, monkeypatch) -> int:
    x = tt.dvector("x")
    y = x
    for _ in range(n):
        y = tt.sin(y) + 1
    fg = FunctionGraph([x], [y])
    calls = []
    original = rw_basic.try_rule

    def counting(fgraph, node, rule):
        calls.append(1)
        return original(fgraph, node, rule)

    monkeypatch.setattr(rw_basic, "try_rule", counting)
    run_pipeline(fg, OPTIMIZER_QUERIES["fast_run"].excluding("fusion", "inplace"))
    monkeypatch.setattr(rw_basic, "try_rule", original)
    assert len(fg.apply_nodes) == 2 * n                  # the constant 1s merged into one
    return len(calls)


def test_rewrite_work_is_linear_in_graph_size(monkeypatch):
    small = rewrite_attempts(800, monkeypatch)
    large = rewrite_attempts(4000, monkeypatch)
    assert small > 0
    assert large / small < 5.5, (small, large)


def gradient_chain_compile_seconds(*sizes: int) -> list[float]:
    """Best of five compiles of the gradient of an n-layer tanh chain, for each
    size; the sizes take turns, so a burst of load on the shared machine (the other
    test worker compiling Numba kernels) reaches every size, not one (with three,
    a burst over the larger size's compiles gave a ratio of 7.6 once, in a full run
    sharing the cores with other work)."""
    import time

    import numpy as np

    import theanine as th

    grads = []
    for n in sizes:
        x = tt.dvector("x")
        w = th.shared(np.full(3, 0.5), name="w")
        c = x
        for _ in range(n):
            c = tt.tanh(c * w)
        grads.append((x, th.grad(c.sum(), w)))
    best = [float("inf")] * len(sizes)
    for _ in range(5):
        for k, (x, g) in enumerate(grads):
            start = time.perf_counter()
            th.function([x], g)
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def test_gradient_graph_compile_time_is_linear():
    """4x the layers costs about 4x the time (it was 16x: the in-place validation
    re-sorted the graph per candidate, and long sums were walked once per term)."""
    small, large = gradient_chain_compile_seconds(100, 400)
    assert large / small < 7.0, (small, large)


def test_long_sum_is_walked_once(monkeypatch):
    """A chain of n additions is flattened from its top only: the terms the
    canonical-sum walk expands grow like n, not n squared."""
    from theanine.tensor.rewriting import algebra

    def expanded(n):
        x = tt.dvector("x")
        terms = [tt.sin(x * float(i)) for i in range(n)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        fg = FunctionGraph([x], [total])
        calls = []
        original = algebra.single_client

        def counting(*args):
            calls.append(1)
            return original(*args)

        monkeypatch.setattr(algebra, "single_client", counting)
        run_pipeline(fg, OPTIMIZER_QUERIES["fast_run"].excluding("fusion", "inplace"))
        monkeypatch.setattr(algebra, "single_client", original)
        return len(calls)

    small, large = expanded(100), expanded(400)
    assert small > 0
    assert large / small < 5.5, (small, large)
