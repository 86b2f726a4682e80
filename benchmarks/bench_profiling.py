"""Per-node cost of profiling: a chain of N cheap nodes, profiled vs not.

    python benchmarks/bench_profiling.py         # or: python benchmarks/run.py profiling

The chain alternates ``+ 1`` and ``* 0.5`` on a 4-element vector, so each node
costs about a microsecond and the difference per node is the profiler's own
cost: one clock read and one list update per node (plus the output sizes and an
event per node and per ``del`` with ``profile_memory``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.compile import ProfileStats

N_NODES = 200


def _chain(n: int):
    x = tt.dvector("x")
    y = x
    for i in range(n):
        y = y + 1.0 if i % 2 == 0 else y * 0.5
    return x, y


def _interleaved(fns: dict, arg, repeats: int = 11, number: int = 100) -> dict:
    """Median seconds per call of each function, and of each one's excess over ``plain``.

    The functions are timed in turn within every repeat, so load changes on a
    shared machine hit all of them alike; the excess is the median of per-repeat
    differences.
    """
    for fn in fns.values():
        fn(arg)
    samples: dict = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn(arg)
            samples[name].append((time.perf_counter() - start) / number)
    result = {name: statistics.median(s) for name, s in samples.items()}
    for name, s in samples.items():
        result[f"{name}-plain"] = statistics.median(a - b for a, b in zip(s, samples["plain"]))
    return result


def measure(n: int = N_NODES) -> dict:
    """Median seconds per call of the plain, profiled and memory-profiled chain."""
    x, y = _chain(n)
    mode = th.Mode().excluding("fusion")   # keep the N nodes apart: the cost is per node
    plain = th.function([x], y, mode=mode)
    timed = th.function([x], y, mode=mode, profile=ProfileStats(atexit_print=False))
    memory = th.function([x], y, mode=mode,
                         profile=ProfileStats(memory=True, atexit_print=False))
    arg = np.arange(4.0)
    np.testing.assert_array_equal(plain(arg), timed(arg))
    result = _interleaved({"plain": plain, "profile": timed, "memory": memory}, arg)
    result["nodes"] = len(plain.maker.fgraph.apply_nodes)
    result["clock"] = _clock_cost()
    return result


def _clock_cost() -> float:
    clock = time.perf_counter
    start = clock()
    for _ in range(100_000):
        clock()
    return (clock() - start) / 100_000


def main() -> None:
    r = measure()
    n = r["nodes"]
    per = r["profile-plain"] / n
    per_mem = r["memory-plain"] / n
    print(f"chain of {n} cheap nodes: plain {r['plain'] * 1e6:.0f} us/call, "
          f"profile=True {r['profile'] * 1e6:.0f} us/call, "
          f"profile_memory {r['memory'] * 1e6:.0f} us/call")
    print(f"profiling overhead per node: {per * 1e6:.2f} us (time), "
          f"{per_mem * 1e6:.2f} us (time + memory); "
          f"one perf_counter() call here costs {r['clock'] * 1e6:.2f} us")


if __name__ == "__main__":
    main()
