"""ulp accuracy of the vectorizable math against long-double references, and a
vectorization check (timing ratio against a scalar libm loop)."""

import re

import numba
import numpy as np
import pytest

from theanine.link.fused import vecmath as vm

L = np.longdouble
pytestmark = pytest.mark.skipif(np.finfo(L).nmant < 63, reason="needs 80-bit long double")

REFS = {
    "exp": lambda x: np.exp(x), "expm1": lambda x: np.expm1(x), "log": lambda x: np.log(x),
    "log1p": lambda x: np.log1p(x), "sin": lambda x: np.sin(x), "cos": lambda x: np.cos(x),
    "tanh": lambda x: np.tanh(x), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(L(0), x),
}
# documented bounds (measured maxima in the vecmath docstring, plus margin)
BOUND64 = {"exp": 1.0, "expm1": 1.5, "log": 1.0, "log1p": 1.5, "sin": 1.0, "cos": 1.0,
           "tanh": 2.0, "sigmoid": 2.0, "softplus": 2.0}


@numba.njit
def _apply(f, x, out):
    for i in range(x.size):
        out[i] = f(x[i])


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    parts = [rng.standard_normal(20000) * s
             for s in (1e-300, 1e-20, 1e-8, 1e-3, 0.1, 1, 3, 10, 50, 300, 1e4, 9e5, 1e9)]
    parts.append(rng.uniform(-750, 750, 20000))
    parts.append(np.ldexp(rng.uniform(-1, 1, 20000), rng.integers(-1074, 1024, 20000)))
    parts.append(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 709.78,
                           709.79, -745.13, -745.14, -1.0, -1 + 1e-16, 1e300, -1e300, 22.0,
                           -22.0, 37.0, -37.0, 40.0, -40.0, 1e6, -1e6, 2.2250738585072014e-308]))
    return np.concatenate(parts)


def _ulps(got, ref, dt):
    finite = np.isfinite(ref.astype(dt))
    sp = np.spacing(np.abs(ref[finite].astype(dt))).astype(L)
    return np.abs((got[finite].astype(L) - ref[finite]) / sp).astype(float), finite


@pytest.mark.parametrize("name", sorted(vm.FUNCS))
def test_ulps_and_specials(name):
    f32, f64 = vm.FUNCS_NI[name]        # same code as the inlined versions, cheap to call
    x = _inputs()
    y = np.empty_like(x)
    _apply(f64, x, y)
    with np.errstate(all="ignore"):
        ref = REFS[name](x.astype(L))
        u, finite = _ulps(y, ref, np.float64)
        assert u.max() <= BOUND64[name], (name, u.max(), x[finite][np.argmax(u)])
        # non-finite results and signed zeros exactly like the reference
        rf = ref.astype(np.float64)
        nf = ~np.isfinite(rf)
        np.testing.assert_array_equal(y[nf], rf[nf])
        z = np.array([0.0, -0.0])
        yz = np.empty(2)
        _apply(f64, z, yz)
        np.testing.assert_array_equal(np.signbit(yz), np.signbit(REFS[name](z.astype(L))))
        # float32
        x32 = x.astype(np.float32)
        y32 = np.empty_like(x32)
        _apply(f32, x32, y32)
        ref32 = REFS[name](x32.astype(L))
        u32, _ = _ulps(y32, ref32, np.float32)
        assert u32.max() <= 1.0, (name, u32.max())


@numba.njit
def _vec_exp(x, out):
    for i in range(x.size):
        out[i] = vm.exp_f64(x[i])


@numba.njit
def _libm_exp(x, out):
    for i in range(x.size):
        out[i] = np.exp(x[i])


def test_exp_vectorizes():
    """The compiled loop uses SIMD vectors of doubles (checked in the LLVM IR, not by
    timing: the speed itself is measured in benchmarks/fused_kernels.py)."""
    x = np.random.default_rng(1).standard_normal(1000) * 5
    out = np.empty_like(x)
    _vec_exp(x, out)
    _libm_exp(x, out)
    vec_ir = "".join(_vec_exp.inspect_llvm().values())
    libm_ir = "".join(_libm_exp.inspect_llvm().values())
    assert re.search(r"<\d+ x double>", vec_ir)
    assert "exp" in libm_ir
