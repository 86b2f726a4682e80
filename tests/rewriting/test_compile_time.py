"""Rewriting time grows linearly with the graph (an elementwise chain, FAST_RUN passes)."""

import time

import theanine.tensor as tt
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting.pipeline import OPTIMIZER_QUERIES, run_pipeline


def rewrite_seconds(n: int) -> float:
    x = tt.dvector("x")
    y = x
    for _ in range(n):
        y = tt.sin(y) + 1
    fg = FunctionGraph([x], [y])
    start = time.process_time()
    report = run_pipeline(fg, OPTIMIZER_QUERIES["fast_run"].excluding("fusion", "inplace"))
    elapsed = time.process_time() - start
    assert len(fg.apply_nodes) == 2 * n                  # the constant 1s merged into one
    assert report.passes[0].applied["merge_constant"] == n - 1
    return elapsed


def test_rewrite_time_is_linear_in_graph_size():
    small = min(rewrite_seconds(800) for _ in range(2))
    large = rewrite_seconds(4000)
    # 5x the nodes: linear is 5x; allow for cache effects and a busy machine
    assert large / small < 9, (small, large)
    assert large < 5.0, large
