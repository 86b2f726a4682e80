"""A short tour: build a graph, compile it, call it, look at the generated code."""

import numpy as np

import theanine as th
import theanine.tensor as tt


def main() -> None:
    x = tt.dmatrix("x")
    w = th.shared(np.array([0.5, -1.0, 2.0]), name="w")
    y = tt.exp(-x * x).sum(axis=1) + tt.dot(x, w)
    f = th.function([x], y, name="f")
    data = np.arange(6.0).reshape(2, 3) / 6
    print("f(x) =", f(data))
    print("NumPy:", np.exp(-data * data).sum(axis=1) + data @ w.get_value())
    print("\nGenerated code of f:\n" + f.source)

    step = th.function([], w, updates=[(w, w * 2)], name="step")
    step()
    print("w after one update:", w.get_value())


if __name__ == "__main__":
    main()
