"""The tutorial's three ways of looking at a graph, on its logistic regression.

    python examples/logreg_pictures.py [OUT_DIR]     # default OUT_DIR: out/

prints ``pprint`` and ``debugprint`` of the prediction and of the compiled
``predict``, and draws ``prediction``, ``predict`` and ``train`` (PNG and SVG)
into OUT_DIR with Graphviz.
"""

import os
import sys

import numpy as np

import theanine as th
import theanine.tensor as tt


def build(feats: int = 4):
    rng = np.random.default_rng(0)
    x = tt.matrix("x")
    y = tt.vector("y")
    w = th.shared(rng.standard_normal(feats), name="w")
    b = th.shared(0.0, name="b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))          # probability that the target is 1
    prediction = p_1 > 0.5                              # the prediction, thresholded
    xent = -y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)  # cross-entropy loss
    cost = xent.mean() + 0.01 * (w ** 2).sum()          # the cost to minimise
    gw, gb = th.grad(cost, [w, b])
    train = th.function([x, y], [prediction, xent], name="train",
                        updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    predict = th.function([x], prediction, name="predict")
    return prediction, predict, train


def main(out_dir: str = "out") -> None:
    prediction, predict, train = build()
    print("pprint(prediction):\n ", th.pp(prediction))
    print("\ndebugprint(prediction):")
    th.dprint(prediction)
    print("\npprint(predict), after FAST_RUN's rewrites:\n ", th.pp(predict))
    print("\ndebugprint(predict):")
    th.dprint(predict)
    os.makedirs(out_dir, exist_ok=True)
    for name, obj in (("prediction", prediction), ("predict", predict), ("train", train)):
        for fmt in ("png", "svg"):
            th.printing.pydotprint(obj, outfile=os.path.join(out_dir, f"logreg_{name}.{fmt}"),
                                   format=fmt)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
