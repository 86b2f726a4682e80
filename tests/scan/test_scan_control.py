"""Scan with lazy ifelse: an ifelse in a loop body, a scan in an ifelse branch."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad


@pytest.mark.parametrize("mode", ["FAST_RUN", "PY"])
def test_ifelse_inside_the_body(mode):
    x = tt.dvector("x")

    def step(v, acc):
        return th.ifelse(tt.gt(v, 0), acc + v, acc * 0.5)

    out, _ = th.scan(step, sequences=x, outputs_info=tt.zeros_like(x[0]))
    f = th.function([x], out, mode=mode)
    acc, want = 0.0, []
    for v in [1.0, -2.0, 3.0, -1.0]:
        acc = acc + v if v > 0 else acc * 0.5
        want.append(acc)
    np.testing.assert_allclose(f(np.array([1.0, -2.0, 3.0, -1.0])), want)


def test_ifelse_body_is_lazy_in_the_generated_loop():
    x = tt.dvector("x")
    out, _ = th.scan(lambda v: th.ifelse(tt.gt(v, 0), tt.exp(v), tt.log(-v)), sequences=x)
    f = th.function([x], out)
    source = [v.source for v in f.fn.codegen.ns.values() if hasattr(v, "writer")][0]
    assert "            if " in source and "            else:" in source
    np.testing.assert_allclose(f(np.array([1.0, -2.0])), [np.exp(1.0), np.log(2.0)])


@pytest.mark.parametrize("mode", ["FAST_RUN", "PY"])
def test_scan_inside_a_branch(mode):
    c = tt.dscalar("c")
    x = tt.dvector("x")
    cumsum, _ = th.scan(lambda v, acc: acc + v, sequences=x, outputs_info=tt.zeros_like(x[0]))
    f = th.function([c, x], th.ifelse(tt.gt(c, 0), cumsum[-1], x.sum() * 0), mode=mode)
    assert f(1.0, np.arange(4.0)) == 6.0
    assert f(-1.0, np.arange(4.0)) == 0.0


def test_gradient_through_ifelse_in_body():
    def cost(x, h0):
        hs, _ = th.scan(lambda v, h: th.ifelse(tt.gt(v.sum(), 0), tt.tanh(h * v), h * 0.5),
                        sequences=x, outputs_info=h0)
        return hs.sum()

    x = np.array([[1.0, 0.5], [-1.0, -2.0], [0.3, 0.2]])
    verify_grad(cost, [x, np.array([0.4, -0.7])])
