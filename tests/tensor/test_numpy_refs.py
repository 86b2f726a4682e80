"""The NumPy references of sigmoid and softplus: exact on both tails, no overflow
warnings, dtypes as the op declares them."""

import warnings

import numpy as np
import pytest
import scipy.special as sp

from theanine.scalar import basic as ts

EDGES = [-np.inf, -800.0, -720.0, -40.0, -1e-300, -0.0, 0.0, 1e-300, 1.0, 40.0, 800.0,
         np.inf, np.nan]
NAN_AT = len(EDGES) - 1


def _against_float64(op, reference, dtype, rng):
    """``op``'s reference on edge and wide random inputs: no warning, the input
    dtype kept, within 4 eps of ``reference`` evaluated in float64."""
    x = np.concatenate([np.array(EDGES), rng.normal(size=10_000) * 30]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = op.impl(x)
    assert got.dtype == dtype
    with np.errstate(invalid="ignore"):                # NaN input: logaddexp warns
        want = reference(x.astype("float64"))
    finite = np.isfinite(want) & (want > np.finfo(dtype).tiny)
    np.testing.assert_allclose(got[finite], want[finite].astype(dtype),
                               rtol=4 * np.finfo(dtype).eps)
    assert np.isnan(got[NAN_AT])
    return got


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_reference(dtype, rng):
    got = _against_float64(ts.sigmoid, sp.expit, dtype, rng)
    assert got[0] == 0 and got[11] == 1
    assert ts.sigmoid.impl(np.float64(-2.0)) == pytest.approx(sp.expit(-2.0), rel=1e-15)
    assert ts.sigmoid.impl(np.arange(3, dtype="int8")).dtype == sp.expit(np.int8(1)).dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softplus_reference(dtype, rng):
    got = _against_float64(ts.softplus, lambda v: np.logaddexp(0.0, v), dtype, rng)
    assert got[0] == 0 and got[11] == np.inf
    assert ts.softplus.impl(np.float64(3.0)) == pytest.approx(np.logaddexp(0, 3.0), rel=1e-15)
    assert ts.softplus.impl(np.arange(3, dtype="int16")).dtype == \
        np.logaddexp(np.int16(0), np.int16(1)).dtype
