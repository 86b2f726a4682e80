"""``th.grad`` and friends: errors, options, higher order, forward mode, checking."""

import sys
import warnings

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.gradient import (
    DisconnectedInputError,
    DisconnectedType,
    GradientError,
    NullTypeGradError,
    grad_undefined,
    verify_grad,
)
from theanine.graph.basic import Apply
from theanine.graph.op import Op


def _numeric_jacobian(f, x, eps=1e-6):
    """d f(x) / d x by central differences, shape f(x).shape + x.shape."""
    y0 = np.asarray(f(x))
    jac = np.zeros(y0.shape + x.shape)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        jac[(...,) + idx] = (np.asarray(f(xp)) - np.asarray(f(xm))) / (2 * eps)
    return jac


# -- errors and options ----------------------------------------------------------------

def test_non_scalar_cost_names_its_ndim():
    x = tt.dmatrix("x")
    with pytest.raises(TypeError, match="ndim=2"):
        th.grad(x * 2, x)


def test_gradients_are_named_after_cost_and_wrt():
    x = tt.dvector("x")
    cost = tt.sum(tt.exp(x))
    cost.name = "cost"
    assert th.grad(cost, x).name == "(dcost/dx)"
    assert th.grad(cost, x, add_names=False).name is None


def test_integer_wrt_is_refused():
    i = tt.lvector("i")
    with pytest.raises(TypeError, match="integer/bool dtype int64"):
        th.grad(tt.sum(i * 2.0), i)


def test_disconnected_wrt_options():
    x, y = tt.dvector("x"), tt.dvector("y")
    cost = tt.sum(x ** 2)
    with pytest.raises(DisconnectedInputError, match="y"):
        th.grad(cost, [x, y])
    with pytest.warns(UserWarning, match="not part of the computational graph"):
        th.grad(cost, y, disconnected_inputs="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gy = th.grad(cost, y, disconnected_inputs="ignore")
    np.testing.assert_array_equal(th.function([y], gy)(np.ones(3)), np.zeros(3))
    assert th.grad(cost, y, disconnected_inputs="ignore", return_disconnected="none") is None
    marker = th.grad(cost, y, disconnected_inputs="ignore", return_disconnected="disconnected")
    assert isinstance(marker.type, DisconnectedType)
    with pytest.raises(ValueError, match="disconnected_inputs"):
        th.grad(cost, x, disconnected_inputs="maybe")


def test_shape_and_argmax_paths_are_disconnected():
    x = tt.dvector("x")
    through_shape = tt.cast(tt.shape_i(x, 0), "float64")
    with pytest.raises(DisconnectedInputError):
        th.grad(through_shape, x)
    with pytest.raises(DisconnectedInputError):
        th.grad(tt.cast(tt.argmax(x), "float64"), x)
    # connected through the values as well: only the value path counts
    g = th.grad(tt.sum(x) * tt.cast(tt.argmax(x), "float64"), x)
    np.testing.assert_allclose(th.function([x], g)(np.array([1.0, 3.0, 2.0])), [1, 1, 1])


def test_integer_path_gives_zero_not_error():
    x = tt.dvector("x")
    cost = tt.sum(tt.cast(tt.cast(x, "int64"), "float64")) + tt.sum(tt.floor(x))
    g = th.grad(cost, x)
    np.testing.assert_array_equal(th.function([x], g)(np.array([1.5, 2.5])), [0.0, 0.0])


class _Undefined(Op):
    """x -> x with an undefined gradient (to test how grad reports it)."""

    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, fgraph, node, shapes):
        return shapes

    def L_op(self, inputs, outputs, gouts):
        return [grad_undefined(self, 0, inputs[0], "it is a test")]


def test_undefined_gradient_reports_why():
    x, y = tt.dvector("x"), tt.dvector("y")
    cost = tt.sum(_Undefined()(x) * y)
    with pytest.raises(NullTypeGradError, match="undefined: it is a test"):
        th.grad(cost, x)
    gy = th.grad(cost, y)  # the other input does not need it
    np.testing.assert_allclose(th.function([x, y], gy)(np.ones(2) * 3, np.ones(2)), [3, 3])


# -- what flows where ----------------------------------------------------------------

