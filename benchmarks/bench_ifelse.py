"""The tutorial's ifelse-vs-switch benchmark: lazy ifelse computes one mean, not two.

Targets: lazy / switch <= 0.6 (ideal 0.5); lazy within 10% of one NumPy mean.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, run_workloads

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse


def _setup():
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    f_switch = th.function([a, b, x, y], tt.switch(tt.lt(a, b), tt.mean(x), tt.mean(y)))
    f_lazy = th.function([a, b, x, y], ifelse(tt.lt(a, b), tt.mean(x), tt.mean(y)))
    m1, m2 = np.ones((10000, 1000)), np.ones((10000, 1000))
    return {
        "switch": lambda: f_switch(0.0, 1.0, m1, m2),
        "ifelse": lambda: f_lazy(0.0, 1.0, m1, m2),
        "numpy": lambda: np.mean(m1),
    }


def main() -> None:
    rows = run_workloads([Workload("mean of a 10000x1000 matrix, chosen by a<b",
                                   _setup, repeats=9)], out=lambda s: None)
    t = rows[0]["times"]
    print(f"switch {t['switch'] * 1e3:.1f} ms, ifelse {t['ifelse'] * 1e3:.1f} ms, "
          f"numpy one mean {t['numpy'] * 1e3:.1f} ms")
    print(f"ifelse/switch = {t['ifelse'] / t['switch']:.2f} (target <= 0.6), "
          f"ifelse/numpy = {t['ifelse'] / t['numpy']:.2f} (target <= 1.1)")
