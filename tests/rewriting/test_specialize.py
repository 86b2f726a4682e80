"""Specialize rules: powers and sum-of-products."""

import numpy as np
import pytest
from rewrite_helpers import assert_same_values, compile_both, op_names, random_values

import theanine.tensor as tt


@pytest.mark.parametrize("exponent, ops", [
    (2, ["sqr"]), (0.5, ["sqrt"]), (-1, ["reciprocal"]), (-0.5, ["sqrt", "true_div"]),
    (3, ["sqr", "mul"]), (4, ["sqr", "sqr"]), (5, ["sqr", "sqr", "mul"]),
    (-2, ["sqr", "true_div"]),
])
def test_pow_specialize(exponent, ops, rng):
    x = tt.dvector("x")
    f, ref, counts = compile_both([x], x ** exponent)
    assert counts["pow_specialize"] == 1
    assert sorted(op_names(f)) == sorted(ops)
    assert_same_values(f, ref, [rng.uniform(0.5, 2.0, 5)], rtol=1e-13)


def test_pow_specialize_negative_cases(rng):
    x = tt.dvector("x")
    for e in (2.5, 9, -9):
        f, _, counts = compile_both([x], x ** e)
        assert counts["pow_specialize"] == 0 and op_names(f) == ["pow"]
    y = tt.dvector("y")
    _, _, counts = compile_both([x, y], x ** y)
    assert counts["pow_specialize"] == 0
    i = tt.ivector("i")
    f, ref, counts = compile_both([i], i ** 0.5)          # float result of ints: kept
    assert counts["pow_specialize"] == 0 and op_names(f) == ["pow"]
    f, ref, counts = compile_both([i], i ** -1)           # integer reciprocal: kept
    assert counts["pow_specialize"] == 0
    f, ref, counts = compile_both([i], i ** 3)
    assert counts["pow_specialize"] == 1
    assert_same_values(f, ref, [np.arange(5, dtype="int32")])


def test_sum_of_product_becomes_dot(rng):
    x, y = tt.dvectors("x", "y")
    f, ref, counts = compile_both([x, y], tt.sum(x * y))
    assert counts["sum_mul_to_dot"] == 1 and op_names(f) == ["Dot"]
    assert_same_values(f, ref, random_values([x, y], rng), rtol=1e-12)
    a, b = tt.dmatrices("a", "b")
    _, _, counts = compile_both([a, b], tt.sum(a * b))   # matrices: no single dot
    assert counts["sum_mul_to_dot"] == 0
    p = x * y
    _, _, counts = compile_both([x, y], [tt.sum(p), p])  # product needed anyway
    assert counts["sum_mul_to_dot"] == 0
    one = tt.TensorType("float64", (1,))("one")
    _, _, counts = compile_both([one, y], tt.sum(one * y))  # broadcasting product
    assert counts["sum_mul_to_dot"] == 0


def test_sum_of_product_of_fusable_factors_stays_for_fusion(rng):
    """``mean(tanh(v) * exp(-v*v))`` (the tutorial's ifelse branch) is one fused
    reduction over ``v``, not ``dot(tanh(v), exp(-v*v))`` with a pass per factor."""
    v = tt.dvector("v")
    f, ref, counts = compile_both([v], tt.mean(tt.tanh(v) * tt.exp(-v * v)))
    assert counts["sum_mul_to_dot"] == 0
    assert "Dot" not in op_names(f)
    assert_same_values(f, ref, random_values([v], rng), rtol=1e-12)
    # a factor needed elsewhere is computed anyway: the dot is still the best plan
    x, y = tt.dvectors("x", "y")
    t = tt.tanh(x)
    f, ref, counts = compile_both([x, y], [tt.sum(t * y), t])
    assert counts["sum_mul_to_dot"] == 1 and "Dot" in op_names(f)
    assert_same_values(f, ref, random_values([x, y], rng), rtol=1e-12)


def test_dot_of_a_transposed_matrix_and_a_vector_drops_the_transpose(rng):
    a, v = tt.dmatrix("a"), tt.dvector("v")
    for expr in (tt.dot(a.T, v), tt.dot(v, a.T)):
        f, ref, counts = compile_both([a, v], expr)
        assert counts["dot_transposed_matrix_vector"] == 1
        assert "Transpose" not in op_names(f) and "DimShuffle" not in op_names(f)
        vals = [rng.normal(size=(4, 4)), rng.normal(size=4)]
        assert_same_values(f, ref, vals, rtol=1e-12)


def test_dot_transposed_rule_leaves_matrix_products_and_other_shuffles(rng):
    a, b = tt.dmatrices("a", "b")
    v = tt.dvector("v")
    t3 = tt.dtensor3("t3")
    for inputs, expr in (([a, b], tt.dot(a.T, b)),                  # matrix product
                         ([a, v], tt.dot(a, v)),                    # no transpose
                         ([v, b], tt.dot(v.dimshuffle("x", 0), b)),   # not a transpose
                         ([t3, v], tt.dot(t3.dimshuffle(2, 1, 0), v))):
        _, _, counts = compile_both(inputs, expr)
        assert counts["dot_transposed_matrix_vector"] == 0