def test_shared_variables_givens_and_broadcasting():
    x = tt.dmatrix("x")
    w = th.shared(np.array([0.5, -1.0, 2.0]), name="w")
    b = th.shared(np.array(0.3), name="b")
    row = tt.drow("row")
    cost = tt.sum(tt.exp(tt.dot(x, w) + b)) + tt.sum((x + row) ** 2)
    gw, gb, grow = th.grad(cost, [w, b, row])
    xv = np.arange(6.0).reshape(2, 3) / 10
    rv = np.array([[0.1, 0.2, 0.3]])
    f = th.function([x, row], [gw, gb, grow])
    e = np.exp(xv @ w.get_value() + 0.3)
    got = f(xv, rv)
    np.testing.assert_allclose(got[0], xv.T @ e)
    np.testing.assert_allclose(got[1], e.sum())
    np.testing.assert_allclose(got[2], 2 * (xv + rv).sum(axis=0, keepdims=True))
    # givens replace a variable inside the gradient graph too
    z = tt.dmatrix("z")
    fz = th.function([z], gw, givens={x: z * 2})
    np.testing.assert_allclose(fz(xv / 2), xv.T @ e)


def test_switch_and_maximum_conventions():
    x = tt.dvector("x")
    g = th.grad(tt.sum(tt.switch(tt.gt(x, 0), x ** 2, -x)) + tt.sum(tt.maximum(x, 0.5)), x)
    got = th.function([x], g)(np.array([-1.0, 0.5, 2.0]))
    # switch: 2x or -1; maximum ties go to the first argument
    np.testing.assert_allclose(got, [-1.0, 1.0 + 1.0, 4.0 + 1.0])
    ga = th.grad(tt.sum(tt.abs(x)), x)
    np.testing.assert_array_equal(th.function([x], ga)(np.array([-2.0, 0.0, 3.0])), [-1, 0, 1])


def test_consider_constant_and_known_grads():
    x = tt.dvector("x")
    y = x ** 2
    cost = tt.sum(y * x)
    g = th.grad(cost, x, consider_constant=[y])
    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(th.function([x], g)(xv), xv ** 2)
    gk = th.grad(None, x, known_grads={y: tt.as_tensor_variable(np.array([1.0, 10.0]))})
    np.testing.assert_allclose(th.function([x], gk)(xv), 2 * xv * [1, 10])
    both = th.grad(cost, x, known_grads={y: tt.as_tensor_variable(np.array([1.0, 1.0]))})
    np.testing.assert_allclose(th.function([x], both)(xv), 3 * xv ** 2 + 2 * xv)


def test_gradient_shaping_ops():
    x = tt.dvector("x")
    xv = np.array([1.0, -2.0, 3.0])
    dg = th.grad(tt.sum(th.gradient.disconnected_grad(x) * x), x)
    np.testing.assert_allclose(th.function([x], dg)(xv), xv)
    with pytest.raises(DisconnectedInputError):
        th.grad(tt.sum(th.gradient.disconnected_grad(x) ** 2), x)
    zg = th.grad(tt.sum(th.gradient.zero_grad(x) ** 2), x)
    np.testing.assert_array_equal(th.function([x], zg)(xv), np.zeros(3))
    cg = th.grad(tt.sum(th.gradient.grad_clip(x, -1.0, 4.0) ** 2), x)
    np.testing.assert_allclose(th.function([x], cg)(xv), [2.0, -1.0, 4.0])
    sg = th.grad(tt.sum(th.gradient.grad_scale(x, -0.5) ** 2), x)
    np.testing.assert_allclose(th.function([x], sg)(xv), -xv)
    f = th.function([x], th.gradient.grad_clip(x, 0, 1) * 2)
    np.testing.assert_allclose(f(xv), 2 * xv)


def test_long_chain_has_no_recursion_limit():
    x = tt.dscalar("x")
    y = x
    for _ in range(1200):
        y = y * 1.0001 + 0.0
    g = th.grad(y, x)
    np.testing.assert_allclose(th.gradient.evaluate(g, {x: np.array(1.0)}), 1.0001 ** 1200)


# -- higher order, jacobian, hessian, forward mode -------------------------------------

