"""NanGuardMode names the first node producing NaN/Inf/huge values and its line."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.debug import NanGuardError, NanGuardMode


def test_first_nan_producer_is_named_with_its_line():
    x = tt.dvector("x")
    y = tt.log(x)  # produces NaN for negative input
    z = y * 2
    f = th.function([x], z, mode=NanGuardMode())
    np.testing.assert_allclose(f([1.0]), [0.0])
    with pytest.raises(NanGuardError) as info:
        f([-1.0])
    text = str(info.value)
    assert "log" in text and "NaN" in text and "produces NaN for negative input" in text


def test_inf_and_big_values():
    x = tt.dvector("x")
    f = th.function([x], 1 / x, mode=NanGuardMode())
    with pytest.raises(NanGuardError, match="Inf"):
        f([0.0])
    g = th.function([x], x * 1e12, mode=NanGuardMode())
    with pytest.raises(NanGuardError, match="larger than"):
        g([1.0])
    h = th.function([x], x * 1e12, mode=NanGuardMode(big_is_error=False))
    assert h([1.0])[0] == 1e12


def test_mode_by_name():
    x = tt.dvector("x")
    f = th.function([x], tt.sqrt(x), mode="NanGuardMode")
    with pytest.raises(NanGuardError):
        f([-4.0])
