"""DebugMode and stabilizing rewrites: the original formula is no reference where it
has lost its digits, but a wrong rewrite is still caught."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.debug import BadOptimization, DebugMode
from theanine.debug.debugmode import _evaluate_with_perform, _within_rounding
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import get_pass
from theanine.tensor.elemwise import Elemwise

# z where 1 - sigmoid(z) is exact, inexact (digits lost), and rounded to 0 (log = -inf)
Z = np.array([-30.0, -3.0, 0.0, 2.0, 25.0, 31.0, 33.5, 36.0, 40.0, 80.0])


def _log_one_minus_sigmoid(mode):
    z = tt.dvector("z")
    return th.function([z], tt.log(1 - tt.sigmoid(z)), mode=mode)


def test_stabilized_rewrite_passes_where_the_original_loses_its_digits():
    f = _log_one_minus_sigmoid(DebugMode(check_finite=False))
    np.testing.assert_allclose(f(Z), -np.logaddexp(0, Z), rtol=1e-12)
    with np.errstate(all="ignore"):
        naive = np.log(1 - 1 / (1 + np.exp(-Z)))
    # the original formula is -inf or off in the leading digits at these points
    assert np.isinf(naive[-2:]).all() and abs(naive[6] + np.logaddexp(0, Z[6])) > 1e-4


@pytest.mark.parametrize("z", [Z, np.array([0.5, 1.0, 2.0])])
def test_wrong_stabilization_is_still_caught(z):
    def wrong_softplus(fgraph, node):       # log(1 - sigmoid(z)) -> -softplus(-z): wrong
        if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "log":
            inner = node.inputs[0].owner
            if inner is not None and isinstance(inner.op, Elemwise) and \
                    inner.op.scalar_op.name == "sub":
                sig = inner.inputs[1].owner
                if sig is not None and sig.op.scalar_op.name == "sigmoid":
                    return [-tt.softplus(-sig.inputs[0])]
        return None

    bad = Rule(wrong_softplus, [Elemwise], "planted_wrong_softplus")
    stabilize = get_pass("stabilize")
    stabilize.register(bad, position=0)
    try:
        f = _log_one_minus_sigmoid(DebugMode(check_finite=False))
        with pytest.raises(BadOptimization, match="planted_wrong_softplus"):
            f(z)
    finally:
        stabilize.rules.remove(bad)


def test_rounding_slack_needs_an_unstable_original():
    x = tt.dvector("x")
    xv = np.array([1.0, 2.0, 33.5])
    stable_old, off_by_1e3 = tt.exp(x), tt.exp(x) * (1 + 1e-3)
    unstable_old, stabilized = tt.log(1 - tt.sigmoid(x)), -tt.softplus(x)
    targets = [stable_old, off_by_1e3, unstable_old, stabilized]
    env = _evaluate_with_perform([x], [xv], targets)
    a, b, c, d = (env[v] for v in targets)
    assert not _within_rounding(stable_old, off_by_1e3, a, b, env)
    assert not np.allclose(c, d, rtol=1e-6)          # the plain comparison fails at 33.5
    assert _within_rounding(unstable_old, stabilized, c, d, env)
    # at 1 and 2 log(1 - sigmoid) is accurate: a difference there is not excused
    assert not _within_rounding(unstable_old, stabilized, c, d + [1e-3, 0, 0], env)
