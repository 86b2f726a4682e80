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
