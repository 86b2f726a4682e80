"""Which loops the NUMBA backend writes for elementwise nodes and fused reductions:
one flat loop where nothing can broadcast, a nested loop only where operands can."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.link.numba.nodes import node_functions
from theanine.tensor.type import TensorType

pytest.importorskip("numba")
NUMBA = th.Mode(linker="numba")


def _sources(fn) -> str:
    thunks, _ = node_functions(fn.maker.fgraph)
    return "\n".join(f.source for f in thunks.values())


def _check(inputs, out, *arrays):
    fn = th.function(inputs, out, mode=NUMBA)
    want = th.function(inputs, out, mode="PY")(*arrays)
    np.testing.assert_allclose(fn(*arrays), want, rtol=1e-12)
    return fn


def test_one_array_operand_runs_flat_even_when_strided():
    x = tt.dtensor3("x")
    fn = _check([x], tt.exp(x) + 1, np.random.rand(3, 4, 5)[:, ::-1, ::2])
    src = _sources(fn)
    assert "for i0 in range" not in src           # no nested broadcasting loop
    assert "_ascontiguous(a0)" in src


def test_an_operand_of_size_one_everywhere_is_read_as_a_scalar():
    x = tt.dtensor3("x")
    c = TensorType("float64", (True, True, True))("c")
    fn = _check([x, c], tt.exp(x) * c, np.random.rand(2, 3, 4), np.full((1, 1, 1), 3.0))
    src = _sources(fn)
    assert "a1 = p1[0, 0, 0]" in src and "for i0 in range" not in src
    with pytest.raises(ValueError):
        fn(np.ones((2, 3, 4)), np.ones((2, 1, 1)))


def test_two_array_operands_keep_the_broadcasting_loop():
    x, y = tt.dtensor3("x"), tt.dtensor3("y")
    fn = _check([x, y], tt.exp(x) * y, np.random.rand(2, 3, 4), np.random.rand(2, 1, 4))
    assert "for i0 in range" in _sources(fn)


def test_a_full_reduction_of_one_operand_needs_no_general_path():
    x = tt.dtensor3("x")
    fn = _check([x], tt.sum(tt.sqr(x)), np.random.rand(4, 3, 5)[::2, :, ::-1])
    src = _sources(fn)
    assert "def fused_reduce" in src and "reduce(elem(" not in src


def test_a_full_reduction_of_two_operands_keeps_it_for_broadcasting():
    x, y = tt.dmatrices("x", "y")
    fn = _check([x, y], tt.sum(tt.exp(x) * y), np.random.rand(3, 4), np.random.rand(1, 4))
    assert "reduce(elem(" in _sources(fn)