def test_second_derivatives_of_ops():
    x = tt.dvector("x")
    xv = np.array([0.3, 0.7, 1.1])
    cases = {tt.sin: -np.sin(xv), tt.exp: np.exp(xv), tt.tanh: -2 * np.tanh(xv)
             * (1 - np.tanh(xv) ** 2), tt.log: -1 / xv ** 2, tt.sigmoid: None}
    for fn, want in cases.items():
        gg = th.grad(tt.sum(th.grad(tt.sum(fn(x)), x)), x)
        got = th.function([x], gg)(xv)
        if want is None:
            s = 1 / (1 + np.exp(-xv))
            want = s * (1 - s) * (1 - 2 * s)
        np.testing.assert_allclose(got, want, rtol=1e-10, err_msg=str(fn))


def test_grad_of_grad_against_finite_differences(rng):
    def gradient_of(v):
        return th.grad(tt.sum(tt.tanh(v) ** 3 * tt.prod(v)), v)

    verify_grad(gradient_of, [rng.uniform(0.5, 1.5, (4,))], rng=rng)
    verify_grad(lambda a, b: th.grad(tt.sum(tt.dot(a, b) ** 2), a),
                [rng.normal(size=(2, 3)), rng.normal(size=(3, 2))], rng=rng)


def test_jacobian_against_finite_differences(rng):
    x = tt.dvector("x")
    m = tt.dmatrix("m")
    y = tt.dot(m, tt.sin(x)) * tt.sum(x)
    jx, jm = th.gradient.jacobian(y, [x, m])
    xv, mv = rng.normal(size=3), rng.normal(size=(2, 3))
    got_x, got_m = th.function([x, m], [jx, jm])(xv, mv)
    want_x = _numeric_jacobian(lambda v: mv @ np.sin(v) * v.sum(), xv)
    want_m = _numeric_jacobian(lambda w: w @ np.sin(xv) * xv.sum(), mv)
    assert got_x.shape == (2, 3) and got_m.shape == (2, 2, 3)
    np.testing.assert_allclose(got_x, want_x, atol=1e-7)
    np.testing.assert_allclose(got_m, want_m, atol=1e-7)
    with pytest.raises(DisconnectedInputError):
        th.gradient.jacobian(y, tt.dvector("other"))


def test_hessian_of_small_mlp_loss(rng):
    x = th.shared(rng.normal(size=(5, 3)), name="x")
    t = th.shared(rng.normal(size=5), name="t")
    w1 = tt.dmatrix("w1")
    w2 = tt.dvector("w2")
    hidden = tt.tanh(tt.dot(x, w1))
    loss = tt.mean((tt.dot(hidden, w2) - t) ** 2) + 0.1 * tt.sum(w1 ** 2)
    h1, h2 = th.gradient.hessian(loss, [w1, w2])
    w1v, w2v = rng.normal(size=(3, 4)), rng.normal(size=4)
    got1, got2 = th.function([w1, w2], [h1, h2])(w1v, w2v)
    xv, tv = x.get_value(), t.get_value()

    def loss_np(a, b):
        return np.mean((np.tanh(xv @ a) @ b - tv) ** 2) + 0.1 * np.sum(a ** 2)

    def grad1(a):
        return _numeric_jacobian(lambda v: loss_np(v, w2v), a, eps=1e-5)

    def grad2(b):
        return _numeric_jacobian(lambda v: loss_np(w1v, v), b, eps=1e-5)

    assert got1.shape == (3, 4, 3, 4)
    np.testing.assert_allclose(got1, _numeric_jacobian(grad1, w1v, eps=1e-4), atol=1e-4)
    np.testing.assert_allclose(got2, _numeric_jacobian(grad2, w2v, eps=1e-4), atol=1e-4)
    np.testing.assert_allclose(got1.reshape(12, 12), got1.reshape(12, 12).T, atol=1e-12)


def test_rop_and_lop_match_the_jacobian(rng):
    x = tt.dvector("x")
    v = tt.dvector("v")
    u = tt.dvector("u")
    m = rng.normal(size=(3, 4))
    y = tt.exp(tt.dot(m, x)) * tt.sum(x ** 2)
    jv = th.gradient.Rop(y, x, v)
    uj = th.gradient.Lop(y, x, u)
    xv, vv, uv = rng.normal(size=4) * 0.3, rng.normal(size=4), rng.normal(size=3)
    jac = _numeric_jacobian(lambda a: np.exp(m @ a) * np.sum(a ** 2), xv)
    got_jv, got_uj = th.function([x, v, u], [jv, uj])(xv, vv, uv)
    np.testing.assert_allclose(got_jv, jac @ vv, atol=1e-7)
    np.testing.assert_allclose(got_uj, uv @ jac, atol=1e-7)


