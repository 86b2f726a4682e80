"""DebugMode and stabilizing rewrites: the original formula is no reference where it
has lost its digits or overflowed, but a wrong rewrite is still caught."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.debug import BadOptimization, DebugMode
from theanine.debug.debugmode import _evaluate_with_perform, _within_rounding
from theanine.graph.basic import Constant
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import get_pass
from theanine.tensor.elemwise import Elemwise

# z where the naive formulas are exact, lose digits, and overflow or round to 0
Z = np.array([-800.0, -40.0, -3.0, 0.0, 2.0, 25.0, 33.5, 40.0, 800.0])


@pytest.mark.parametrize("build, exact", [
    (lambda z: tt.log(1 - tt.sigmoid(z)), lambda z: -np.logaddexp(0, z)),
    (lambda z: tt.log(tt.sigmoid(z)), lambda z: -np.logaddexp(0, -z)),
    (lambda z: tt.log(1 + tt.exp(z)), lambda z: np.logaddexp(0, z)),
    (lambda z: tt.log1p(tt.exp(z)), lambda z: np.logaddexp(0, z)),
], ids=["log(1-sigmoid)", "log(sigmoid)", "log(1+exp)", "log1p(exp)"])
def test_stabilizing_rewrites_pass_where_the_original_fails(build, exact):
    z = tt.dvector("z")
    f = th.function([z], build(z), mode=DebugMode(check_finite=False))
    np.testing.assert_allclose(f(Z), exact(Z), rtol=1e-12)
    plain = th.function([z], build(z), mode=th.Mode(linker="py", optimizer=None))
    with np.errstate(all="ignore"):
        assert not np.allclose(plain(Z), exact(Z), rtol=1e-6)   # the naive formula fails


def _with_planted(pass_name, fn, name):
    rule = Rule(fn, [Elemwise], name)
    get_pass(pass_name).register(rule, position=0)
    return rule


@pytest.mark.parametrize("z", [Z, np.array([0.5, 1.0, 2.0])])
def test_wrong_stabilization_is_still_caught(z):
    def wrong_sign(fgraph, node):           # 1 - sigmoid(z) -> sigmoid(z): wrong
        if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "sub":
            one, sig = node.inputs
            if isinstance(one, Constant) and np.all(one.data == 1) and \
                    sig.owner is not None and isinstance(sig.owner.op, Elemwise) and \
                    sig.owner.op.scalar_op.name == "sigmoid":
                return [sig]
        return None

    rule = _with_planted("stabilize", wrong_sign, "planted_wrong_sign")
    try:
        zv = tt.dvector("z")
        f = th.function([zv], tt.log(1 - tt.sigmoid(zv)), mode=DebugMode(check_finite=False))
        with pytest.raises(BadOptimization, match="planted_wrong_sign"):
            f(z)
    finally:
        get_pass("stabilize").rules.remove(rule)


def test_a_stable_infinity_is_not_excused_outside_stabilize():
    def shift_log(fgraph, node):            # log(x) -> log(x + 1e-300): wrong at x = 0
        if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "log" and \
                not getattr(node.inputs[0].tag, "planted", False):
            shifted = node.inputs[0] + 1e-300
            shifted.tag.planted = True
            return [tt.log(shifted)]
        return None

    rule = _with_planted("canonicalize", shift_log, "planted_shift_log")
    try:
        x = tt.dvector("x")
        f = th.function([x], tt.log(x), mode=DebugMode(check_finite=False))
        with pytest.raises(BadOptimization, match="planted_shift_log"):
            f(np.array([0.0, 1.0]))
    finally:
        get_pass("canonicalize").rules.remove(rule)


def test_rounding_slack_needs_an_unstable_original():
    x = tt.dvector("x")
    xv = np.array([1.0, 2.0, 33.5])
    stable_old, off_by_1e3 = tt.exp(x), tt.exp(x) * (1 + 1e-3)
    unstable_old, stabilized = tt.log(1 - tt.sigmoid(x)), -tt.softplus(x)
    targets = [stable_old, off_by_1e3, unstable_old, stabilized]
    env = _evaluate_with_perform([x], [xv], targets)
    a, b, c, d = (env[v] for v in targets)
    assert not _within_rounding(stable_old, off_by_1e3, a, b, env, stabilizing=True)
    assert not np.allclose(c, d, rtol=1e-6)          # the plain comparison fails at 33.5
    assert _within_rounding(unstable_old, stabilized, c, d, env, stabilizing=False)
    # at 1 and 2 log(1 - sigmoid) is accurate: a difference there is not excused
    assert not _within_rounding(unstable_old, stabilized, c, d + [1e-3, 0, 0], env,
                                stabilizing=True)
