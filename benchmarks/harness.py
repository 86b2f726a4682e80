"""Side-by-side timing: each workload runs theanine and its peers in one process.

A ``Workload`` names callables that do the same work (theanine, hand-written
NumPy, and optionally JAX / PyTensor); ``run_workloads`` warms each up, takes the
median of several repeats, and prints times and ratios to NumPy.  The machine is
shared and noisy, so only medians and ratios are reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from theanine.link.python.dispatch_fused import wait_for_kernels


@dataclass
class Workload:
    """One comparable piece of work.

    ``setup()`` returns a dict of callables keyed by implementation name
    (``"theanine"``, ``"numpy"``, ``"jax"``, ``"pytensor"``...); each is called with
    no arguments and timed.  ``number`` calls are made per repeat (for tiny work).
    """

    name: str
    setup: Callable[[], dict]
    repeats: int = 7
    number: int = 1
    unit: str = "ms"
    notes: str = ""
    extra: dict = field(default_factory=dict)


def time_callable(fn: Callable, repeats: int, number: int) -> float:
    """Median seconds per call over ``repeats`` batches of ``number`` calls."""
    fn()  # warm-up (compiles, caches)
    wait_for_kernels(timeout=300)   # fused kernels compiled in the background: time them
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6}


def run_workloads(workloads, out=print) -> list[dict]:
    """Time every implementation of every workload; print a table; return rows."""
    rows = []
    for wl in workloads:
        impls = wl.setup()
        times = {name: time_callable(fn, wl.repeats, wl.number) for name, fn in impls.items()
                 if fn is not None}
        rows.append({"name": wl.name, "unit": wl.unit, "times": times, "notes": wl.notes})
    print_table(rows, out)
    return rows


def print_table(rows, out=print) -> None:
    names = []
    for row in rows:
        for impl in row["times"]:
            if impl not in names:
                names.append(impl)
    header = f"{'workload':44s}" + "".join(f"{n:>14s}" for n in names) + "  ratios (x / numpy)"
    out(header)
    out("-" * len(header))
    for row in rows:
        scale = _SCALE[row["unit"]]
        cells = "".join(
            f"{row['times'][n] * scale:>11.3f} {row['unit']:2s}" if n in row["times"] else
            f"{'-':>14s}" for n in names)
        base = row["times"].get("numpy")
        ratios = ""
        if base:
            ratios = "  " + ", ".join(f"{n} {row['times'][n] / base:.2f}"
                                      for n in names if n != "numpy" and n in row["times"])
        out(f"{row['name']:44s}{cells}{ratios}")
        if row.get("notes"):
            out(f"    {row['notes']}")


def optional_import(name: str):
    """Import a peer library if installed, else None (benchmarks skip it)."""
    try:
        return __import__(name)
    except Exception:
        return None