# -- verify_grad itself --------------------------------------------------------------

class _WrongSquare(Op):
    """x**2 forward, but claims the gradient is x (missing the factor 2)."""

    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0] ** 2

    def infer_shape(self, fgraph, node, shapes):
        return shapes

    def L_op(self, inputs, outputs, gouts):
        return [gouts[0] * inputs[0]]


def test_verify_grad_names_the_wrong_input(rng):
    pts = [rng.uniform(1, 2, (3,)), rng.uniform(1, 2, (3,))]
    with pytest.raises(GradientError, match="input 1") as info:
        verify_grad(lambda a, b: a * _WrongSquare()(b), pts, rng=rng)
    assert info.value.arg == 1
    assert "max absolute error" in str(info.value) and "max relative error" in str(info.value)
    verify_grad(lambda a, b: a * b ** 2, pts, rng=rng)  # the right gradient passes


def test_verify_grad_rejects_discrete_points():
    with pytest.raises(TypeError, match="dtype int64"):
        verify_grad(lambda a: a * 2, [np.arange(3)])


def test_grad_of_hand_written_cross_entropy_is_finite_far_from_zero():
    """grad differentiates a stabilized copy: no inf * 0 where sigmoid saturates."""
    z = tt.dvector("z")
    y = tt.dvector("y")
    p = 1 / (1 + tt.exp(-z))
    cost = (-y * tt.log(p) - (1 - y) * tt.log(1 - p)).sum()
    g = th.function([z, y], th.grad(cost, z))
    zv = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    yv = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    expected = 1 / (1 + np.exp(-zv)) - yv     # d/dz of the stable cross-entropy
    np.testing.assert_allclose(g(zv, yv), expected, atol=1e-12)


def test_stabilized_copy_leaves_the_users_graph_alone():
    z = tt.dvector("z")
    p = 1 / (1 + tt.exp(-z))
    cost = tt.log(p).sum()
    before = th.pp(cost)
    th.grad(cost, z)
    assert th.pp(cost) == before


def test_a_cost_with_nothing_to_stabilize_is_differentiated_as_written():
    """No rewrite applies: the gradient reads the user's own forward nodes (not a
    copy that a function compiling the cost too would have to merge back)."""
    from theanine.graph.basic import ancestors
    from theanine.tensor.gradient.stabilize import stable_cost
    x, w = tt.dvectors("x", "w")
    hidden = tt.tanh(x * w)
    cost = (hidden * hidden).sum()
    assert stable_cost(cost, [w]) is cost
    assert hidden in set(ancestors(th.grad(cost, w)))
    unstable = tt.log(1 / (1 + tt.exp(-x * w))).sum()
    assert stable_cost(unstable, [w]) is not unstable


def test_a_cost_without_what_stabilize_looks_for_is_not_copied(monkeypatch):
    """No exp, log, sigmoid or softmax (what the stabilize rules need or track): no
    copy is made and no pass runs; with an exp that a rule looks for, the passes run."""
    from theanine.tensor.gradient import stabilize
    copies = []
    real = stabilize.clone_get_equiv
    monkeypatch.setattr(stabilize, "clone_get_equiv",
                        lambda *a, **k: copies.append(1) or real(*a, **k))
    x, w = tt.dvectors("x", "w")
    plain = (tt.tanh(x * w) * 2.0 - 1.0).sum()
    assert stabilize.stable_cost(plain, [w]) is plain and copies == []
    softplus_like = tt.log(1 + tt.exp(x * w)).sum()
    stable = stabilize.stable_cost(softplus_like, [w])
    assert copies == [1] and stable is not softplus_like
    assert "softplus" in th.pp(stable)


def test_gradient_nodes_carry_the_users_lines():
    """Nodes built by ``grad`` name the line that called it; a user's own op's gradient
    nodes name the lines of its ``L_op``."""
    x = tt.dvector("x")
    cost = (tt.tanh(x) * 2).sum() + _WrongSquare()(x).sum()
    g = th.grad(cost, x)
    grad_line = sys._getframe().f_lineno - 1
    lines = {n.tag.trace[0][1] for n in th.graph.basic.io_toposort([x], [g])
             if n.tag.trace and n.tag.trace[0][0] == __file__}
    l_op_line = _WrongSquare.L_op.__code__.co_firstlineno + 1
    assert grad_line in lines and l_op_line in lines, (lines, grad_line, l_op_line)


