"""DebugMode catches each planted kind of bug with its own error class."""

import itertools

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.debug import (
    BadDestroyMap,
    BadOptimization,
    BadThunkOutput,
    BadViewMap,
    DebugMode,
    DebugModeError,
    InvalidValueError,
    StochasticOrder,
)
from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import get_pass
from theanine.link.python.dispatch import python_funcify
from theanine.tensor.elemwise import Elemwise


class _Unary(Op):
    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def infer_shape(self, fgraph, node, shapes):
        return shapes


class SneakyInplace(_Unary):
    """Doubles its input in place without declaring destroy_map."""

    def perform(self, node, inputs, out):
        inputs[0] *= 2
        out[0][0] = inputs[0].copy()


class SneakyView(_Unary):
    """Returns its input itself without declaring view_map."""

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0]


class WrongDtype(_Unary):
    def perform(self, node, inputs, out):
        out[0][0] = inputs[0].astype("float32")


class FastButWrong(_Unary):
    """perform is right; its registered fast implementation is off by one."""

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] + 1


@python_funcify.register(FastButWrong)
def _fast_but_wrong(op, node):
    return lambda x: x + 2


_counter = itertools.count()


class OrderDependent(_Unary):
    """Output depends on how many such nodes ran before: order-sensitive state."""

    def perform(self, node, inputs, out):
        out[0][0] = inputs[0] + float(next(_counter) % 2)


def test_correct_graph_passes():
    x = tt.dvector("x")
    f = th.function([x], [tt.exp(x).sum(), x[::-1] * 2, tt.dot(x, x)], mode="DebugMode")
    r = f(np.arange(3.0))
    assert r[2] == 5.0


def test_wrong_rewrite_is_a_bad_optimization_naming_the_rule():
    def exp_to_log(fgraph, node):
        if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "exp":
            return [tt.log(node.inputs[0])]
        return None

    bad = Rule(exp_to_log, [Elemwise], "planted_exp_to_log")
    canonicalize = get_pass("canonicalize")
    canonicalize.register(bad, position=0)
    try:
        x = tt.dvector("x")
        f = th.function([x], tt.exp(x) + 1, mode=DebugMode(check_finite=False))
        with pytest.raises(BadOptimization, match="planted_exp_to_log"):
            f(np.array([1.0, 2.0]))
    finally:
        canonicalize.rules.remove(bad)


def test_undeclared_inplace_is_bad_destroy_map():
    x = tt.dvector("x")
    f = th.function([x], SneakyInplace()(x * 1), mode="DebugMode")
    with pytest.raises(BadDestroyMap, match="SneakyInplace.*destroy_map"):
        f(np.ones(2))


def test_undeclared_view_is_bad_view_map():
    x = tt.dvector("x")
    f = th.function([x], SneakyView()(x * 3), mode="DebugMode")
    with pytest.raises(BadViewMap, match="view_map"):
        f(np.ones(2))


def test_fast_implementation_disagreeing_with_perform():
    x = tt.dvector("x")
    f = th.function([x], FastButWrong()(x), mode="DebugMode")
    with pytest.raises(BadThunkOutput, match="FastButWrong"):
        f(np.ones(2))


def test_nan_output_is_invalid_value():
    x = tt.dvector("x")
    f = th.function([x], tt.log(x), mode="DebugMode")
    with pytest.raises(InvalidValueError, match="not finite"):
        f(np.array([-1.0]))
    g = th.function([x], tt.log(x), mode=DebugMode(check_finite=False))
    assert np.isnan(g(np.array([-1.0]))[0])


def test_wrong_dtype_is_invalid_value():
    x = tt.dvector("x")
    f = th.function([x], WrongDtype()(x), mode="DebugMode")
    with pytest.raises(InvalidValueError, match="float32.*declared type"):
        f(np.ones(2))


def test_order_dependent_results_are_stochastic_order():
    x = tt.dvector("x")
    a = OrderDependent()(x)
    b = OrderDependent()(x * 1)
    f = th.function([x], [a, b], mode=DebugMode(optimizer=None))
    with pytest.raises(DebugModeError) as info:
        for _ in range(3):
            f(np.zeros(1))
    assert isinstance(info.value, (StochasticOrder, BadThunkOutput))


def test_updates_and_errors_have_normal_semantics():
    w = th.shared(np.ones(2))
    x = tt.dvector("x")
    f = th.function([x], (w * x).sum(), updates=[(w, w * 2)], mode="DebugMode")
    assert f(np.ones(2)) == 2.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
