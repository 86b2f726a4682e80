"""The tutorial's exercise 5: is there a speed-up on the GPU, where does it come from,
and what makes the GPU version faster?

    python examples/gpu_speedup.py [--steps N] [--samples N]

Times the tutorial's logistic regression (training steps) and its scan examples
(power by repeated multiplication, the polynomial) on: the default engine (CPU),
the JAX backend on the CPU, and the JAX backend on a GPU when JAX sees one (install
``jax[cuda12]`` there).  Each JAX run is also profiled, and the answer printed:

* the data: arguments given as NumPy arrays are copied to the device on every
  call; kept on the device (``jax.device_put``) they are not; shared variables
  stay on the device between calls on their own;
* the precision: ``floatX=float32`` halves the bytes moved and is the GPU's fast path;
* the loops: ``scan`` runs as one compiled ``lax.scan``, and an output used only by
  its last step keeps no per-step trace.

Runs on a CPU-only machine too (the GPU rows are then skipped, and said so).
"""

import argparse
import time

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.link import jax as jax_backend

jax = __import__("jax") if jax_backend.available() else None


def logreg_step(floatx: str):
    """The tutorial's training step (as in examples/logreg.py), in ``floatx``."""
    with th.config.change_flags(floatX=floatx):
        x, y = tt.matrix("x"), tt.vector("y")
        rng = np.random.default_rng(0)
        w = th.shared(rng.standard_normal(N_FEATURES).astype(floatx), name="w")
        b = th.shared(np.asarray(0.0, dtype=floatx), name="b")
        p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
        xent = -y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)
        cost = xent.mean() + 0.01 * (w ** 2).sum()
        gw, gb = th.grad(cost, [w, b])
        return [x, y], cost, [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]


def scan_pow(floatx: str):
    with th.config.change_flags(floatX=floatx):
        a = tt.vector("A")
        out, _ = th.scan(lambda prior, a: prior * a, outputs_info=tt.ones_like(a),
                         non_sequences=a, n_steps=1000)
        return [a], out[-1], []


def seconds(fn, args, steps: int) -> float:
    fn(*args)                                   # compile (JAX) and warm up
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(*args)
    np.asarray(out)
    return (time.perf_counter() - start) / steps


def engines():
    """(label, mode, device) for every engine this machine has."""
    rows = [("CPU, default engine", None, "cpu")]
    if jax is None:
        print("JAX is not installed: only the default engine is timed "
              "(pip install 'jax[cpu]', or jax[cuda12] on a GPU machine)")
        return rows
    rows.append(("CPU, JAX backend", "JAX", "cpu"))
    try:
        has_gpu = bool(jax.devices("gpu"))
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        rows.append(("GPU, JAX backend", "JAX", "cuda"))
    else:
        print("no GPU here (JAX sees only the CPU): the GPU rows are skipped")
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="timed calls per row")
    parser.add_argument("--samples", type=int, default=5000, help="logreg samples")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    results = {}
    for floatx in ("float64", "float32"):
        data = [rng.standard_normal((args.samples, N_FEATURES)).astype(floatx),
                (rng.random(args.samples) > 0.5).astype(floatx)]
        for label, mode, device in engines():
            with th.config.change_flags(device=device, floatX=floatx):
                ins, cost, updates = logreg_step(floatx)
                train = th.function(ins, cost, updates=updates, mode=mode, name="train")
                ins_p, out_p, _ = scan_pow(floatx)
                power = th.function(ins_p, out_p, mode=mode, name="power")
            if mode == "JAX":
                with jax.enable_x64(floatx == "float64"):
                    on_device = [jax.device_put(v, train.maker.linker.device) for v in data]
                t_host = seconds(train, data, args.steps)
                t_dev = seconds(train, on_device, args.steps)
            else:
                t_host = t_dev = seconds(train, data, args.steps)
            a = np.full(1000, 1.0001, dtype=floatx)
            t_pow = seconds(power, [a], args.steps)
            results[(label, floatx)] = (t_host, t_dev, t_pow)
            print(f"{label:22s} {floatx}: logreg step {t_host * 1e3:7.2f} ms with NumPy "
                  f"arguments, {t_dev * 1e3:7.2f} ms with arguments on the device; "
                  f"scan-pow (1000 steps) {t_pow * 1e3:6.2f} ms")
    print("\nWhere the time goes (profile=True on each function tells the same story):")
    print("- arguments passed as NumPy arrays are copied to the device on each call: "
          "keep the data on the device (jax.device_put) and the copy disappears;")
    print("- shared variables (w, b) stay on the device between calls by themselves;")
    print("- float32 moves half the bytes, and is what GPUs compute fastest;")
    print("- scan is one compiled loop (lax.scan); result[-1] keeps no per-step trace.")
    return results


N_FEATURES = 784

if __name__ == "__main__":
    main()