def test_the_garbage_collector_is_paused_while_differentiating():
    """Each collection walks the whole live graph: on a 10,000-layer gradient it took
    a third of ``grad``."""
    import gc

    from theanine.graph.basic import Apply
    from theanine.graph.op import Op
    seen = []

    class Double(Op):
        def make_node(self, x):
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, output_storage):
            output_storage[0][0] = np.asarray(inputs[0] * 2)

        def L_op(self, inputs, outputs, output_grads):
            seen.append(gc.isenabled())
            return [output_grads[0] * 2]

    x = tt.dscalar("x")
    assert gc.isenabled()
    g = th.grad(Double()(x) ** 2, x)
    assert seen == [False] and gc.isenabled()
    assert th.function([x], g)(1.5) == pytest.approx(12.0)


def test_elementwise_gradient_builds_its_constants_at_full_rank():
    """``d tanh(x) = 1 - tanh(x)**2``: the 1 is a (1, 1) constant, not a 0-d one under a
    ``DimShuffle`` node (which every rewrite pass would carry, one per layer)."""
    from theanine.graph.basic import Constant, graph_inputs, io_toposort
    from theanine.tensor.elemwise import DimShuffle

    x, gy = tt.dmatrix("x"), tt.dmatrix("gy")
    (g,) = th.grad(None, [x], known_grads={tt.tanh(x): gy})
    nodes = io_toposort(list(graph_inputs([g])), [g])
    assert not [n for n in nodes if isinstance(n.op, DimShuffle)]
    consts = [i for n in nodes for i in n.inputs if isinstance(i, Constant)]
    assert [(c.type.shape, float(c.data.item())) for c in consts] == [((1, 1), 1.0)]
    xv, gv = np.random.default_rng(0).normal(size=(2, 3)), np.full((2, 3), 0.5)
    np.testing.assert_allclose(th.function([x, gy], g)(xv, gv), gv * (1 - np.tanh(xv) ** 2))
    deep = th.grad(tt.tanh(tt.tanh(tt.tanh(x))).sum(), x)     # one 1 for every layer
    nodes = io_toposort(list(graph_inputs([deep])), [deep])
    assert len({id(i) for n in nodes for i in n.inputs if isinstance(i, Constant)
                and i.type.shape == (1, 1)}) == 1


def test_gradient_through_broadcasting_builds_no_sum_of_an_inserted_axis():
    from theanine.graph.basic import io_toposort
    from theanine.tensor.elemwise import CAReduce, DimShuffle

    x = tt.dmatrix("x")
    b = tt.dvector("b")
    s = tt.dscalar("s")
    for wrt, cost in [(b, ((x + b) ** 2).sum()), (s, (tt.tanh(x * s)).sum())]:
        g = th.grad(cost, wrt)
        nodes = io_toposort([x, wrt], [g])
        # the elementwise gradient's sum keeps the axis it summed; the broadcast's own
        # gradient sums that axis away again: it takes the first sum's value instead
        sums_of_insertions = [n for n in nodes if isinstance(n.op, CAReduce)
                              and n.inputs[0].owner is not None
                              and isinstance(n.inputs[0].owner.op, DimShuffle)]
        assert not sums_of_insertions
        assert sum(isinstance(n.op, CAReduce) for n in nodes) == 1
        xv = np.linspace(-1, 1, 6).reshape(2, 3)
        wv = np.array([0.3, -0.2, 0.5]) if wrt is b else np.float64(0.7)
        got = th.function([x, wrt], g)(xv, wv)
        want = (2 * (xv + wv)).sum(axis=0) if wrt is b else ((1 - np.tanh(xv * wv) ** 2) * xv).sum()
        np.testing.assert_allclose(got, want)
    # where the gradient arriving is not such an insertion, the sum is built
    v = tt.dvector("v")
    g = th.grad(tt.exp(v.dimshuffle("x", 0)).sum(), v)
    nodes = io_toposort([v], [g])
    assert sum(isinstance(n.op, CAReduce) for n in nodes) == 1
    vv = np.array([0.1, -0.4])
    np.testing.assert_allclose(th.function([v], g)(vv), np.exp(vv))
