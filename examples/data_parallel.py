"""Data-parallel (and model-parallel) training on a device mesh: docs/scaling.md.

    python examples/data_parallel.py --model mlp --data 8 --check

Trains the tutorial's logistic regression (``--model logreg``) or a one-hidden-layer
MLP (``--model mlp``) with the batch ``x``, ``y`` split over the mesh axis "data";
``--model-axis 2`` also splits the MLP's hidden layer over an axis "model" (mesh
``{"data": D, "model": 2}``).  XLA all-reduces the gradients.  ``--check`` trains
the same model on one device and prints the largest weight difference (it fails
when above ``--tol``).  Values are in ``floatX`` (``THEANINE_FLAGS=floatX=float32``
for GPUs).

On a CPU, give JAX virtual devices first:
``XLA_FLAGS=--xla_force_host_platform_device_count=8``.  Across processes, start
one per process (or host) with ``--coordinator HOST:PORT --num-processes N
--process-id I`` (``--cpu-devices 4``: virtual CPU devices per process); every
process feeds the same global batch, and each prints the same weights.
"""

import argparse
import time

import numpy as np

import theanine as th
import theanine.tensor as tt


def build(kind: str, mesh, n_in: int, hidden: int, seed: int, model_axis: bool,
          profile: bool = False):
    """``(train, params)``: one SGD step on ``(x, y)``, placed on ``mesh`` (None: one
    device)."""
    rng = np.random.default_rng(seed)
    x, y = tt.matrix("x"), tt.vector("y")           # in floatX (THEANINE_FLAGS=floatX=...)

    def shared(value, name):
        return th.shared(np.asarray(value, dtype=th.config.floatX), name=name)

    if kind == "logreg":
        w = shared(rng.standard_normal(n_in) * 0.1, "w")
        b = shared(0.0, "b")
        logit = tt.dot(x, w) + b
        params, penalized = [w, b], [w]
    else:
        w1 = shared(rng.standard_normal((n_in, hidden)) / np.sqrt(n_in), "w1")
        b1 = shared(np.zeros(hidden), "b1")
        w2 = shared(rng.standard_normal(hidden) / np.sqrt(hidden), "w2")
        b2 = shared(0.0, "b2")
        logit = tt.dot(tt.tanh(tt.dot(x, w1) + b1), w2) + b2
        params, penalized = [w1, b1, w2, b2], [w1, w2]
    p = 1 / (1 + tt.exp(-logit))
    xent = -y * tt.log(p) - (1 - y) * tt.log(1 - p)
    cost = xent.mean() + 0.01 * sum((v ** 2).sum() for v in penalized)
    grads = th.grad(cost, params)
    updates = [(v, v - 0.1 * g) for v, g in zip(params, grads)]
    placed = {}
    if mesh is not None:
        shardings = {x: ("data", None), y: ("data",)}
        if model_axis:                 # the hidden units split over "model"
            shardings.update({params[0]: (None, "model"), params[1]: ("model",),
                              params[2]: ("model",)})
        placed = {"mesh": mesh, "shardings": shardings}
    train = th.function([x, y], cost, updates=updates, mode="JAX", name="train",
                        profile=profile or None, **placed)
    return train, params


def data(n: int, n_in: int, seed: int):
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((n, n_in))
    y = (x[:, 0] + 0.5 * rng.standard_normal(n) > 0)
    return x.astype(th.config.floatX), y.astype(th.config.floatX)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("logreg", "mlp"), default="mlp")
    parser.add_argument("--data", type=int, default=None,
                        help="size of the mesh axis 'data' (default: every device)")
    parser.add_argument("--model-axis", type=int, default=1,
                        help="size of a mesh axis 'model' splitting the MLP's hidden layer")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="compare with the same training on one device")
    parser.add_argument("--tol", type=float, default=None,
                        help="default 1e-10 in float64, 1e-4 in float32")
    parser.add_argument("--profile", action="store_true",
                        help="print the profile (placement, collectives, per device)")
    parser.add_argument("--coordinator", help="HOST:PORT of process 0 (multi-process)")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--cpu-devices", type=int, default=None,
                        help="virtual CPU devices in this process (multi-process tests)")
    args = parser.parse_args(argv)
    if args.tol is None:
        args.tol = 1e-10 if th.config.floatX == "float64" else 1e-4
    if args.coordinator:
        th.sharding.initialize(args.coordinator, args.num_processes, args.process_id,
                               cpu_devices=args.cpu_devices)
    jax = __import__("jax")
    n_data = args.data or len(jax.devices()) // args.model_axis
    axes = {"data": n_data} if args.model_axis == 1 else {"data": n_data,
                                                          "model": args.model_axis}
    mesh = th.sharding.mesh(axes)
    x, y = data(args.batch, args.features, args.seed)
    train, params = build(args.model, mesh, args.features, args.hidden, args.seed,
                          args.model_axis > 1, args.profile)
    start = time.perf_counter()
    costs = [float(train(x, y)) for _ in range(args.steps)]
    elapsed = time.perf_counter() - start
    weights = [th.sharding.to_host(v.get_value(borrow=True)) for v in params]
    print(f"process {jax.process_index()} of {jax.process_count()}: mesh {axes} over "
          f"{len(jax.devices())} {jax.devices()[0].platform} device(s); {args.model}, "
          f"{args.steps} steps in {elapsed:.2f} s; cost {costs[0]:.6f} -> {costs[-1]:.6f}")
    print("weights digest: " + " ".join(f"{float(np.sum(w)):.15e}" for w in weights))
    diff = 0.0
    if args.check:
        single, single_params = build(args.model, None, args.features, args.hidden,
                                      args.seed, False)
        for _ in range(args.steps):
            single(x, y)
        diff = max(float(np.max(np.abs(w - v.get_value()))) for w, v in
                   zip(weights, single_params))
        print(f"largest weight difference from one device: {diff:.3e} (tolerance "
              f"{args.tol:.0e})")
        if diff > args.tol:
            raise SystemExit(1)
    return diff


if __name__ == "__main__":
    main()
