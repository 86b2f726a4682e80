"""IfElse: values, laziness (proved with counters and raising branches), errors."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.ifelse import IfElse, ifelse

PY = th.Mode(linker="py")


class Counter(Op):
    """Identity that counts how often it runs (to prove a branch did not run)."""

    __props__ = ("tag_name",)

    def __init__(self, tag_name):
        self.tag_name = tag_name
        self.calls = 0

    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        type(self).runs[self.tag_name] = type(self).runs.get(self.tag_name, 0) + 1
        output_storage[0][0] = inputs[0].copy()

    def infer_shape(self, fgraph, node, shapes):
        return shapes

    runs: dict = {}


class Explode(Op):
    """Raises when run: a branch containing it must never execute when not taken."""

    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        raise IndexError("the untaken branch ran")


@pytest.fixture(autouse=True)
def reset_counts():
    Counter.runs.clear()


def test_values_match_python_conditional():
    a, b = tt.dscalars("a", "b")
    x, y = tt.dvectors("x", "y")
    f = th.function([a, b, x, y], ifelse(tt.lt(a, b), x.sum(), (y * 2).sum()))
    xv, yv = np.arange(3.0), np.ones(4)
    assert f(0, 1, xv, yv) == pytest.approx(3.0)
    assert f(1, 0, xv, yv) == pytest.approx(8.0)


def test_only_taken_branch_runs():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    then_v = Counter("then")(x) * 2
    else_v = Counter("else")(x) + 1
    f = th.function([c, x], ifelse(c, then_v, else_v))
    np.testing.assert_allclose(f(1, np.ones(2)), [2.0, 2.0])
    assert Counter.runs == {"then": 1}
    np.testing.assert_allclose(f(0, np.ones(2)), [2.0, 2.0])
    assert Counter.runs == {"then": 1, "else": 1}


def test_raising_branch_never_runs_when_not_chosen():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    f = th.function([c, x], ifelse(c, x + 1, Explode()(x)))
    np.testing.assert_allclose(f(1, np.zeros(2)), [1.0, 1.0])
    with pytest.raises(IndexError, match="untaken branch ran"):
        f(0, np.zeros(2))


def test_py_linker_is_eager():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    f = th.function([c, x], ifelse(c, Counter("t")(x), Counter("e")(x)), mode=PY)
    f(1, np.ones(2))
    assert Counter.runs == {"t": 1, "e": 1}


def test_nested_ifelse_is_lazy_at_every_level():
    c1, c2 = tt.iscalars("c1", "c2")
    x = tt.dvector("x")
    inner = ifelse(c2, Counter("inner_then")(x), Counter("inner_else")(x))
    out = ifelse(c1, inner, Counter("outer_else")(x))
    f = th.function([c1, c2, x], out)
    f(1, 0, np.ones(1))
    assert Counter.runs == {"inner_else": 1}
    f(0, 1, np.ones(1))
    assert Counter.runs == {"inner_else": 1, "outer_else": 1}


def test_shared_subgraph_runs_once_before_the_branch():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    shared_part = Counter("shared")(x)
    f = th.function([c, x], [ifelse(c, shared_part * 2, shared_part * 3),
                             ifelse(c, Counter("only_then")(x), x)])
    r1, r2 = f(0, np.ones(2))
    np.testing.assert_allclose(r1, [3.0, 3.0])
    np.testing.assert_allclose(r2, [1.0, 1.0])
    assert Counter.runs == {"shared": 1}


def test_value_needed_by_output_and_branch_is_computed_unconditionally():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    common = Counter("common")(x)
    f = th.function([c, x], [common, ifelse(c, common + 1, x)])
    a, b = f(0, np.ones(2))
    np.testing.assert_allclose(a, [1.0, 1.0])
    np.testing.assert_allclose(b, [1.0, 1.0])
    assert Counter.runs == {"common": 1}


def test_several_outputs_and_list_branches():
    c = tt.iscalar("c")
    x, y = tt.dvectors("x", "y")
    o1, o2 = ifelse(c, [x, y], [y, x])
    f = th.function([c, x, y], [o1, o2])
    xv, yv = np.zeros(2), np.ones(2)
    r = f(1, xv, yv)
    np.testing.assert_array_equal(r[0], xv)
    r = f(0, xv, yv)
    np.testing.assert_array_equal(r[0], yv)
    assert r[0] is not yv  # outputs never alias inputs


def test_condition_must_be_scalar():
    x = tt.dvector("x")
    with pytest.raises(TypeError, match="scalar"):
        ifelse(x, x, x)


def test_dtype_mismatch_names_output_and_suggests_cast():
    c = tt.iscalar("c")
    with pytest.raises(TypeError, match="output 0 .*float64.*float32.*astype"):
        ifelse(c, tt.dvector(), tt.fvector())


def test_branch_length_mismatch():
    c = tt.iscalar("c")
    with pytest.raises(ValueError, match="2 values"):
        ifelse(c, [tt.dvector(), tt.dvector()], [tt.dvector()])


def test_constant_condition_is_folded():
    x, y = tt.dvectors("x", "y")
    f = th.function([x, y], ifelse(tt.constant(1), x * 2, y), on_unused_input="ignore")
    assert not any(isinstance(n.op, IfElse) for n in f.maker.fgraph.apply_nodes)
    np.testing.assert_allclose(f(np.ones(2), np.zeros(2)), [2.0, 2.0])


def test_identical_branches_removed():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    f = th.function([c, x], ifelse(c, x * 2, x * 2), on_unused_input="ignore")
    assert not any(isinstance(n.op, IfElse) for n in f.maker.fgraph.apply_nodes)


def test_same_condition_ifelses_are_merged():
    c = tt.iscalar("c")
    x = tt.dvector("x")
    f = th.function([c, x], [ifelse(c, x * 2, x * 3), ifelse(c, x + 1, x - 1)])
    nodes = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, IfElse)]
    assert len(nodes) == 1 and nodes[0].op.n_outs == 2
    r = f(0, np.ones(1))
    np.testing.assert_allclose(r[0], [3.0])
    np.testing.assert_allclose(r[1], [0.0])


def test_switch_evaluates_elementwise():
    c = tt.dvector("c")
    x, y = tt.dvectors("x", "y")
    f = th.function([c, x, y], tt.switch(c, x, y))
    np.testing.assert_array_equal(f([1, 0], [1, 2], [3, 4]), [1, 4])


def test_gradient_flows_only_to_the_chosen_branch():
    c = tt.iscalar("c")
    x, y = tt.dvectors("x", "y")
    cost = ifelse(c, (x ** 2).sum(), (3 * y).sum())
    gx, gy = th.grad(cost, [x, y])
    f = th.function([c, x, y], [gx, gy])
    xv, yv = np.array([1.0, 2.0]), np.array([5.0, 6.0])
    gxv, gyv = f(1, xv, yv)
    np.testing.assert_allclose(gxv, 2 * xv)
    np.testing.assert_allclose(gyv, [0.0, 0.0])
    gxv, gyv = f(0, xv, yv)
    np.testing.assert_allclose(gxv, [0.0, 0.0])
    np.testing.assert_allclose(gyv, [3.0, 3.0])


@pytest.mark.parametrize("cond", [0, 1])
def test_verify_grad_through_ifelse_and_switch(cond):
    rng = np.random.default_rng(0)

    def through_ifelse(x, y):
        chosen = tt.gt(x.sum(), -100.0) if cond else tt.lt(x.sum(), -100.0)
        return ifelse(chosen, tt.sin(x) * y, tt.exp(x) + y)

    def through_switch(x, y):
        return tt.switch(tt.gt(x, 0.5), tt.sin(x) * y, tt.exp(x) + y)

    points = [rng.random(4), rng.random(4)]
    th.gradient.verify_grad(through_ifelse, points, rng=rng)
    th.gradient.verify_grad(through_switch, points, rng=rng)


def test_an_ifelse_output_is_never_overwritten_in_place():
    """An ifelse output is a view of its then-value or of its else-value, chosen at
    run time: an in-place op on it could overwrite the else-value that another node
    still reads (the destroy bookkeeping had followed the then-value only)."""
    x, s = tt.dvector("x"), tt.dscalar("s")
    a, b = tt.tanh(x) * 2, tt.exp(x) * 3
    z = ifelse(tt.lt(s, 0), a, b)
    f = th.function([x, s], [tt.sqr(z) + 1, tt.sin(b) * 5, tt.cos(a)])
    for node in f.maker.fgraph.apply_nodes:
        for ins in node.op.destroy_map.values():
            assert all(not isinstance(getattr(node.inputs[i].owner, "op", None), IfElse)
                       for i in ins), node
    xv = np.linspace(-1, 1, 5)
    av, bv = np.tanh(xv) * 2, np.exp(xv) * 3
    for sv in (-1.0, 1.0):
        zv = av if sv < 0 else bv
        for got, want in zip(f(xv, sv), [zv ** 2 + 1, np.sin(bv) * 5, np.cos(av)]):
            np.testing.assert_allclose(got, want, rtol=1e-13)


def test_an_input_chosen_by_an_ifelse_is_not_overwritten():
    """The else-value here is the input ``y`` itself: an in-place op on the ifelse
    output had written into the caller's array when the else branch was taken."""
    x, y, s = tt.dvector("x"), tt.dvector("y"), tt.dscalar("s")
    f = th.function([x, y, s], tt.exp(ifelse(tt.lt(s, 0), tt.tanh(x) * 2, y)) * 3 + 1)
    xv, yv = np.linspace(-1, 1, 4), np.linspace(0, 1, 4)
    keep = yv.copy()
    np.testing.assert_allclose(f(xv, yv, 1.0), np.exp(keep) * 3 + 1, rtol=1e-14)
    np.testing.assert_array_equal(yv, keep)
