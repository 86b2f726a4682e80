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


def _tanh_chain(n, tanh, c, w):
    for _ in range(n):
        c = tanh(c * w)
    return c


def grad_compile_seconds(n: int) -> tuple[float, float, float]:
    """Build ``th.grad`` of an n-layer ``tanh(c * w)`` chain (``w`` shared), compile
    it, and call it once on a 3-vector; seconds for each (the first call builds what
    the fused nodes run)."""
    start = time.perf_counter()
    x = tt.dvector("x")
    w = th.shared(np.full(3, 0.5), name="w")
    g = th.grad(_tanh_chain(n, tt.tanh, x, w).sum(), w)
    built = time.perf_counter()
    f = th.function([x], g)
    compiled = time.perf_counter()
    f(np.ones(3))
    return built - start, compiled - built, time.perf_counter() - compiled


def _peer_grad_compile_seconds(n: int) -> dict:
    """The same gradient compiled by the peers: JAX (trace + XLA compile of
    ``jit(grad)``) and PyTensor (``pytensor.function``), or why it failed."""
    out = {}
    jax = optional_import("jax")
    if jax is not None and n <= 300:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        start = time.perf_counter()
        jax.jit(jax.grad(lambda w, x: _tanh_chain(n, jnp.tanh, x, w).sum())).lower(
            jnp.full(3, 0.5), jnp.ones(3)).compile()
        out["jax"] = f"{time.perf_counter() - start:.3f} s"
    pytensor = optional_import("pytensor")
    if pytensor is not None and n <= 100:
        import pytensor.tensor as pt

        x, w = pt.dvector("x"), pytensor.shared(np.full(3, 0.5))
        try:
            g = pytensor.grad(_tanh_chain(n, pt.tanh, x, w).sum(), w)
            start = time.perf_counter()
            pytensor.function([x], g)
            out["pytensor"] = f"{time.perf_counter() - start:.3f} s"
        except RecursionError:
            out["pytensor"] = "RecursionError"
    return out


def main() -> None:
    print("\ngradient of an n-layer tanh(c * w) chain (w shared), FAST_RUN: th.grad, then "
          "th.function, then the first call; peers compile the same gradient (JAX: trace "
          "and compile, no call)")
    results = {}
    for n in (100, 300, 1000, 10000):
        runs = [_collected(grad_compile_seconds, n) for _ in range(3 if n < 10000 else 1)]
        build = statistics.median(r[0] for r in runs)
        comp = statistics.median(r[1] for r in runs)
        first = statistics.median(r[2] for r in runs)
        results[n] = comp
        peers = ", ".join(f"{k} {v}" for k, v in _peer_grad_compile_seconds(n).items())
        print(f"  n={n:6d}: th.grad {build:6.3f} s, th.function {comp:6.3f} s, "
              f"first call {first:6.3f} s" + (f"; {peers}" if peers else ""))
    print(f"  compile t(10k)/t(1k) = {results[10000] / results[1000]:.2f} (linear is 10)")
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
