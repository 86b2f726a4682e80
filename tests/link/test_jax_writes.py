"""``set_subtensor``/``inc_subtensor`` on the JAX backend: a static box of the array
is written without a scatter (theanine/link/jax/writes.py), with NumPy's results."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt

jax = pytest.importorskip("jax", reason="the JAX backend needs the jax package")

S = slice
BOXES = [
    (2,), (-1,), (S(1, 3),), (S(None, None, -1),), (S(3, 0, -1), 2), (S(-2, None), S(1, 4)),
    (1, S(None, None, -1)), (S(0, 4),), (S(None), S(4, 1, -1)), (S(-10, 10),),
    (S(5, 10),), (S(2, 2), S(None)), (-4, -5),
]
SCATTERS = [(S(None, None, 2),), (S(3, None, -2), 1)]      # other steps keep the scatter


def _numpy_write(xv, yv, index, set_instead):
    out = xv.copy()
    if set_instead:
        out[index] = yv
    else:
        out[index] += yv
    return out


@pytest.mark.parametrize("set_instead", [True, False])
@pytest.mark.parametrize("index", BOXES + SCATTERS)
def test_writes_match_numpy(index, set_instead, rng):
    x = tt.dmatrix("x")
    xv = rng.standard_normal((4, 5))
    shape = xv[index].shape
    for y_shape in (shape, ()):        # a full update, and a scalar broadcast over it
        y = tt.TensorType("float64", (None,) * len(y_shape))("y")
        yv = rng.standard_normal(y_shape)
        write = tt.set_subtensor if set_instead else tt.inc_subtensor
        f = th.function([x, y], write(x[index], y), mode="JAX")
        np.testing.assert_allclose(f(xv, yv), _numpy_write(xv, yv, index, set_instead),
                                   rtol=1e-15, err_msg=str(index))
        hlo = f.fn.jitted.lower(xv, yv).as_text()
        assert ("scatter" in hlo) == (index in SCATTERS), (index, hlo)


def test_a_float32_array_keeps_its_dtype(rng):
    x = tt.fmatrix("x")
    y = tt.fvector("y")
    f = th.function([x, y], tt.inc_subtensor(x[1, 1:4], y), mode="JAX")
    xv, yv = rng.standard_normal((3, 5)).astype("float32"), np.ones(3, "float32")
    got = f(xv, yv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _numpy_write(xv, yv, (1, S(1, 4)), False))


def test_a_whole_array_increment_then_reversed_compiles():
    """XLA's CPU compiler aborted the process on a scatter covering the whole
    array followed by a reverse: the gradient of a backward scan with respect to its
    sequence has that form.  In a child process, so that a regression fails the test
    instead of ending the test run."""
    code = textwrap.dedent("""
        import numpy as np
        import theanine as th
        import theanine.tensor as tt
        x = tt.dmatrix("x")
        w = tt.dvector("w")
        out, _ = th.scan(lambda s, h, w: tt.tanh(h * w + s), sequences=x,
                         outputs_info=tt.zeros_like(w), non_sequences=w, go_backwards=True)
        g = th.grad(out[-2:].sum(), x)
        got = th.function([x, w], g, mode="JAX")(np.ones((5, 2)), np.full(2, 0.5))
        want = th.function([x, w], g, mode="PY")(np.ones((5, 2)), np.full(2, 0.5))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]
