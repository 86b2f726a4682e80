"""Multi-output fusion (``fuse_siblings``): elementwise nodes that read the same values
become one node of several outputs, never a cycle, never across a lazy op, and each
engine runs the merged node like the nodes it replaces."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import get_mode
from theanine.ifelse import ifelse
from theanine.link.fused import numexpr_engine
from theanine.link.fused.numba_engine import compile_program
from theanine.link.fused.program import KernelProgram
from theanine.link.python.dispatch_fused import SMALL
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.rewriting.fusion_build import MAX_KERNEL_OPERANDS
from theanine.tensor.rewriting.fusion_siblings import MAX_MERGED_OUTPUTS

UNMERGED = get_mode("FAST_RUN").excluding("fuse_siblings")


def _elemwise(f):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Elemwise)]


def _merged(f):
    return [n for n in _elemwise(f) if len(n.outputs) > 1]


def _applied(f):
    return {p.name: p.applied for p in f.maker.rewrite_report.passes}["fusion"]


def test_two_readers_of_one_value_become_one_node(rng):
    x = tt.dvector("x")
    e = tt.exp(x)
    f = th.function([x], [e * 2, e + 1])
    (node,) = _elemwise(f)
    assert len(node.outputs) == 2 and _applied(f)["fuse_siblings"] == 1
    ops = [str(op) for op, _, _ in node.op.scalar_op.code]
    assert ops.count("exp") == 1                     # the shared value is computed once
    for n in (7, SMALL + 5):                         # NumPy chain and native kernel
        a = rng.normal(size=n)
        r1, r2 = f(a)
        np.testing.assert_allclose(r1, np.exp(a) * 2, rtol=1e-14)
        np.testing.assert_allclose(r2, np.exp(a) + 1, rtol=1e-14)


def test_excluding_the_rule_keeps_the_nodes_apart():
    x = tt.dvector("x")
    e = tt.exp(x)
    f = th.function([x], [e * 2, e + 1], mode=UNMERGED)
    assert not _merged(f) and len(_elemwise(f)) == 3


def test_readers_of_another_broadcast_pattern_stay_apart():
    x, m = tt.dvector("x"), tt.dmatrix("m")
    e = tt.exp(x)
    f = th.function([x, m], [e * 2, e + m])         # a vector and a matrix result
    (merged,) = _merged(f)                          # exp(x) with its vector reader only
    assert all(o.ndim == 1 for o in merged.outputs)
    assert any(n.outputs[0].ndim == 2 for n in _elemwise(f))


def test_a_path_that_leaves_and_comes_back_is_not_merged(rng):
    """b and c both read a, but c also reads sum(b): one node computing b and c would
    need its own output first."""
    x = tt.dvector("x")
    a = tt.exp(x)
    b = a * 2
    c = a + b.sum()
    f = th.function([x], [b, c])
    out_b, out_c = f.maker.fgraph.outputs
    assert out_b.owner is not out_c.owner
    v = rng.normal(size=9)
    r1, r2 = f(v)
    np.testing.assert_allclose(r1, np.exp(v) * 2)
    np.testing.assert_allclose(r2, np.exp(v) + (np.exp(v) * 2).sum())


def test_nothing_is_merged_across_a_lazy_branch():
    a, b = tt.dscalars("a", "b")
    x = tt.dvector("x")
    e = tt.exp(x)
    f = th.function([a, b, x], ifelse(tt.lt(a, b), (e * 2).sum(), (e + 1).sum()))
    assert "fuse_siblings" not in _applied(f)


def test_a_merged_node_has_few_outputs(rng):
    x = tt.dvector("x")
    e = tt.exp(x)
    outs = [e * k for k in range(2, 10)]
    f = th.function([x], outs)
    assert _merged(f)
    assert all(len(n.outputs) <= MAX_MERGED_OUTPUTS for n in _elemwise(f))
    v = rng.normal(size=SMALL + 3)
    for k, r in zip(range(2, 10), f(v)):
        np.testing.assert_allclose(r, np.exp(v) * k, rtol=1e-14)


def test_the_logistic_regression_step_is_one_elementwise_node(rng):
    """The tutorial's step: prediction, cross-entropy and its gradient from one pass."""
    x, y = tt.dmatrix("x"), tt.dvector("y")
    w, b = th.shared(np.zeros(5), name="w"), th.shared(0.0, name="b")
    p = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    xent = -y * tt.log(p) - (1 - y) * tt.log(1 - p)
    gw, gb = th.grad(xent.mean(), [w, b])
    f = th.function([x, y], [p > 0.5, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    big = [n for n in _elemwise(f) if n.outputs[0].ndim == 1]
    assert len(big) == 1 and len(big[0].outputs) == 3
    assert big[0].op.inplace_pattern                  # one output takes an input's buffer
    for n in (6, SMALL + 1):
        xv, yv = rng.normal(size=(n, 5)), rng.integers(0, 2, n).astype(float)
        w.set_value(np.linspace(-1, 1, 5))
        b.set_value(0.5)
        pred, xe = f(xv, yv)
        z = xv @ np.linspace(-1, 1, 5) + 0.5
        pv = 1 / (1 + np.exp(-z))
        np.testing.assert_array_equal(pred, pv > 0.5)
        np.testing.assert_allclose(xe, -yv * np.log(pv) - (1 - yv) * np.log(1 - pv),
                                   rtol=1e-12)
        np.testing.assert_allclose(w.get_value(),
                                   np.linspace(-1, 1, 5) - 0.1 * xv.T @ (pv - yv) / n,
                                   rtol=1e-12)


@pytest.mark.parametrize("mode", ["NUMBA", "JAX", "DebugMode", "FAST_COMPILE"])
def test_every_engine_agrees_with_the_merged_default(mode, rng):
    x, y = tt.dvectors("x", "y")
    e = tt.nnet.sigmoid(x * y)
    outs = [e * 2, tt.nnet.softplus(e) - y, e > 0.5]
    merged = th.function([x, y], outs)
    assert _merged(merged)
    other = th.function([x, y], outs, mode=mode)
    for n in (5, SMALL + 7):
        xv, yv = rng.normal(size=n), rng.normal(size=n)
        for got, want in zip(other(xv, yv), merged(xv, yv)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _overwriting_program():
    """Two outputs of x and y; the first is written over x, which the second reads."""
    F = "float64"
    return KernelProgram((("x", F), ("y", F)),
                         (("a", "mul", ("x", "y")), ("b", "add", ("x", "y"))),
                         (("a", F), ("b", F)), ("a", "b"))


@pytest.mark.parametrize("engine", ["numba", "numexpr"])
def test_an_output_written_over_an_input_the_other_output_reads(engine):
    if engine == "numexpr" and not numexpr_engine.available():
        pytest.skip("numexpr not installed")
    program = _overwriting_program()
    kernel = compile_program(program, cache_dir=th.config.compiledir) if engine == "numba" \
        else numexpr_engine.compile_program(program)
    x, y = np.arange(1.0, 50_001.0), np.full(50_000, 3.0)
    want = (x * y, x + y)
    outs = kernel(x, y, out=[x, None])               # None: a fresh array
    assert outs[0] is x
    np.testing.assert_array_equal(outs[0], want[0])
    np.testing.assert_array_equal(outs[1], want[1])


def test_a_fused_node_takes_at_most_the_kernel_operand_limit(rng):
    """A chain reading 30 vectors used to crash Numba's inliner at run time."""
    xs = [tt.dvector(f"x{i}") for i in range(MAX_KERNEL_OPERANDS)]
    out = xs[0]
    for v in xs[1:]:
        out = tt.tanh(out + v)
    f = th.function(xs, out)
    for node in _elemwise(f):
        assert len(node.inputs) + len(node.outputs) <= MAX_KERNEL_OPERANDS
    vals = [rng.normal(size=SMALL + 1) for _ in xs]
    want = vals[0]
    for v in vals[1:]:
        want = np.tanh(want + v)
    with th.config.change_flags(fused_kernel_async=False):
        np.testing.assert_allclose(f(*vals), want, rtol=1e-12)


def test_groups_are_built_once_straight_into_the_merged_node(rng):
    """Fusion plans the groups and their merge before it builds: a group that merges
    is never built on its own (one Composite per final node)."""
    x, y = tt.dvector("x"), tt.dvector("y")
    h = tt.tanh(x * y)                                   # a group of two ops ...
    f = th.function([x, y], [h * 2 + 1, tt.exp(h) - y])  # ... read by two groups
    (node,) = _elemwise(f)
    assert len(node.outputs) == 2
    assert _applied(f)["fuse_siblings"] == 1 and not _applied(f).get("fuse_elemwise")
    a, b = rng.normal(size=6), rng.normal(size=6)
    r1, r2 = f(a, b)
    np.testing.assert_allclose(r1, np.tanh(a * b) * 2 + 1, rtol=1e-14)
    np.testing.assert_allclose(r2, np.exp(np.tanh(a * b)) - b, rtol=1e-14)


def test_a_merged_node_merges_again_in_a_later_run(rng):
    """A node of several outputs from an earlier fusion run is a unit of the next."""
    from theanine.graph.fg import FunctionGraph
    from theanine.tensor.rewriting.fusion import fuse

    x = tt.dvector("x")
    e = tt.exp(x)
    fg = FunctionGraph([x], [e * 2, e + 1])
    fuse(fg)
    (first,) = fg.toposort()
    assert len(first.outputs) == 2
    a2, a1 = fg.outputs
    fg2 = FunctionGraph(list(fg.inputs), [a2, a1, tt.sin(a2) * 3], clone=False)
    counts = fuse(fg2)
    assert counts["fuse_siblings"] == 1
    (node,) = fg2.toposort()
    assert len(node.outputs) == 3
    v = rng.normal(size=4)
    got = th.function(list(fg2.inputs), fg2.outputs)(v)
    np.testing.assert_allclose(got[2], np.sin(np.exp(v) * 2) * 3, rtol=1e-14)
