"""Floats cast to integer types out of their range, NaN and infinities: every engine
gives what NumPy gives for arrays on this CPU (on x86 a wrapped conversion, not
XLA's or LLVM's saturated or undefined one)."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt

VALUES = np.array([1.7, -2.5, 300.7, -300.2, 3e9, -3e9, 1e30, np.nan, np.inf, -np.inf, 5e9,
                   2.0 ** 32 + 0.5, 2.0 ** 65, -1.0, 2.0 ** 63, 2.0 ** 64 - 4096,
                   -(2.0 ** 63) - 4096, 2.0 ** 31, -(2.0 ** 31), 2.0 ** 31 - 0.5, 70000.5])
INTEGERS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("source", ["float64", "float32"])
@pytest.mark.parametrize("mode", ["NUMBA", "JAX"])
def test_out_of_range_casts_are_numpys(mode, source):
    pytest.importorskip("numba" if mode == "NUMBA" else "jax")
    x = tt.TensorType(source, (None,))("x")
    values = VALUES.astype(source)
    for dtype in INTEGERS:
        want = th.function([x], tt.cast(x, dtype))(values)
        got = th.function([x], tt.cast(x, dtype), mode=mode)(values)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want, err_msg=f"{source} -> {dtype} on {mode}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_default_engines_fused_kernels_cast_as_numpy():
    """A fused node over a large array runs the native kernel, whose casts are the
    same code as the NUMBA backend's."""
    pytest.importorskip("numba")
    from theanine.link.python.dispatch_fused import wait_for_kernels

    x = tt.dvector("x")
    values = np.tile(VALUES, 1000)
    for dtype in INTEGERS:
        f = th.function([x], tt.cast(tt.maximum(x, -1e300), dtype))
        f(values)
        wait_for_kernels()
        np.testing.assert_array_equal(f(values), np.maximum(values, -1e300).astype(dtype),
                                      err_msg=dtype)
