"""``th.memory_plan``: the peak predicted before running agrees with the profiler's."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from tests.printing.graphs import scan_poly_function, scan_pow_function
from tests.tutorial.test_advanced_theano import tutorial_logreg
from theanine.compile.memory_plan import MemoryPlanError
from theanine.compile.profiling_memory import memory_peaks
from theanine.ifelse import ifelse


def measured_peak(fn, *args) -> int:
    fn(*args)
    return memory_peaks(fn.profile.functions[0].code).executed


def profiled():
    return th.config.change_flags(profile=True, profile_memory=True)


def close(plan_peak: int, measured: int) -> bool:
    return measured > 0 and abs(plan_peak - measured) <= 0.1 * measured


def test_hand_counted_chain_with_and_without_in_place():
    x = tt.dvector("x")
    y = tt.exp(x) * 2.0
    no_fusion = th.Mode().excluding("fusion")
    inplace = th.function([x], y, mode=no_fusion)
    plan = th.memory_plan(inplace, x=(1000,))
    assert plan.peak == 8000                      # exp(x), then * 2 in its buffer
    assert [size for _, size in plan.alive] == [8000]
    copies = th.function([x], y, mode=no_fusion.excluding("inplace"))
    assert th.memory_plan(copies, x=(1000,)).peak == 16000   # exp(x) and its double


@pytest.mark.parametrize("n,feats", [(400, 784), (37, 5)])
def test_tutorial_logreg_agrees_with_the_profiler(n, feats):
    with profiled():
        model = tutorial_logreg(n=n, feats=feats)
    x, y = model["D"]
    for fn, args, shapes in ((model["train"], (x, y), dict(x=x.shape, y=y.shape)),
                             (model["predict"], (x,), dict(x=x.shape))):
        fn.profile.atexit_print = False
        plan = th.memory_plan(fn, **shapes)
        assert close(plan.peak, measured_peak(fn, *args)), (fn.name, plan)
        assert plan.alive and sum(size for _, size in plan.alive) == plan.peak


def test_scan_examples_agree_with_the_profiler():
    with profiled():
        power, poly = scan_pow_function(), scan_poly_function()
    for fn in (power, poly):
        fn.profile.atexit_print = False
    plan = th.memory_plan(power, A=(1000,), k=7)
    assert close(plan.peak, measured_peak(power, np.arange(1000.0), 7)), plan
    plan = th.memory_plan(poly, coefficients=(10000,), x=())
    assert close(plan.peak, measured_peak(poly, np.arange(10000.0), 0.9)), plan


def test_scan_keeping_every_step_agrees_with_the_profiler():
    A = tt.dvector("A")
    k = tt.iscalar("k")
    result, _ = th.scan(lambda prior, A: prior * A, outputs_info=tt.ones_like(A),
                        non_sequences=A, n_steps=k)
    with profiled():
        fn = th.function([A, k], result.sum(axis=0))
    fn.profile.atexit_print = False
    plan = th.memory_plan(fn, A=(500,), k=20)
    assert plan.peak >= 20 * 500 * 8                 # every step's row is kept
    assert close(plan.peak, measured_peak(fn, np.linspace(0, 1, 500), 20)), plan


def test_shapes_from_test_values_and_clear_errors():
    x = tt.dmatrix("x")
    x.tag.test_value = np.zeros((10, 3))
    f = th.function([x], tt.exp(x).sum(axis=1) + 1)
    assert th.memory_plan(f).peak == th.memory_plan(f, x=(10, 3)).peak > 0
    with pytest.raises(TypeError, match="no input named z; the inputs are x"):
        th.memory_plan(f, z=(1,))
    power = scan_pow_function()
    with pytest.raises(MemoryPlanError, match="value of input k"):
        th.memory_plan(power, A=(10,))
    y = tt.dvector("y")
    with pytest.raises(MemoryPlanError, match="shape of input 0"):
        th.memory_plan(th.function([y], y * 2))


def test_tutorial_ifelse_and_switch_agree_with_the_profiler():
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    with profiled():
        f_switch = th.function([a, b, x, y], tt.switch(tt.lt(a, b), tt.mean(x), tt.mean(y)),
                               mode=th.Mode(linker="vm"))
        f_lazy = th.function([a, b, x, y], ifelse(tt.lt(a, b), tt.mean(x), tt.mean(y)),
                             mode=th.Mode(linker="vm"))
    mats = np.ones((100, 10)), np.ones((100, 10))
    for fn in (f_switch, f_lazy):
        fn.profile.atexit_print = False
        plan = th.memory_plan(fn, a=0.0, b=1.0, x=(100, 10), y=(100, 10))
        assert close(plan.peak, measured_peak(fn, 0.0, 1.0, *mats)), plan


def test_lazy_branches_follow_the_condition_or_take_the_larger():
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    big_then = ifelse(tt.lt(a, b), (tt.exp(x) * 2).sum(axis=1), y.sum(axis=1) + 1)
    with profiled():
        fn = th.function([a, b, x, y], big_then, mode=th.Mode(linker="vm").excluding("fusion"))
    fn.profile.atexit_print = False
    mats = np.ones((200, 50)), np.ones((200, 50))
    shapes = dict(x=(200, 50), y=(200, 50))
    then_plan = th.memory_plan(fn, a=0.0, b=1.0, **shapes)
    else_plan = th.memory_plan(fn, a=1.0, b=0.0, **shapes)
    assert then_plan.peak >= 200 * 50 * 8 > else_plan.peak
    assert close(then_plan.peak, measured_peak(fn, 0.0, 1.0, *mats))
    assert close(else_plan.peak, measured_peak(fn, 1.0, 0.0, *mats))
    assert th.memory_plan(fn, **shapes).peak == then_plan.peak     # condition unknown


def test_tutorial_exercise_4_polynomial_by_scan_agrees_with_the_profiler():
    coefficients, x = tt.vector("coefficients"), tt.scalar("x")
    partial_sums, updates = th.scan(lambda c, p, total, v: total + c * (v ** p),
                                    outputs_info=tt.zeros_like(x),
                                    sequences=[coefficients, tt.arange(10000)],
                                    non_sequences=x)
    with profiled():
        fn = th.function([coefficients, x], partial_sums[-1], updates=updates)
    fn.profile.atexit_print = False
    plan = th.memory_plan(fn, coefficients=(3000,), x=())
    assert close(plan.peak, measured_peak(fn, np.linspace(-1, 1, 3000), 0.5)), plan


def _live_nodes_of(op) -> int:
    import gc

    from theanine.graph.basic import Apply
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is Apply and obj.op == op)


def test_a_compiled_function_keeps_no_copy_of_the_nodes_rewrites_replaced():
    x = tt.dvector("x")
    y = tt.log(1 + tt.exp(x))          # stabilize: one softplus node, no log left
    log_op = y.owner.op
    before = _live_nodes_of(log_op)
    f = th.function([x], y)
    assert _live_nodes_of(log_op) == before       # the user's log node only
    assert f.maker.fgraph.equiv is None and f.maker.fgraph.cloned_from[1] == [y]
    np.testing.assert_allclose(f(np.array([0.0, 30.0])), np.log1p(np.exp([0.0, 30.0])))
    with th.config.change_flags(trace_rewrites=True):   # explain needs the copies
        traced = th.function([x], y)
    assert traced.maker.fgraph.equiv is not None
    assert "softplus" in str(traced.maker.explain(y))


def test_the_copies_rewrites_replaced_are_freed_without_the_cyclic_collector():
    """Their cycles (node <-> outputs) are broken when the copy mapping is dropped, so
    the collector's first pass after a compile does not walk them."""
    import gc

    from theanine.graph.basic import Apply
    x = tt.dvector("x")
    y = tt.log(1 + tt.exp(x))
    log_op = y.owner.op
    gc.collect()
    gc.disable()
    try:
        before = {id(o) for o in gc.get_objects() if type(o) is Apply and o.op == log_op}
        f = th.function([x], y)
        copies = [o for o in gc.get_objects()
                  if type(o) is Apply and o.op == log_op and id(o) not in before]
        assert copies == []
    finally:
        gc.enable()
    np.testing.assert_allclose(f(np.array([0.0, 30.0])), np.log1p(np.exp([0.0, 30.0])))
