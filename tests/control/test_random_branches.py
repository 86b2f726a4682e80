"""Random graphs of ``ifelse``, ``switch`` and elementwise steps: values and gradients
on every engine against the PY mode.

Two defects were found this way: an in-place op overwrote an ifelse output (a view
of the then- or the else-value: seed 0's gradient was wrong on the default engine),
and two sibling merges whose nodes interleave closed a cycle (seed 193 failed to
compile once the rewrites had removed its ifelse nodes)."""

import random

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse

UNARY = [lambda v: tt.tanh(v), lambda v: v * 2 + 1, lambda v: tt.exp(-v * v),
         lambda v: tt.sqr(v), lambda v: tt.sigmoid(v) * v]


def _expression(rng, leaves, depth):
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(leaves)
    k = rng.random()
    if k < 0.35:
        return rng.choice(UNARY)(_expression(rng, leaves, depth - 1))
    if k < 0.6:
        return _expression(rng, leaves, depth - 1) * _expression(rng, leaves, depth - 1)
    if k < 0.8:
        a = tt.sum(_expression(rng, leaves, depth - 1))
        b = tt.sum(_expression(rng, leaves, depth - 1))
        return ifelse(tt.lt(a, b), _expression(rng, leaves, depth - 1),
                      _expression(rng, leaves, depth - 1))
    a, b = _expression(rng, leaves, depth - 1), _expression(rng, leaves, depth - 1)
    return tt.switch(tt.lt(a, b), a, b * 0.5)


def _check(mode, seeds):
    for seed in seeds:
        x, y, s = tt.dvector("x"), tt.dvector("y"), tt.dscalar("s")
        out = _expression(random.Random(seed), [x, y, x * s, y + s], 4)
        cost = tt.sum(out) + tt.sum(tt.sqr(out)) * 0.1
        grads = th.grad(cost, [x, y, s], disconnected_inputs="ignore")
        values = np.random.default_rng(seed)
        args = [values.standard_normal(4), values.standard_normal(4), values.standard_normal()]
        want = th.function([x, y, s], [cost, *grads], mode="PY")(*args)
        got = th.function([x, y, s], [cost, *grads], mode=mode)(*args)
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11,
                                       err_msg=f"mode {mode}, seed {seed}, value {k}")


def test_random_branches_on_the_default_engine():
    _check("FAST_RUN", [0, 193, *range(1, 60)])


@pytest.mark.parametrize("mode, seeds", [("JAX", range(0, 60, 6)), ("NUMBA", [0, 193])])
def test_random_branches_on_the_compiling_engines(mode, seeds):
    pytest.importorskip("numba" if mode == "NUMBA" else "jax")
    _check(mode, seeds)
