"""Compile time with the rewrite trace off and on (``config.trace_rewrites``).

    python benchmarks/bench_trace_rewrites.py

Off, ``run_pipeline`` reads one flag and attaches nothing, so compiling costs
what it did; the benchmark compiles the tutorial's logistic regression training
step (with its gradients) and a 400-node elementwise chain, off and on in turn
within each repeat (so load on a shared machine hits both alike), and reports
the medians.  It also times the statements the off path adds, alone.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import theanine as th
import theanine.tensor as tt


def _logreg():
    x, y = tt.dmatrix("x"), tt.dvector("y")
    w, b = th.shared(np.zeros(50), name="w"), th.shared(0.0, name="b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    cost = (-y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)).mean() + 0.01 * (w ** 2).sum()
    gw, gb = th.grad(cost, [w, b])
    return [x, y], [cost], [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]


def _chain(n: int = 400):
    x = tt.dvector("x")
    y = x
    for i in range(n):
        y = tt.exp(y) * 0.5 if i % 2 else y + 1.0
    return [x], [y], []


def compile_seconds(build, repeats: int = 7) -> dict:
    samples = {"off": [], "on": []}
    for _ in range(repeats):
        for flag in ("off", "on"):
            inputs, outputs, updates = build()
            with th.config.change_flags(trace_rewrites=flag == "on"):
                start = time.perf_counter()
                th.function(inputs, outputs, updates=updates)
                samples[flag].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in samples.items()}


def off_path_seconds(n: int = 100_000) -> float:
    """The off path's additions to ``run_pipeline``: the flag read and the outputs list."""
    config, outputs = th.config, [None] * 3
    start = time.perf_counter()
    for _ in range(n):
        list(outputs)
        if config.trace_rewrites:
            pass
    return (time.perf_counter() - start) / n


def main() -> None:
    for name, build in (("logreg train step", _logreg), ("400-node chain", _chain)):
        r = compile_seconds(build)
        print(f"{name}: compile {r['off'] * 1e3:.1f} ms with trace_rewrites off, "
              f"{r['on'] * 1e3:.1f} ms on ({r['on'] / r['off']:.2f}x)")
    added = off_path_seconds()
    print(f"what the off path adds per compile: {added * 1e6:.2f} us")


if __name__ == "__main__":
    main()
