"""A guided tour of Theano's "Advanced Theano" tutorial, section by section, in theanine.

    python examples/demo.py [OUT_DIR]      # pictures go to OUT_DIR (default: out/)

Profiling, the compiled graph (fused and in-place), IfElse vs Switch, Scan, printing
and drawing graphs, test values, ``eval``.  The tutorial's own programs
(``ifelse_switch.py``, ``scan_pow.py``, ``scan_poly.py``) run as they are.
"""

import os
import runpy
import sys
import time

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from logreg import build  # noqa: E402  (the tutorial's logistic regression)


def heading(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}")


def excerpt(text: str, keep: list[str], rows: int) -> str:
    """The lines of each table titled in ``keep``: title, underline, header, ``rows`` rows."""
    lines, out = text.splitlines(), []
    for i, line in enumerate(lines):
        if any(line.startswith(k) for k in keep):
            out += lines[i:i + 3 + rows] + [""]
    return "\n".join(out)


def profiling(rng, data):
    heading("1. Profiling: the logistic regression compiled with profile=True, "
            "profile_memory=True")
    with th.config.change_flags(profile=True, profile_memory=True):
        train, predict, w, b = build(rng)
    for _ in range(20):
        train(*data)
    text = train.profile.summary_text(n_apply=5, n_ops=5)
    train.profile.atexit_print = predict.profile.atexit_print = False
    print("\n".join(text.splitlines()[3:7]) + "\n")
    print(excerpt(text, ["Class (", "Ops (", "Apply ("], rows=4))
    print(excerpt(text, ["Memory of"], rows=3))
    plan = th.memory_plan(train, x=data[0].shape, y=data[1].shape)
    print(f"th.memory_plan(train, x={data[0].shape}, y={data[1].shape}) predicted, before "
          f"running, a peak of {plan.peak} bytes with {len(plan.alive)} values alive")
    return train, predict


def pipeline(train):
    heading("2. Compilation pipeline and in-place optimization: the compiled train graph")
    nodes = train.maker.fgraph.toposort()
    fused = [n for n in nodes if "Composite" in str(n.op)]
    in_place = [n for n in nodes if n.op.destroy_map]
    views = [n for n in nodes if n.op.view_map]
    print(f"{len(nodes)} nodes: {len(fused)} fused elementwise kernels (Composite), "
          f"{len(in_place)} in place (overwrite an input), {len(views)} views")
    print("the first lines of debugprint(train); #k = execution order:")
    print("\n".join(th.printing.debugprint(train, file="str").splitlines()[:12]))


def conditions():
    heading("3. Conditions: IfElse (lazy) vs Switch (both values), ifelse_switch.py")
    runpy.run_path(os.path.join(HERE, "ifelse_switch.py"))
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    runs = []

    @th.as_op(itypes=[tt.dmatrix], otypes=[tt.dscalar])
    def counted_mean(m):
        runs.append(m.shape)
        return np.asarray(m.mean())

    f_lazy = th.function([a, b, x, y], ifelse(tt.lt(a, b), tt.mean(x), counted_mean(y)))
    f_switch = th.function([a, b, x, y], tt.switch(tt.lt(a, b), tt.mean(x), counted_mean(y)))
    m1, m2 = np.ones((3, 2)), np.zeros((3, 2))
    print(f"ifelse(0 < 1) = {f_lazy(0, 1, m1, m2)}: the other branch ran {len(runs)} times")
    print(f"switch(0 < 1) = {f_switch(0, 1, m1, m2)}: the other value was computed "
          f"{len(runs)} time(s)")


def loops():
    heading("4. Loops: scan_pow.py (A ** k) and scan_poly.py (1 + 2 x^2 at x = 3, twice)")
    runpy.run_path(os.path.join(HERE, "scan_pow.py"))
    runpy.run_path(os.path.join(HERE, "scan_poly.py"))


def printing(out_dir, train):
    heading("5. Printing and drawing graphs (pictures need Graphviz's dot)")
    rng = np.random.default_rng(0)
    x = tt.matrix("x")
    w = th.shared(rng.standard_normal(4), name="w")
    b = th.shared(0.0, name="b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    prediction = p_1 > 0.5
    predict = th.function([x], prediction, name="predict")
    print("pprint(prediction):", th.printing.pprint(prediction))
    print("\ndebugprint(prediction):")
    th.printing.debugprint(prediction)
    print("\ndebugprint(predict): the fused kernel, then its inner graph")
    th.printing.debugprint(predict)
    try:
        th.printing.pydotprint_variables(prediction, os.path.join(out_dir, "prediction.png"))
        th.printing.pydotprint(predict, outfile=os.path.join(out_dir, "predict.png"))
        th.printing.pydotprint(train, outfile=os.path.join(out_dir, "train.png"))
        page = os.path.join(out_dir, "train.html")
        th.printing.graph_html(train, page, profile=train.profile,
                               shapes={"x": (400, 784), "y": (400,)})
        print(f"interactive view of train with its profile (open in a browser): {page}")
    except th.printing.GraphvizNotFoundError as exc:
        print(f"(no pictures: {exc})")


def debugging():
    heading("6. Debugging: compute_test_value='raise' catches a shape error where it is made")
    with th.config.change_flags(compute_test_value="raise"):
        x = tt.matrix("x")
        x.tag.test_value = np.random.rand(5, 10)
        w = th.shared(np.random.rand(5, 3), name="w")     # should be (10, 3)
        try:
            tt.dot(x, w)
        except ValueError as exc:
            print(exc)


def limitations():
    heading("7. Known limitations: compile then run, made less visible by eval()")
    x = tt.dvector("x")
    total = (tt.exp(x) * 2).sum()
    for data in ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0]):
        start = time.perf_counter()
        value = total.eval({x: np.array(data)})
        print(f"(exp(x) * 2).sum().eval({{x: {data}}}) = {value:.4f} "
              f"in {1000 * (time.perf_counter() - start):.1f} ms")
    print("(the first eval compiles, the second reuses the compiled function)")


def main(out_dir: str = "out") -> None:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((400, 784)), rng.integers(0, 2, 400).astype(float))
    train, _ = profiling(rng, data)
    pipeline(train)
    conditions()
    loops()
    printing(out_dir, train)
    debugging()
    limitations()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out")
