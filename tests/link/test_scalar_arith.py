"""0-d float64 ``+ - *`` run as Python float arithmetic in the generated code."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt

SPECIAL = [1.5, -0.0, 0.0, np.inf, -np.inf, np.nan, 1e308, -1e-320]


@pytest.mark.parametrize("build, ref", [
    (lambda x, y: x + y, np.add),
    (lambda x, y: x - y, np.subtract),
    (lambda x, y: x * y, np.multiply),
    (lambda x, y: -x, lambda a, b: np.negative(a)),
])
def test_matches_numpy_on_special_values(build, ref):
    x, y = tt.dscalars("x", "y")
    f = th.function([x, y], build(x, y), on_unused_input="ignore")
    assert "float(x)" in f.source
    for a in SPECIAL:
        for b in SPECIAL:
            got = f(a, b)
            with np.errstate(all="ignore"):
                want = ref(np.array(a), np.array(b))
            assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == ()
            np.testing.assert_array_equal(got, want)
            assert np.signbit(got) == np.signbit(want), (a, b)


def test_constant_operand_and_result_is_a_fresh_array():
    x = tt.dscalar("x")
    f = th.function([x], x + 1)
    assert "_array(float(x) + _c" in f.source
    v = np.array(2.0)
    out = f(v)
    assert out == 3.0 and out is not v and not np.shares_memory(out, v)
    assert v == 2.0


def test_other_dtypes_keep_the_ufunc():
    for ctor in (tt.fscalar, tt.lscalar):
        x = ctor("x")
        f = th.function([x], x + x)
        assert "float(" not in f.source
        assert f(3).dtype == x.dtype
