"""Node functions written in place in whole Numba functions (``link/numba/inline.py``)."""

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.link.numba.inline import inline_statements

NUMBA = th.Mode(linker="numba")


def _run(lines, env):
    exec("\n".join(lines), env)
    return env


def test_straight_line_body_runs_in_place_with_its_own_locals():
    src = "def f(x, n):\n    out = x * n\n    x = out + 1\n    return x, out\n"
    lines = inline_statements(src, ["v0", "v1"], "v2, v3,", "_n7")
    assert lines is not None
    env = _run(lines, {"v0": 2.0, "v1": 3.0, "out": "caller's", "x": "caller's"})
    assert (env["v2"], env["v3"]) == (7.0, 6.0)
    assert env["v0"] == 2.0 and env["out"] == "caller's" and env["x"] == "caller's"


def test_branches_and_loops_in_a_body_are_kept():
    src = ("def g(a):\n    acc = 0\n    for i in range(a):\n        if i % 2:\n"
           "            acc += i\n    if acc > 100:\n        raise ValueError('big')\n"
           "    return acc\n")
    lines = inline_statements(src, ["v5"], "v6", "_n1")
    assert _run(lines, {"v5": 6})["v6"] == 1 + 3 + 5


def test_bodies_that_cannot_be_written_in_place_are_refused():
    early = "def f(x):\n    if x:\n        return 1\n    return 2\n"
    nested = "def f(x):\n    def g(y):\n        return y\n    return g(x)\n"
    helpers = "def h(x):\n    return x\n\ndef f(x):\n    return h(x)\n"
    defaults = "def f(x, y=1):\n    return x + y\n"
    for src in (early, nested, helpers, defaults):
        assert inline_statements(src, ["v0"], "v1", "_n0") is None
    assert inline_statements("def f(x, y):\n    return x\n", ["v0"], "v1", "_n0") is None


def test_shape_nodes_are_written_into_the_whole_function_and_elementwise_loops_called():
    x = tt.dmatrix("x")
    out = tt.exp(x) * x.shape[1]
    fn = th.function([x], out, mode=NUMBA)
    value = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(fn(value), np.exp(value) * 3)
    main = fn.fn.source.split("# compiled by numba.njit")[1]
    assert ".shape[1]" in main                      # the Shape_i body, in place
    assert "_f" in main                             # the elementwise loop: a call
