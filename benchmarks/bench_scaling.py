"""Data-parallel MLP training steps on 1, 2, 4 and 8 devices (``mesh={"data": n}``).

    python benchmarks/bench_scaling.py            # virtual CPU devices (or the GPUs JAX sees)

Each device count runs in its own process (``XLA_FLAGS=--xla_force_host_platform_device_count=n``
on a CPU; JAX reads it at start-up), timing one SGD step of a float32 MLP with the
batch split over "data" and the data already on the devices:

* weak scaling: a fixed batch per device (the global batch grows with n); on real
  devices the step time should stay flat;
* strong scaling: a fixed global batch split n ways.

Beside theanine's step, the same step written by hand with ``jax.jit`` and the
same shardings, so the rows separate theanine's overhead from XLA's partitioning.
Virtual CPU devices share the machine's cores: there the rows measure the cost of
partitioning and of the collectives, not a speed-up.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys

import numpy as np
from harness import optional_import, time_callable

import theanine as th
import theanine.tensor as tt

jax = optional_import("jax")

FEATURES, HIDDEN, PER_DEVICE, GLOBAL = 256, 512, 256, 1024
COUNTS = (1, 2, 4, 8)
LR = 0.05


def _theanine_step(mesh, w1v, w2v):
    with th.config.change_flags(floatX="float32"):
        x, y = tt.matrix("x"), tt.vector("y")
        w1, w2 = th.shared(w1v, name="w1"), th.shared(w2v, name="w2")
        p = 1 / (1 + tt.exp(-tt.dot(tt.tanh(tt.dot(x, w1)), w2)))
        cost = (-y * tt.log(p) - (1 - y) * tt.log(1 - p)).mean()
        g1, g2 = th.grad(cost, [w1, w2])
        return th.function([x, y], cost, updates=[(w1, w1 - LR * g1), (w2, w2 - LR * g2)],
                           mode="JAX", mesh=mesh, shardings={x: ("data", None), y: ("data",)})


def _jax_step(mesh, w1v, w2v):
    jnp = jax.numpy
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def loss(w1, w2, x, y):
        p = 1 / (1 + jnp.exp(-(jnp.tanh(x @ w1) @ w2)))
        return (-y * jnp.log(p) - (1 - y) * jnp.log(1 - p)).mean()

    @jax.jit
    def step(w1, w2, x, y):
        cost, (g1, g2) = jax.value_and_grad(loss, argnums=(0, 1))(w1, w2, x, y)
        return cost, w1 - LR * g1, w2 - LR * g2

    state = [jax.device_put(w1v, rep), jax.device_put(w2v, rep)]

    def run(x, y):
        cost, state[0], state[1] = step(state[0], state[1], x, y)
        return jax.block_until_ready(cost)

    return run


def worker(n: int) -> dict:
    """Times on ``n`` devices (this process was started with them)."""
    mesh = th.sharding.mesh({"data": n})
    rng = np.random.default_rng(0)
    w1v = (rng.standard_normal((FEATURES, HIDDEN)) / np.sqrt(FEATURES)).astype("float32")
    w2v = (rng.standard_normal(HIDDEN) / np.sqrt(HIDDEN)).astype("float32")
    split_x = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data", None))
    split_y = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    out = {"devices": n, "platform": jax.devices()[0].platform}
    for label, batch in (("weak", PER_DEVICE * n), ("strong", GLOBAL)):
        xv = rng.standard_normal((batch, FEATURES)).astype("float32")
        yv = (rng.random(batch) > 0.5).astype("float32")
        x, y = jax.device_put(xv, split_x), jax.device_put(yv, split_y)
        ours = _theanine_step(mesh, w1v, w2v)
        hand = _jax_step(mesh, w1v, w2v)
        steps = {"theanine": functools.partial(ours, x, y), "jax": functools.partial(hand, x, y)}
        rounds = {name: [] for name in steps}
        for _ in range(5):          # alternated, so a change of load hits both alike
            for name, step in steps.items():
                rounds[name].append(time_callable(step, 3, 3))
        out[label] = {name: statistics.median(times) for name, times in rounds.items()}
    return out


def main() -> None:
    if jax is None:
        print("JAX not installed: no rows")
        return
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    for n in COUNTS:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        done = subprocess.run([sys.executable, os.path.join(here, "bench_scaling.py"),
                               "--worker", str(n)], env=env, capture_output=True, text=True,
                              cwd=here)
        if done.returncode:
            print(f"{n} devices: failed\n{done.stderr[-2000:]}")
            return
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"MLP {FEATURES}-{HIDDEN}-1 float32, SGD step, data on the devices "
          f"({rows[0]['platform']}); weak: {PER_DEVICE} rows per device, strong: {GLOBAL} rows")
    print(f"{'devices':>8s} {'weak theanine':>14s} {'weak jax':>10s} {'vs 1 dev':>9s} "
          f"{'strong theanine':>16s} {'strong jax':>11s} {'vs 1 dev':>9s}")
    base = rows[0]
    for row in rows:
        w, s = row["weak"], row["strong"]
        print(f"{row['devices']:>8d} {w['theanine'] * 1e3:>11.2f} ms {w['jax'] * 1e3:>7.2f} ms "
              f"{w['theanine'] / base['weak']['theanine']:>8.2f}x "
              f"{s['theanine'] * 1e3:>13.2f} ms {s['jax'] * 1e3:>8.2f} ms "
              f"{s['theanine'] / base['strong']['theanine']:>8.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]))))
    else:
        main()
