"""BLAS products of the Numba backend (``link/numba/blas_kernels.py``) on every
operand layout: row-major, column-major (read through BLAS's transpose flag),
row and column gaps, a broadcast (zero-stride) axis and reversed rows (copied
first), degenerate and empty shapes, and ``beta == 0`` leaving the result unread."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

pytest.importorskip("numba")

from theanine.link.numba.blas_kernels import gemm_into, gemv_into  # noqa: E402


def _layouts(rng, m, k, dtype):
    x = rng.standard_normal((m, k)).astype(dtype)
    big = rng.standard_normal((2 * m + 1, 3 * k + 2)).astype(dtype)
    return {
        "C": x,
        "F": np.asfortranarray(x),
        "gaps": big[1:1 + m, 2:2 + k],
        "steps": big[::2, ::3][:m, :k],
        "broadcast": as_strided(x[:1].copy(), (m, k), (0, x.itemsize)),
        "reversed": x[::-1],
        "F-gaps": np.asfortranarray(big)[1:1 + m, :k],
    }


SHAPES = [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1), (0, 3, 2), (3, 0, 2),
          (7, 9, 6)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_gemm_into_reads_every_layout(m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    for a_name, a in _layouts(rng, m, k, np.float64).items():
        for b_name, b in _layouts(rng, k, n, np.float64).items():
            for beta in (0.0, 0.5):
                c0 = rng.standard_normal((m, n))
                c = np.full((m, n), np.nan) if beta == 0 else c0.copy()
                out = gemm_into(1.5, a, b, beta, c)
                expected = 1.5 * (a @ b) + (beta * c0 if beta else 0.0)
                assert out is c
                np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12,
                                           err_msg=f"{a_name} @ {b_name}, beta {beta}")


@pytest.mark.parametrize("m,n", [(3, 4), (1, 4), (3, 1), (0, 2), (3, 0), (9, 7)])
def test_gemv_into_reads_every_layout(m, n):
    rng = np.random.default_rng(m * 10 + n)
    xs = {"contiguous": rng.standard_normal(n),
          "strided": rng.standard_normal(2 * n + 1)[::2][:n]}
    for a_name, a in _layouts(rng, m, n, np.float64).items():
        for x_name, x in xs.items():
            for beta in (0.0, 0.5):
                y0 = rng.standard_normal(m)
                y = np.full(m, np.nan) if beta == 0 else y0.copy()
                out = gemv_into(2.0, a, x, beta, y)
                assert out is y
                np.testing.assert_allclose(y, 2.0 * (a @ x) + (beta * y0 if beta else 0.0),
                                           rtol=1e-12, atol=1e-12,
                                           err_msg=f"{a_name} @ {x_name}, beta {beta}")


def test_float32_products():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 5)).astype(np.float32)
    b = np.asfortranarray(rng.standard_normal((5, 4)).astype(np.float32))
    c = np.empty((6, 4), np.float32)
    gemm_into(np.float32(1), a, b, np.float32(0), c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)
    y = np.ones(6, np.float32)
    gemv_into(np.float32(1), a, b[:, 0], np.float32(2), y)
    np.testing.assert_allclose(y, a @ b[:, 0] + 2, rtol=1e-5, atol=1e-5)


def test_mismatched_shapes_and_layouts_raise():
    with pytest.raises(ValueError, match="shapes do not match"):
        gemm_into(1.0, np.ones((2, 3)), np.ones((4, 2)), 0.0, np.empty((2, 2)))
    with pytest.raises(ValueError, match="shapes do not match"):
        gemv_into(1.0, np.ones((2, 3)), np.ones(4), 0.0, np.empty(2))
    with pytest.raises(ValueError, match="C-contiguous"):
        gemm_into(1.0, np.ones((2, 3)), np.ones((3, 2)), 0.0, np.empty((2, 2), order="F"))


FALLBACK_SCRIPT = """
import numpy as np
import theanine as th, theanine.tensor as tt
from theanine.link.numba import blas_kernels
assert blas_kernels.NUMPY_CBLAS is {expected}
rng = np.random.default_rng(0)
a, b, z = rng.standard_normal((4, 3)), rng.standard_normal((5, 4)), rng.standard_normal((3, 5))
x, y = tt.dmatrix(), tt.dmatrix()
f = th.function([x, y], [tt.dot(x.T, y.T), tt.dot(x.T, y[0])], mode="NUMBA")
got = f(a, b)
np.testing.assert_allclose(got[0], a.T @ b.T, rtol=1e-12)
np.testing.assert_allclose(got[1], a.T @ b[0], rtol=1e-12)
c = np.empty((3, 5))
blas_kernels.gemm_into(2.0, a.T, b.T, 0.0, c)
np.testing.assert_allclose(c, 2 * a.T @ b.T, rtol=1e-12)
print("ok")
"""


@pytest.mark.parametrize("numpy_blas", [True, False])
def test_either_blas_in_a_fresh_process(tmp_path, numpy_blas):
    """``config.numba__numpy_blas`` off (or a NumPy without CBLAS exports) falls back to
    SciPy's BLAS; machine code cached for one is never loaded for the other."""
    import os
    import subprocess
    import sys

    from theanine.link.numba.numpy_blas import register_numpy_cblas
    expected = numpy_blas and register_numpy_cblas()
    env = dict(os.environ, THEANINE_FLAGS=f"compiledir={tmp_path},"
               f"numba__numpy_blas={numpy_blas}")
    out = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT.format(expected=expected)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
