"""Theano's "Advanced Theano" tutorial page, one test per section.

The page's code runs with only the imports changed (``import theanine as theano``,
``from theanine import tensor as T``), ``time.perf_counter`` for ``time.clock`` and
``print()`` calls; the page's programs are the files in ``examples/``.  Each test checks
what the page says about its section.  Training runs a few steps only: what is checked
here is the tooling, not the fit (``tests/test_logreg_example.py`` checks the fit).
"""

import io
import os
import pathlib
import re
import runpy
import subprocess
import sys

import numpy
import pytest

import theanine as theano
from theanine import tensor as T
from theanine.ifelse import ifelse
from theanine.scan.op import Scan
from theanine.tensor.elemwise import CAReduce, Elemwise

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_example(name, capsys, argv=()):
    """Run ``examples/<name>`` as a script; return (its globals, what it printed)."""
    saved = sys.argv
    sys.argv = [str(EXAMPLES / name), *argv]
    try:
        env = runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        sys.argv = saved
    return env, capsys.readouterr().out


def tutorial_logreg(n=40, feats=784, w_scale=1.0, seed=0, mode=None, test_values=False):
    """The tutorial's logistic regression in its own spelling: ``T.grad``, a dict of
    updates, ``x.tag.test_value``; ``w_scale`` scales the initial weights (1 = page)."""
    rng = numpy.random.RandomState(seed)
    D = (rng.randn(n, feats).astype(theano.config.floatX),
         rng.randint(size=n, low=0, high=2).astype(theano.config.floatX))
    x = T.matrix("x")
    y = T.vector("y")
    w = theano.shared((w_scale * rng.randn(feats)).astype(theano.config.floatX), name="w")
    b = theano.shared(numpy.asarray(0., dtype=theano.config.floatX), name="b")
    if test_values:
        x.tag.test_value = D[0]
        y.tag.test_value = D[1]
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))         # probability of a one
    prediction = p_1 > 0.5                           # the prediction: 0 or 1
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy
    cost = xent.mean() + 0.01 * (w ** 2).sum()       # the cost to minimise
    gw, gb = T.grad(cost, [w, b])
    train = theano.function(inputs=[x, y], outputs=[prediction, xent],
                            updates={w: w - 0.01 * gw, b: b - 0.01 * gb}, name="train",
                            mode=mode)
    predict = theano.function(inputs=[x], outputs=prediction, name="predict", mode=mode)
    return dict(D=D, x=x, y=y, w=w, b=b, prediction=prediction, gw=gw, train=train,
                predict=predict)


def run_steps(model, steps):
    """Train ``steps`` times; return every output, the final w, b and the prediction."""
    outs = [model["train"](*model["D"]) for _ in range(steps)]
    return outs, model["w"].get_value(), float(model["b"].get_value()), \
        model["predict"](model["D"][0])


# -- Profiling ------------------------------------------------------------------------------

