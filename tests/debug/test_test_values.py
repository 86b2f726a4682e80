"""compute_test_value: errors at the user's line while the graph is built."""

import warnings

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.utils import TestValueError
from theanine.ifelse import ifelse


@pytest.fixture
def raise_mode():
    with th.config.change_flags(compute_test_value="raise"):
        yield


def test_shape_error_at_build_time_names_both_shapes_and_line(raise_mode):
    x = tt.dmatrix("x")
    x.tag.test_value = np.random.rand(5, 10)
    w = tt.dmatrix("w")
    w.tag.test_value = np.random.rand(7, 3)
    with pytest.raises(ValueError) as info:
        tt.dot(x, w)  # the offending line
    text = str(info.value)
    assert "(5, 10)" in text and "(7, 3)" in text
    assert "test_test_values.py" in text and "the offending line" in text


def test_values_flow_through_ops_constants_and_shared(raise_mode):
    x = tt.dvector("x")
    x.tag.test_value = np.array([1.0, 2.0, 3.0])
    s = th.shared(np.array([10.0, 20.0, 30.0]))
    y = (x * 2 + s)[1:] .sum()
    assert y.tag.test_value == pytest.approx(4 + 20 + 6 + 30)


def test_missing_value_policies():
    x = tt.dvector("x")
    with th.config.change_flags(compute_test_value="raise"):
        with pytest.raises(TestValueError, match="x.tag.test_value"):
            x + 1
    with th.config.change_flags(compute_test_value="warn"):
        with pytest.warns(UserWarning, match="no test value"):
            y = x + 1
        assert not hasattr(y.tag, "test_value")
    with th.config.change_flags(compute_test_value="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = x + 1
        assert not hasattr(y.tag, "test_value")


def test_off_by_default_computes_nothing():
    x = tt.dvector("x")
    x.tag.test_value = np.ones(2)
    assert not hasattr((x + 1).tag, "test_value")


def test_ifelse_branches_get_test_values(raise_mode):
    c = tt.iscalar("c")
    c.tag.test_value = np.array(0, dtype="int32")
    x = tt.dvector("x")
    x.tag.test_value = np.array([1.0, 2.0])
    out = ifelse(c, x * 2, x * 3)
    np.testing.assert_allclose(out.tag.test_value, [3.0, 6.0])


def test_print_test_value_in_repr(raise_mode):
    x = tt.dvector("x")
    x.tag.test_value = np.array([1.0, 2.0])
    with th.config.change_flags(print_test_value=True):
        assert "array([1., 2.])" in repr(x + 0)


def test_test_value_is_converted_to_the_type(raise_mode):
    x = tt.fvector("x")
    x.tag.test_value = [1, 2]
    y = x * 2
    assert y.tag.test_value.dtype == np.float32


def test_shape_error_inside_a_scan_body_points_at_the_body_line(raise_mode):
    seq = tt.dmatrix("seq")
    seq.tag.test_value = np.ones((4, 3))
    w = tt.dmatrix("w")
    w.tag.test_value = np.ones((5, 2))

    def step(row, w):
        return tt.dot(row, w)  # the body's bad line

    with pytest.raises(ValueError) as info:
        th.scan(step, sequences=[seq], non_sequences=[w])
    assert "the body's bad line" in str(info.value)
