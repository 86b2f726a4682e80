"""Fused elementwise kernels vs NumPy (10**7 float64, median of 5 runs).

Run: ``python benchmarks/fused_kernels.py``.

Measured on the project's 2-core machine while it was heavily shared (load
average ~10, so every number, NumPy's included, is several times slower than
on an idle machine; compare ratios only):

    expr1 = exp(-x*x)*sin(y) + x*y/(1+y*y)
    expr1 NumPy naive                     672.1 ms
    expr1 fused (new output)              304.4 ms   (2.2x)
    expr1 fused (out=)                    244.0 ms   (2.8x)
    sum(tanh(x)*exp(-x*x)) NumPy          719.2 ms
    sum(tanh(x)*exp(-x*x)) fused          368.7 ms   (2.0x)
    np.copyto 80 MB                        31.8 ms   (5.0 GB/s read + write)
    expr1 JAX jit                         437.8 ms
    sum expr JAX jit                       80.3 ms
    cold compile: expr1 14.75 s, sum expr 9.10 s
    warm load in a new process (import + cache load + first call): 3.01 s

An earlier run of the same kernel on a less busy machine: expr1 fused 77 ms
(new output) vs NumPy 699 ms; warm load 0.36 s import + 0.62 s first call.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from theanine.link.fused.numba_engine import compile_program  # noqa: E402
from theanine.link.fused.program import KernelProgram  # noqa: E402

F = "float64"
EXPR1 = KernelProgram(
    inputs=(("x", F), ("y", F)),
    instructions=(("a", "mul", ("x", "x")), ("b", "neg", ("a",)), ("c", "exp", ("b",)),
                  ("d", "sin", ("y",)), ("e", "mul", ("c", "d")), ("f", "mul", ("x", "y")),
                  ("g", "mul", ("y", "y")), ("h", "add", (1, "g")), ("i", "true_div", ("f", "h")),
                  ("j", "add", ("e", "i"))),
    dtypes=tuple((n, F) for n in "abcdefghij"),
    outputs=("j",),
)
EXPR2 = KernelProgram(
    inputs=(("x", F),),
    instructions=(("a", "tanh", ("x",)), ("b", "mul", ("x", "x")), ("c", "neg", ("b",)),
                  ("d", "exp", ("c",)), ("e", "mul", ("a", "d"))),
    dtypes=tuple((n, F) for n in "abcde"),
    outputs=("e",), reduce=("sum", None),
)


def median_time(fn, reps=5):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def load_time(cache_dir):
    code = (f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); t = time.perf_counter();"
            "import numpy as np; sys.argv = ['x'];"
            "from benchmarks_fused_kernels import EXPR1;"
            "from theanine.link.fused.numba_engine import compile_program;"
            f"k = compile_program(EXPR1, cache_dir={cache_dir!r});"
            "x = np.ones(1 << 16); k(x, x); print(time.perf_counter() - t)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent))
    code = code.replace("benchmarks_fused_kernels", "fused_kernels")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    n = 10**7
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n)
    out = np.empty(n)
    cache_dir = tempfile.mkdtemp(prefix="theanine-bench-")

    t = time.perf_counter()
    k1 = compile_program(EXPR1, cache_dir=cache_dir)
    k1(x[:100], y[:100])
    k1(x, y, out=out)
    cold1 = time.perf_counter() - t
    t = time.perf_counter()
    k2 = compile_program(EXPR2, cache_dir=cache_dir)
    k2(x)
    cold2 = time.perf_counter() - t

    def np1():
        return np.exp(-x * x) * np.sin(y) + x * y / (1 + y * y)

    def np2():
        return np.sum(np.tanh(x) * np.exp(-x * x))

    rows = [
        ("expr1 NumPy naive", median_time(np1)),
        ("expr1 fused (new output)", median_time(lambda: k1(x, y))),
        ("expr1 fused (out=)", median_time(lambda: k1(x, y, out=out))),
        ("sum(tanh(x)*exp(-x*x)) NumPy", median_time(np2)),
        ("sum(tanh(x)*exp(-x*x)) fused", median_time(lambda: k2(x))),
    ]
    tc = median_time(lambda: np.copyto(out, x))
    rows.append(("np.copyto 80 MB", tc))
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        f1 = jax.jit(lambda a, b: jnp.exp(-a * a) * jnp.sin(b) + a * b / (1 + b * b))
        f2 = jax.jit(lambda a: jnp.sum(jnp.tanh(a) * jnp.exp(-a * a)))
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        rows.append(("expr1 JAX jit", median_time(lambda: f1(xj, yj).block_until_ready())))
        rows.append(("sum expr JAX jit", median_time(lambda: f2(xj).block_until_ready())))
    except ImportError:
        rows.append(("JAX", float("nan")))
    for name, tm in rows:
        print(f"{name:34s} {tm * 1e3:8.1f} ms")
    print(f"copyto bandwidth {2 * 8 * n / tc / 1e9:.1f} GB/s (read + write)")
    print(f"speedup expr1 (new output) {rows[0][1] / rows[1][1]:.1f}x, "
          f"(out=) {rows[0][1] / rows[2][1]:.1f}x, sum expr {rows[3][1] / rows[4][1]:.1f}x")
    print(f"cold compile: expr1 {cold1:.2f} s, sum expr {cold2:.2f} s")
    print(f"warm load in a new process (import + cache load + first call): "
          f"{load_time(cache_dir):.2f} s")


if __name__ == "__main__":
    main()
