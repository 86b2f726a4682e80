"""A short script's start: import the library, build and compile a small function,
call it once on 10^5 float64 (``tanh(x) * 2 + exp(x)``), each in a fresh process.

Rows: theanine (the default engine: its first call runs NumPy while a thread loads
the fused kernel, so the kernel's readiness is reported too), theanine's Numba
backend (``mode="NUMBA"``, from its disk cache), JAX (``jit``), PyTensor (its
default C backend, from its cache) and NumPy.  Each is the best of several runs,
the libraries alternating, after one run that fills the disk caches.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from harness import optional_import

ROOT = Path(__file__).resolve().parents[1]
RUNS = 5

SCRIPT = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    kind = sys.argv[1]
    import numpy as np
    v = np.linspace(-1.0, 1.0, 100_000)
    ready = None
    if kind == "numpy":
        imported = built = time.perf_counter()
        out = np.tanh(v) * 2 + np.exp(v)
    elif kind == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        imported = time.perf_counter()
        f = jax.jit(lambda x: jax.numpy.tanh(x) * 2 + jax.numpy.exp(x))
        built = time.perf_counter()
        out = f(v).block_until_ready()
    else:
        if kind == "pytensor":
            import pytensor as lib, pytensor.tensor as tensor
            mode = None
        else:
            import theanine as lib, theanine.tensor as tensor
            mode = "NUMBA" if kind == "theanine-numba" else None
        imported = time.perf_counter()
        x = tensor.dvector("x")
        f = lib.function([x], tensor.tanh(x) * 2 + tensor.exp(x), mode=mode)
        built = time.perf_counter()
        out = f(v)
    done = time.perf_counter()
    if kind == "theanine":
        from theanine.link.python.dispatch_fused import wait_for_kernels
        wait_for_kernels()
        ready = time.perf_counter() - start
    assert abs(float(out[0]) - (np.tanh(-1.0) * 2 + np.exp(-1.0))) < 1e-12
    print(json.dumps({"import": imported - start, "compile": built - imported,
                      "first call": done - built, "total": done - start,
                      "kernel ready": ready}))
""")


def _run(kind: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT, kind], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    kinds = ["numpy", "theanine", "theanine-numba"]
    kinds += [k for k in ("jax", "pytensor") if optional_import(k) is not None]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, THEANINE_FLAGS=f"compiledir={cache}",
                   PYTENSOR_FLAGS=f"base_compiledir={cache}/pt", PYTHONPATH=str(ROOT))
        for kind in kinds:                       # fill the disk caches
            _run(kind, env)
        best: dict = {}
        for _ in range(RUNS):
            for kind in kinds:
                row = _run(kind, env)
                if "error" in row:
                    best[kind] = row
                    continue
                if kind not in best or row["total"] < best[kind]["total"]:
                    best[kind] = row
    print(f"start of a short script, fresh processes, best total of {RUNS} (seconds)")
    print(f"  {'':16s} {'import':>8s} {'compile':>8s} {'1st call':>9s} {'total':>8s}"
          f" {'kernel ready':>13s}")
    for kind in kinds:
        row = best[kind]
        if "error" in row:
            print(f"  {kind:16s} failed: {row['error']}")
            continue
        ready = "" if row["kernel ready"] is None else f"{row['kernel ready']:13.3f}"
        print(f"  {kind:16s} {row['import']:8.3f} {row['compile']:8.3f} "
              f"{row['first call']:9.3f} {row['total']:8.3f} {ready}")
    if "jax" in best and "error" not in best["jax"]:
        print(f"  theanine total / jax total = "
              f"{best['theanine']['total'] / best['jax']['total']:.2f}")


if __name__ == "__main__":
    main()