def test_profiling_with_the_flag_in_the_environment():
    """``THEANINE_FLAGS=profile=True python logreg.py``: the profile printed at exit."""
    env = dict(os.environ, THEANINE_FLAGS="profile=True",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(EXAMPLES / "logreg.py"), "--steps", "3"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "training accuracy after 3 steps" in done.stdout
    profile = done.stderr
    for needle in ("Profile: train", "Profile: predict", "calls: 3;",
                   "Class (op classes)", "Ops (equal ops merged)", "Apply (nodes;",
                   "Dot(x, w)", "Gemv"):
        assert needle in profile, needle
    assert "Memory of" not in profile        # profile_memory was not asked for


def test_profiling_with_config_flags_and_memory():
    """``theano.config.profile = True`` (and ``profile_memory``) set in the program."""
    old = theano.config.profile, theano.config.profile_memory
    theano.config.profile = True
    theano.config.profile_memory = True
    try:
        model = tutorial_logreg(n=50)
    finally:
        theano.config.profile, theano.config.profile_memory = old
    run_steps(model, 3)
    text = io.StringIO()
    for fn in (model["train"], model["predict"]):
        fn.profile.atexit_print = False        # keep the test's profile out of the exit report
        fn.profile.summary(file=text)
    text = text.getvalue()
    for needle in ("Function train", "calls: 3;", "Function predict", "calls: 1;",
                   "Class (op classes)", "Ops (equal ops merged)", "Apply (nodes;",
                   "Memory of train", "peak as executed", "peak without in-place and views",
                   "largest outputs"):
        assert needle in text, needle
    # a table row: percent, cumulative percent, total time, per call, calls, nodes, name
    assert re.search(r"^\s+\d+\.\d% +\d+\.\d% +[\d.]+ [mu]?s .* Dot\b", text, re.M)


# -- Compilation pipeline and in-place optimization -----------------------------------------

def test_compiled_graph_is_fused_and_in_place():
    model = tutorial_logreg()
    nodes = model["train"].maker.fgraph.toposort()
    fused = [n for n in nodes if isinstance(n.op, Elemwise)
             and type(n.op.scalar_op).__name__ == "Composite"]
    in_place = [n for n in nodes if n.op.destroy_map]
    views = [n for n in nodes if n.op.view_map]
    assert fused and in_place and views
    # the page's check of which implementation ran: a BLAS matrix-vector product
    assert any(type(n.op).__name__ == "Gemv" for n in nodes)
    text = theano.printing.debugprint(model["train"], file="str")
    assert "(overwrites input" in text and "(view of input" in text
    assert "Composite{" in text and "(update of w)" in text
    # the user's graph is untouched: no fused or in-place node in it
    user = theano.printing.debugprint(model["prediction"], file="str")
    assert "Composite" not in user and "inplace" not in user
    # and in-place work gives the same numbers as the graph without rewrites
    plain = tutorial_logreg(mode=theano.Mode(linker="py", optimizer=None))
    for a, b in zip(run_steps(model, 2)[1:3], run_steps(plain, 2)[1:3]):
        numpy.testing.assert_allclose(a, b, rtol=1e-9)


# -- Conditions -----------------------------------------------------------------------------

def test_ifelse_vs_switch_example(capsys):
    env, out = run_example("ifelse_switch.py", capsys)
    assert re.fullmatch(r"time spent evaluating both values \d+\.\d{6} sec\n"
                        r"time spent evaluating one value \d+\.\d{6} sec\n", out)
    rng = numpy.random.default_rng(0)
    m1, m2 = rng.random((30, 20)), rng.random((30, 20))
    for a, b in ((0.0, 1.0), (1.0, 0.0)):
        lazy = env["f_lazyifelse"](a, b, m1, m2)
        assert env["f_switch"](a, b, m1, m2) == pytest.approx(lazy, rel=1e-12)
        assert lazy == pytest.approx((m1 if a < b else m2).mean(), rel=1e-12)


class BranchRan(Exception):
    pass


@theano.as_op(itypes=[T.dmatrix], otypes=[T.dscalar])
def boom(m):
    raise BranchRan("the branch not taken was evaluated")


@pytest.mark.parametrize("linker", ["vm", "cvm"])
def test_ifelse_is_lazy_switch_is_not(linker):
    a, b = T.scalars("a", "b")
    x, y = T.matrices("x", "y")
    mode = theano.Mode(linker=linker)
    f_lazy = theano.function([a, b, x, y], ifelse(T.lt(a, b), T.mean(x), boom(y)), mode=mode)
    f_switch = theano.function([a, b, x, y], T.switch(T.lt(a, b), T.mean(x), boom(y)),
                               mode=mode)
    ones = numpy.ones((3, 2))
    assert f_lazy(0.0, 1.0, ones * 2, ones) == 2.0     # boom(y) is not run
    with pytest.raises(BranchRan):
        f_lazy(1.0, 0.0, ones * 2, ones)
    with pytest.raises(BranchRan):                    # switch evaluates both values
        f_switch(0.0, 1.0, ones * 2, ones)


def test_ifelse_is_eager_without_a_lazy_linker():
    """The page: without linker 'vm'/'cvm', IfElse computes both values."""
    a, b = T.scalars("a", "b")
    x, y = T.matrices("x", "y")
    f = theano.function([a, b, x, y], ifelse(T.lt(a, b), T.mean(x), boom(y)),
                        mode=theano.Mode(linker="py"))
    with pytest.raises(BranchRan):
        f(0.0, 1.0, numpy.ones((3, 2)), numpy.ones((3, 2)))


# -- Loops ----------------------------------------------------------------------------------

def test_scan_pow_example(capsys):
    env, out = run_example("scan_pow.py", capsys)
    assert " ".join(out.split()) == "[ 0. 1. 4. 9. 16. 25. 36. 49. 64. 81.]"
    numpy.testing.assert_array_equal(env["power"](range(10), 2), numpy.arange(10.0) ** 2)
    numpy.testing.assert_allclose(env["power"]([1.5, -2.0], 5), [1.5 ** 5, -32.0])


def test_scan_poly_example(capsys):
    env, out = run_example("scan_poly.py", capsys)
    assert out.splitlines()[0] == "19.0"
    coeff = numpy.random.default_rng(1).standard_normal(7)
    assert env["calculate_polynomial"](coeff, 0.7) == pytest.approx(
        numpy.polyval(coeff[::-1], 0.7), rel=1e-12)


@pytest.mark.parametrize("mode", [None, "JAX"])
def test_exercise_4_polynomial_reduced_by_scan(mode):
    """Exercise 4: the polynomial with the sum done by scan (an accumulator output),
    on the default engine and on the JAX backend."""
    if mode == "JAX":
        pytest.importorskip("jax", reason="the JAX backend needs the jax package")
    coefficients = T.vector("coefficients")
    x = T.scalar("x")
    max_coefficients_supported = 10000
    full_range = T.arange(max_coefficients_supported)

    def add_term(coeff, power, total_so_far, free_var):
        return total_so_far + coeff * (free_var ** power)

    partial_sums, updates = theano.scan(fn=add_term,
                                        outputs_info=T.zeros_like(x),
                                        sequences=[coefficients, full_range],
                                        non_sequences=x)
    polynomial = partial_sums[-1]
    calculate_polynomial = theano.function(inputs=[coefficients, x], outputs=polynomial,
                                           updates=updates, mode=mode)
    test_coeff = numpy.asarray([1, 0, 2], dtype=numpy.float32)
    assert calculate_polynomial(test_coeff, 3) == 19.0
    coeff = numpy.random.default_rng(2).standard_normal(9)
    assert calculate_polynomial(coeff, -1.3) == pytest.approx(numpy.polyval(coeff[::-1], -1.3),
                                                              rel=1e-12)
    # the terms are elementwise over the sequences and the accumulator only sums
    # them: no loop is left (``pushout_elementwise``, then ``pushout_accumulators``)
    nodes = calculate_polynomial.maker.fgraph.toposort()
    assert not any(isinstance(n.op, Scan) for n in nodes)
    if mode is None:
        looped = theano.function([coefficients, x], polynomial, mode=theano.Mode(
            "vm", "fast_run").excluding("pushout_accumulators"))
        assert looped(coeff, -1.3) == pytest.approx(numpy.polyval(coeff[::-1], -1.3),
                                                    rel=1e-12)
        nodes = looped.maker.fgraph.toposort()      # the reduction happens in the loop
        assert any(isinstance(n.op, Scan) for n in nodes)
        assert not any(isinstance(n.op, CAReduce) for n in nodes)


# -- Exercise 5: "Where does it come from? (Use ProfileMode)" (no GPU here: CPU profile) ----

def test_exercise_5_profile_mode():
    profmode = theano.ProfileMode(optimizer="fast_run", linker="vm")
    profmode.profile_stats.atexit_print = False
    model = tutorial_logreg(n=50, mode=profmode)
    run_steps(model, 2)
    assert model["train"].profile is model["predict"].profile is profmode.profile_stats
    out = io.StringIO()
    profmode.print_summary(file=out)
    text = out.getvalue()
    assert "Profile: ProfileMode  (2 function(s): train, predict)" in text
    assert "Function train" in text and "calls: 2;" in text and "Class (op classes)" in text
    # the string names one shared instance
    x = T.dvector("x")
    f = theano.function([x], x + 1, mode="ProfileMode")
    g = theano.function([x], x * 2, mode="ProfileMode")
    f.profile.atexit_print = False
    assert f.profile is g.profile and f.profile is not profmode.profile_stats


# -- Printing/Drawing -----------------------------------------------------------------------

def test_printing_and_drawing(tmp_path, capsys):
    model = tutorial_logreg(n=10, feats=5)
    prediction, predict = model["prediction"], model["predict"]
    text = theano.printing.pprint(prediction)
    for part in ("gt(", "exp(", "x \\dot w", "0.5", "- b"):
        assert part in text, (part, text)
    assert text == "gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)"

    theano.printing.debugprint(prediction)
    tree = capsys.readouterr().out.splitlines()
    assert tree[0].startswith("Elemwise{gt}")
    assert any(re.match(r" \| \|Elemwise\{true_div\}|\s*\|[ |]*Elemwise\{exp\}", ln)
               for ln in tree)
    assert any(re.match(r"[ |]+\|Dot ", ln) for ln in tree)
    for leaf in ("x", "w", "b"):
        assert any(re.match(rf"[ |]+\|{leaf} \[id ", ln) for ln in tree), leaf

    theano.printing.debugprint(predict)
    compiled = capsys.readouterr().out
    assert compiled.splitlines()[0].startswith("Elemwise{Composite{")
    assert " |Dot [id " in compiled and "DimShuffle{x}" in compiled

    theano.printing.debugprint([prediction, model["gw"]])     # a list of variables
    both = capsys.readouterr().out.splitlines()
    assert both[0].startswith("Elemwise{gt}") and len(both) > len(tree)
    assert sum(not ln.startswith(" ") for ln in both) == 2     # two roots

    theano.printing.pydotprint_variables(prediction, outfile=tmp_path / "prediction.png")
    theano.printing.pydotprint(predict, outfile=tmp_path / "predict.png")
    theano.printing.pydotprint(model["train"], outfile=tmp_path / "train.png")
    printed = capsys.readouterr().out
    for name in ("prediction", "predict", "train"):
        png = tmp_path / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"The output file is available at {png}" in printed
    with pytest.raises(TypeError, match="pydotprint for a compiled Function"):
        theano.printing.pydotprint_variables(predict)


# -- Debugging ------------------------------------------------------------------------------

def test_compute_test_value_catches_the_shape_error_where_it_is_made():
    old = theano.config.compute_test_value
    theano.config.compute_test_value = "raise"
    try:
        x = T.matrix("x")
        x.tag.test_value = numpy.random.rand(5, 10)
        w = theano.shared(numpy.random.rand(5, 3), name="w")   # should be (10, 3)
        with pytest.raises(ValueError) as info:
            T.dot(x, w) + 1  # the bad line
    finally:
        theano.config.compute_test_value = old
    message = str(info.value)
    assert "(5, 10)" in message and "(5, 3)" in message
    assert "test_advanced_theano.py" in message and "# the bad line" in message


def test_tutorial_program_builds_with_test_values_raise():
    """The page's logistic regression sets ``x.tag.test_value = D[0]``: under 'raise'
    every node, gradients included, gets a value as it is built."""
    with theano.config.change_flags(compute_test_value="raise"):
        model = tutorial_logreg(n=30, test_values=True)
    x, y = model["D"]
    w = model["w"].get_value()
    p = 1 / (1 + numpy.exp(-x @ w))
    numpy.testing.assert_array_equal(model["prediction"].tag.test_value, p > 0.5)
    gw = x.T @ (p - y) / len(y) + 0.02 * w
    numpy.testing.assert_allclose(model["gw"].tag.test_value, gw, rtol=1e-7)
    preds, xent = model["train"](x, y)
    numpy.testing.assert_array_equal(preds, p > 0.5)


def assert_same_training(reference, result, xent_rtol=1e-10):
    for (p1, x1), (p2, x2) in zip(reference[0], result[0]):
        numpy.testing.assert_array_equal(p1, p2)
        if xent_rtol is not None:
            numpy.testing.assert_allclose(x1, x2, rtol=xent_rtol)
    numpy.testing.assert_allclose(result[1], reference[1], rtol=1e-10)
    assert result[2] == pytest.approx(reference[2], rel=1e-10, abs=1e-14)
    numpy.testing.assert_array_equal(result[3], reference[3])


@pytest.mark.parametrize("mode, linker", [("FAST_COMPILE", "PyLinker"),
                                          ("DebugMode", "DebugLinker")])
def test_fast_compile_and_debug_mode_agree_with_fast_run(mode, linker):
    """The page's data: unit weights put |x . w| up to ~70, where log(1 - p_1) is -inf
    unless rewritten to -softplus; DebugMode checks that rewrite without complaint."""
    reference = run_steps(tutorial_logreg(mode="FAST_RUN"), 3)
    other = tutorial_logreg(mode=mode)
    assert type(other["train"].maker.mode.linker).__name__ == linker
    result = run_steps(other, 3)
    if mode == "DebugMode":
        assert_same_training(reference, result)
    else:
        # FAST_COMPILE does not stabilize: its cross-entropy output is inf where FAST_RUN
        # has -softplus; the training itself (grad stabilizes its own copy) is the same
        assert_same_training(reference, result, xent_rtol=None)
        assert not all(numpy.isfinite(x).all() for _, x in result[0])
        assert all(numpy.isfinite(x).all() for _, x in reference[0])


def test_fast_compile_agrees_with_fast_run_on_tame_data():
    """Small weights keep every value of the cross-entropy accurate without rewrites."""
    reference = run_steps(tutorial_logreg(w_scale=0.05, mode="FAST_RUN"), 3)
    assert_same_training(reference, run_steps(tutorial_logreg(w_scale=0.05,
                                                              mode="FAST_COMPILE"), 3))


# -- Known limitations ----------------------------------------------------------------------

def test_eval_hides_the_compilation_step():
    x = T.dmatrix("x")
    w = theano.shared(numpy.array([1.0, -2.0]), name="w")
    data = numpy.arange(6.0).reshape(3, 2)
    numpy.testing.assert_allclose(T.dot(x, w).eval({x: data}), data @ [1.0, -2.0])
    assert (w ** 2).sum().eval() == 5.0                       # no inputs: no dict
    assert T.constant(numpy.arange(4.0)).mean().eval() == 1.5
    assert (x.sum() * 2).eval({x: data}) == 30.0              # compiled once, cached
    assert (x.sum() * 2).eval({x: data + 1}) == 42.0


def assert_trains_as_the_default_engine(mode, steps=5):
    """The tutorial's logistic regression compiled with ``mode``: every output, the final
    weights and the predictions as on the default engine."""
    other = run_steps(tutorial_logreg(mode=mode), steps)
    default = run_steps(tutorial_logreg(), steps)
    for (p1, x1), (p0, x0) in zip(other[0], default[0]):
        numpy.testing.assert_array_equal(p1, p0)
        numpy.testing.assert_allclose(x1, x0, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(other[1], default[1], rtol=1e-10)
    assert other[2] == pytest.approx(default[2], rel=1e-10)
    numpy.testing.assert_array_equal(other[3], default[3])


def test_tutorial_logreg_on_the_jax_backend():
    """The tutorial's code, unchanged, compiled with mode='JAX': same training."""
    pytest.importorskip("jax", reason="the JAX backend needs the jax package")
    assert_trains_as_the_default_engine("JAX")


def test_tutorial_logreg_and_loops_on_the_numba_backend(capsys):
    """The tutorial's code, unchanged, compiled with mode='NUMBA': same training, and its
    scan examples give the same values as on the default engine."""
    pytest.importorskip("numba", reason="the Numba backend needs the numba package")
    assert_trains_as_the_default_engine("NUMBA")
    with theano.config.change_flags(mode="NUMBA"):
        env, out = run_example("scan_poly.py", capsys)
        assert out.splitlines()[0] == "19.0"
        coeff = numpy.random.default_rng(1).standard_normal(7)
        assert env["calculate_polynomial"](coeff, 0.7) == pytest.approx(
            numpy.polyval(coeff[::-1], 0.7), rel=1e-12)
        env, out = run_example("scan_pow.py", capsys)
        numpy.testing.assert_array_equal(env["power"](range(10), 2), numpy.arange(10.0) ** 2)
        assert env["power"].maker.linker.name == "numba"
