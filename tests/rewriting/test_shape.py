"""The shape graph: ``f(x).shape`` answered from ``x``'s shape without computing ``f(x)``."""

import numpy as np
from rewrite_helpers import assert_same_values, compile_both, op_names

import theanine.tensor as tt
from theanine.tensor.shape import shape_i


def test_shape_of_computed_value_skips_the_computation():
    x = tt.dmatrix("x")
    y = tt.dvector("y")
    f, ref, counts = compile_both([x, y], (tt.exp(x) * y).shape)
    assert counts["shape_to_entries"] == 1 and counts["shape_i_lift"] >= 2
    names = op_names(f)
    assert "exp" not in names and "mul" not in names
    vals = [np.ones((4, 5)), np.ones(5)]
    assert_same_values(f, ref, vals)
    np.testing.assert_array_equal(f(*vals), [4, 5])


def test_shape_i_through_dot_and_static_sizes():
    a = tt.TensorType("float64", (None, 3))("a")
    b = tt.dmatrix("b")
    f, ref, counts = compile_both([a, b], [shape_i(tt.dot(a, b), 0), shape_i(tt.dot(a, b), 1)])
    assert counts["shape_i_lift"] >= 2
    assert "Dot" not in op_names(f)
    vals = [np.ones((2, 3)), np.ones((3, 7))]
    assert_same_values(f, ref, vals)
    assert [int(v) for v in f(*vals)] == [2, 7]
    fixed = tt.TensorType("float64", (2, 3))("fixed")
    f, _, _ = compile_both([fixed], tt.exp(fixed).shape)
    assert op_names(f) == []


def test_shape_of_an_input_is_left_alone():
    x = tt.dmatrix("x")
    f, ref, counts = compile_both([x], x.shape)
    assert counts["shape_to_entries"] == 0 and op_names(f) == ["Shape"]
    assert_same_values(f, ref, [np.ones((2, 3))])
