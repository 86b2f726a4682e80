"""The Theano tutorial's logistic regression, trained with ``th.grad``.

    python examples/logreg.py [--steps N] [--seed S]

400 random samples with 784 features and random 0/1 labels; ``w`` and ``b`` are
shared variables updated by ``train``.  After the tutorial's 10,000 steps the
model fits its training data exactly (accuracy 100%).

The cross-entropy is written by hand, as in the tutorial; ``th.grad`` differentiates a
stabilized copy of it (``log(1 - sigmoid(z))`` becomes ``-softplus(z)``), so the
unit-scale initial weights of the tutorial train without overflow.
"""

import argparse
import time

import numpy as np

import theanine as th
import theanine.tensor as tt

N_SAMPLES, N_FEATURES = 400, 784


def build(rng):
    """The tutorial's graph: returns (train, predict, w, b)."""
    x = tt.dmatrix("x")
    y = tt.dvector("y")
    w = th.shared(rng.standard_normal(N_FEATURES), name="w")
    b = th.shared(0.0, name="b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))        # probability that the target is 1
    prediction = p_1 > 0.5
    xent = -y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)  # cross-entropy per sample
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = th.grad(cost, [w, b])
    train = th.function([x, y], [prediction, xent],
                        updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], name="train")
    predict = th.function([x], prediction, name="predict")
    return train, predict, w, b


def summary(w, b) -> str:
    wv = w.get_value()
    return (f"w: {wv.size} weights, mean {wv.mean():+.4f}, std {wv.std():.4f}, "
            f"|w| {np.linalg.norm(wv):.3f}; b: {float(b.get_value()):+.4f}")


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    data_x = rng.standard_normal((N_SAMPLES, N_FEATURES))
    data_y = rng.integers(0, 2, size=N_SAMPLES)
    train, predict, w, b = build(rng)
    print("Initial model:", summary(w, b))
    start = time.perf_counter()
    for _ in range(args.steps):
        train(data_x, data_y)
    elapsed = time.perf_counter() - start
    print("Final model:  ", summary(w, b))
    accuracy = float(np.mean(predict(data_x) == data_y))
    print(f"training accuracy after {args.steps} steps: {accuracy:.1%} "
          f"({elapsed:.1f} s, {1000 * elapsed / max(args.steps, 1):.2f} ms/step)")
    return accuracy


if __name__ == "__main__":
    main()
