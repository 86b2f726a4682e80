"""Foundation workloads: call overhead, one elementwise expression, compile time.

Results on the project's 2-core machine are quoted in benchmarks/README.md.
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np
from harness import Workload, optional_import

import theanine as th
import theanine.tensor as tt


def _call_overhead(value=None, trust=False):
    """``f(x) = x + 1`` on one float64 scalar: a 0-d array (default) or a Python float;
    ``trust``: theanine's ``trust_input`` (no argument checks)."""
    x = tt.dscalar("x")
    f = th.function([x], x + 1)
    f.trust_input = trust
    value = np.array(1.5) if value is None else value
    impls = {"theanine": lambda: f(value), "numpy": lambda: np.add(value, 1.0)}
    jax = optional_import("jax")
    if jax is not None:
        jf = jax.jit(lambda v: v + 1)
        jv = jax.numpy.asarray(1.5)
        jf(jv).block_until_ready()
        impls["jax"] = lambda: jf(jv).block_until_ready()
    pytensor = optional_import("pytensor")
    if pytensor is not None:
        import pytensor.tensor as pt

        px = pt.dscalar("x")
        pf = pytensor.function([px], px + 1)
        pf.trust_input = trust
        impls["pytensor"] = lambda: pf(value)
    return impls


def _expression(n=10**7):
    rng = np.random.default_rng(0)
    xv, yv = rng.standard_normal(n), rng.standard_normal(n)
    x, y = tt.dvectors("x", "y")
    f = th.function([x, y], tt.exp(-x * x) * tt.sin(y) + x * y / (1 + y * y))

    def naive():
        return np.exp(-xv * xv) * np.sin(yv) + xv * yv / (1 + yv * yv)

    impls = {"theanine": lambda: f(xv, yv), "numpy": naive}
    jax = optional_import("jax")
    if jax is not None:
        jnp = jax.numpy
        jf = jax.jit(lambda a, b: jnp.exp(-a * a) * jnp.sin(b) + a * b / (1 + b * b))
        ja, jb = jnp.asarray(xv), jnp.asarray(yv)
        impls["jax"] = lambda: jf(ja, jb).block_until_ready()
    return impls


WORKLOADS = [
    Workload("call overhead f(x)=x+1 (0-d float64)", _call_overhead, repeats=7,
             number=20000, unit="us"),
    Workload("call overhead f(x)=x+1 (Python float)", lambda: _call_overhead(1.5), repeats=7,
             number=20000, unit="us"),
    Workload("call overhead, trust_input=True (0-d)", lambda: _call_overhead(trust=True),
             repeats=7, number=20000, unit="us"),
    Workload("exp(-x*x)*sin(y)+x*y/(1+y*y), 1e7 f64", _expression, repeats=5),
]


def compile_chain_seconds(n: int, mode=None) -> tuple[float, float]:
    """Seconds to build a chain of ``n`` elementwise ops, and to compile it."""
    start = time.perf_counter()
    x = tt.dvector("x")
    y = x
    for i in range(n):
        y = tt.sin(y) + 1.0 if i % 2 else y * 1.0001
    built = time.perf_counter()
    th.function([x], y, mode=mode)
    return built - start, time.perf_counter() - built


def _collected(fn, *args):
    """Collect the previous repeat's graph first (its Apply/Variable cycles are garbage
    the collector would otherwise walk during the next timing); the collector stays on."""
    gc.collect()
    return fn(*args)


def main() -> None:
    for label, flags in (("default kernel engine", {}),
                         ("fused_kernel=numpy", {"fused_kernel": "numpy"})):
        print(f"\nan n-node elementwise chain, FAST_RUN, {label}: building the graph, and "
              "compiling it (th.function)")
        results = {}
        with th.config.change_flags(**flags):
            for n in (100, 1000, 10000):
                runs = [_collected(compile_chain_seconds, n) for _ in range(3)]
                build = statistics.median(r[0] for r in runs)
                comp = statistics.median(r[1] for r in runs)
                results[n] = comp
                print(f"  n={n:6d}: build {build:6.3f} s, compile {comp:6.3f} s "
                      f"({comp / n * 1e6:6.1f} us/node), total {build + comp:6.3f} s")
        print(f"  compile t(10k)/t(1k) = {results[10000] / results[1000]:.2f} (linear is 10)")
