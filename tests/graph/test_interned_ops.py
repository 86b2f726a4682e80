"""Ops a graph holds by the thousand are interned: equal calls give one object."""

import pickle

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.op import InternedOp, Op
from theanine.tensor.elemwise import CAReduce, DimShuffle


def test_equal_arguments_and_equal_values_give_one_op():
    assert DimShuffle(1, ("x", 0)) is DimShuffle(1, ("x", 0))
    assert DimShuffle(1, ["x", 0]) is DimShuffle(1, ("x", 0))     # a list: by value
    assert CAReduce("sum", [0]) is CAReduce("sum", axis=(0,))
    assert CAReduce("sum", (0,)) is not CAReduce("sum", (1,))
    assert CAReduce("sum", (0,)) is not CAReduce("max", (0,))
    with pytest.raises(ValueError):
        DimShuffle(1, (0, 0))                                       # errors still raised
    with pytest.raises(ValueError):
        DimShuffle(1, (0, 0))


def test_a_gradient_shares_its_broadcast_ops():
    x = tt.dvector("x")
    w = th.shared(np.float64(0.5), name="w")
    c = x
    for _ in range(20):
        c = tt.tanh(c * w)
    g = th.grad(c.sum(), w)
    nodes = th.graph.basic.io_toposort([x, w], [g])
    for cls in (DimShuffle, CAReduce):
        ops = [n.op for n in nodes if type(n.op) is cls]
        assert len(ops) >= 20 and len({id(op) for op in ops}) == len(set(ops))


def test_pickled_ops_come_back_equal():
    op = DimShuffle(2, (1, "x", 0))
    back = pickle.loads(pickle.dumps(op))
    assert back == op and hash(back) == hash(op)


def test_unhashable_props_build_a_new_op_each_time():
    class Scaled(Op, metaclass=InternedOp):
        __props__ = ("factors",)

        def __init__(self, factors):
            self.factors = list(factors)

    assert Scaled((1, 2)) is not Scaled((1, 2))
    assert Scaled((1, 2)) == Scaled((1, 2))
