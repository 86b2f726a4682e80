"""Python numbers next to tensors: reused constant data must not change meaning."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt


def test_equal_numbers_give_distinct_constants_with_the_right_dtype():
    x = tt.fvector("x")
    a, b = x * 2.5, x * 2.5
    ca, cb = a.owner.inputs[1], b.owner.inputs[1]
    assert ca is not cb and ca.type == cb.type
    assert ca.dtype == "float32" and ca.data.shape == (1,) and float(ca.data[0]) == 2.5
    ca.name = "two_and_a_half"
    assert cb.name is None
    d = tt.dvector("d") * 2.5
    assert d.owner.inputs[1].dtype == "float64"


def test_signed_zero_and_nan_keep_their_values():
    x = tt.dvector("x")
    f = th.function([x], [x * -0.0, x * 0.0, x + np.nan])
    neg, pos, nan = f(np.array([1.0]))
    assert np.signbit(neg[0]) and not np.signbit(pos[0]) and np.isnan(nan[0])


def test_integers_still_check_their_range():
    x = tt.bvector("x")
    assert (x + 3).dtype == "int8"
    assert (x + 3).owner.inputs[1].dtype == "int8"
    with pytest.raises(OverflowError, match="does not fit"):
        x + 1000
    f = th.function([x], (x + 3) * 2)
    np.testing.assert_array_equal(f(np.array([1, 2], dtype="int8")),
                                  (np.array([1, 2], dtype="int8") + 3) * 2)
