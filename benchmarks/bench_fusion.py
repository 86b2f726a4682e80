"""Elementwise fusion: kernel speed, compile time, kernel cache, peak memory.

    python benchmarks/run.py fusion

1. ``exp(-x*x)*sin(y) + x*y/(1+y*y)`` on two 10^7 float64 vectors: theanine
   (one fused Numba kernel, multi-threaded), NumPy written naively, JAX ``jit``
   (x64), and ``np.copyto`` of one vector (the memory-bandwidth reference).
   GB/s counts the bytes each one must move (theanine/NumPy/JAX: read x and y,
   write the result = 240 MB; copyto: read + write 80 MB = 160 MB).
2. Compile time (``th.function``, FAST_RUN, fusion included) of an N-node
   elementwise chain ``y = sin(y)`` / ``y = y * 0.999`` for N = 100, 1000, 10000.
3. Kernel cache: a fresh process compiles and runs the expression with an empty
   ``compiledir`` (cold), then a second process with the same ``compiledir`` (warm).
4. Peak memory (tracemalloc) of ``((x+1)*2-3)/4`` on 10^7 float64, as multiples
   of the input size, beyond the input itself.

Results on the shared 2-core development machine (load average 5-9 during the
run, so times are noisy; ratios are what to read):

    expression on 10^7 float64 (median of 5)
      theanine  : see the table printed by the run (fused kernel)
      (the numbers quoted in benchmarks/README.md are from ``main()`` below)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode

N = 10**7
CHAIN_SIZES = (100, 1000, 10000)


def _expr(x, y):
    return tt.exp(-x * x) * tt.sin(y) + x * y / (1 + y * y)


def _numpy_expr(a, b):
    return np.exp(-a * a) * np.sin(b) + a * b / (1 + b * b)


def _median_time(fn, repeats=5) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _jax_fn():
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    @jax.jit
    def f(a, b):
        return jnp.exp(-a * a) * jnp.sin(b) + a * b / (1 + b * b)

    return lambda a, b: f(a, b).block_until_ready()


def bench_expression() -> dict:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=N), rng.normal(size=N)
    x, y = tt.dvectors("x", "y")
    with th.change_flags(fused_kernel_async=False):
        f = th.function([x, y], _expr(x, y))
        f(a, b)                                   # compiles (or loads) the kernel
    np.testing.assert_allclose(f(a, b), _numpy_expr(a, b), rtol=1e-12, atol=1e-14)
    dst = np.empty_like(a)
    times = {"theanine": _median_time(lambda: f(a, b)),
             "numpy": _median_time(lambda: _numpy_expr(a, b)),
             "copyto": _median_time(lambda: np.copyto(dst, a))}
    jf = _jax_fn()
    if jf is not None:
        ja, jb = __import__("jax").numpy.asarray(a), __import__("jax").numpy.asarray(b)
        times["jax"] = _median_time(lambda: jf(ja, jb))
    moved = {"theanine": 3 * a.nbytes, "numpy": 3 * a.nbytes, "jax": 3 * a.nbytes,
             "copyto": 2 * a.nbytes}
    print(f"expression on {N:.0e} float64 (median of 5):")
    for name, t in times.items():
        print(f"  {name:9s} {t * 1e3:8.1f} ms  {moved[name] / t / 1e9:6.2f} GB/s  "
              f"numpy/{name} = {times['numpy'] / t:5.2f}")
    return times


def _chain(n):
    x = tt.dvector("x")
    y = x
    for i in range(n):
        y = tt.sin(y) if i % 2 else y * 0.999
    return x, y


def bench_compile_time() -> dict:
    result = {}
    for n in CHAIN_SIZES:
        x, y = _chain(n)
        t0 = time.perf_counter()
        f = th.function([x], y, mode="FAST_RUN")
        result[n] = time.perf_counter() - t0
        fused = len(f.maker.fgraph.apply_nodes)
        print(f"  chain of {n:6d} nodes: th.function {result[n]:6.2f} s "
              f"-> {fused} fused node(s); {f.maker.timings}")
    print(f"  t(10000)/t(1000) = {result[10000] / result[1000]:.1f}")
    return result


_CHILD = """
import time, numpy as np, theanine as th, theanine.tensor as tt
x, y = tt.dvectors("x", "y")
a = np.linspace(-1, 1, 100_000); b = a[::-1].copy()
with th.change_flags(fused_kernel_async=False):
    t0 = time.perf_counter()
    f = th.function([x, y], tt.exp(-x * x) * tt.sin(y) + x * y / (1 + y * y))
    f(a, b)
    print(time.perf_counter() - t0)
"""


def bench_kernel_cache() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as cd:
        env = dict(os.environ, THEANINE_FLAGS=f"compiledir={cd}")
        times = []
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", _CHILD], env=env, check=True,
                                 capture_output=True, text=True).stdout
            times.append(float(out.strip().splitlines()[-1]))
    print(f"  compile + first call, fresh process: cold cache {times[0]:.2f} s, "
          f"warm cache {times[1]:.2f} s ({times[1] / times[0]:.0%} of cold)")
    return times[0], times[1]


def _peak(fn, arg) -> float:
    fn(arg)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn(arg)
        return (tracemalloc.get_traced_memory()[1] - base) / arg.nbytes
    finally:
        tracemalloc.stop()


def bench_peak_memory() -> dict:
    x = tt.dvector("x")
    expr = ((x + 1) * 2 - 3) / 4
    a = np.random.default_rng(1).normal(size=N)
    result = {}
    with th.change_flags(fused_kernel_async=False):
        result["theanine (numba kernel)"] = _peak(th.function([x], expr), a)
        with th.change_flags(fused_kernel="numpy"):
            result["theanine (NumPy fallback)"] = _peak(th.function([x], expr), a)
        unfused = th.function([x], expr, mode=Mode("vm", "fast_run").excluding("fusion"))
        result["theanine, no fusion"] = _peak(unfused, a)
        plain = th.function([x], expr,
                            mode=Mode("vm", "fast_run").excluding("fusion", "inplace"))
        result["theanine, no fusion/inplace"] = _peak(plain, a)
    result["numpy naive"] = _peak(lambda v: ((v + 1) * 2 - 3) / 4, a)
    for name, mult in result.items():
        print(f"  {name:26s} peak {mult:4.2f} x input beyond the input")
    return result


def main() -> None:
    bench_expression()
    print("compile time, FAST_RUN:")
    bench_compile_time()
    print("kernel cache:")
    bench_kernel_cache()
    print(f"peak memory of ((x+1)*2-3)/4 on {N:.0e} float64:")
    bench_peak_memory()


if __name__ == "__main__":
    main()
