"""Bad scan input: clear errors naming the scan, the output or sequence, and the user line."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.scan import ScanError

THIS_FILE = __file__.rsplit("/", 1)[-1]


def test_initial_state_dtype_mismatch_names_output_and_cast():
    x0 = tt.fvector("x0")
    with pytest.raises(ScanError) as err:
        th.scan(lambda h: h * np.float64(2.0) + tt.dscalar("k"), outputs_info=x0, n_steps=3,
                name="doubler")
    msg = str(err.value)
    assert "'doubler'" in msg and "output 0" in msg and "float64" in msg and "float32" in msg
    assert "cast" in msg and THIS_FILE in msg


def test_initial_state_ndim_mismatch():
    with pytest.raises(ScanError, match="output 0 of fn has 2 dims"):
        th.scan(lambda h: tt.outer(h, h) if hasattr(tt, "outer") else
                tt.dot(h.dimshuffle(0, "x"), h.dimshuffle("x", 0)),
                outputs_info=tt.dvector("h0"), n_steps=2)


def test_taps_need_more_initial_steps_static_and_at_run_time():
    with pytest.raises(ScanError, match="need 3 initial steps.*has 2"):
        th.scan(lambda a, b: a + b, outputs_info=dict(initial=tt.constant(np.zeros((2, 2))),
                                                      taps=[-3, -1]), n_steps=2)
    init = tt.dmatrix("init")
    out, _ = th.scan(lambda a, b: a + b, outputs_info=dict(initial=init, taps=[-3, -1]),
                     n_steps=2, name="fib")
    for mode in ("FAST_RUN", "PY"):
        f = th.function([init], out, mode=mode)
        with pytest.raises(ValueError, match="'fib'.*need 3 initial steps.*has 2") as err:
            f(np.zeros((2, 2)))
        assert THIS_FILE in str(err.value)


def test_sequence_shorter_than_n_steps():
    x, n = tt.dvector("x"), tt.lscalar("n")
    out, _ = th.scan(lambda v: v * 2, sequences=x, n_steps=n, name="short")
    for mode in ("FAST_RUN", "PY"):
        f = th.function([x, n], out, mode=mode)
        with pytest.raises(ValueError, match="'short': sequence 0 has 3 steps but n_steps=5"):
            f(np.ones(3), 5)


def test_negative_n_steps():
    with pytest.raises(ScanError, match="n_steps=-2 is negative"):
        th.scan(lambda h: h + 1, outputs_info=tt.dscalar("h"), n_steps=-2)
    n = tt.lscalar("n")
    out, _ = th.scan(lambda h: h + 1, outputs_info=tt.dscalar("h0"), n_steps=n, name="neg")
    h0 = out.owner.inputs[1].owner.inputs[0]
    f = th.function([h0, n], out)
    with pytest.raises(ValueError, match="'neg': n_steps=-1 is negative") as err:
        f(0.0, -1)
    assert THIS_FILE in str(err.value)


def test_fn_returns_wrong_number_of_outputs():
    with pytest.raises(ScanError, match="fn returned 2 output.*outputs_info has 1") as err:
        th.scan(lambda h: (h + 1, h * 2), outputs_info=tt.dscalar("h"), n_steps=2)
    assert THIS_FILE in str(err.value)


def test_recurrent_output_changing_shape_at_run_time():
    h0, v = tt.dvector("h0"), tt.dvector("v")
    out, _ = th.scan(lambda h, v: h * v, outputs_info=h0, non_sequences=v, n_steps=2,
                     name="grow")
    for mode in ("FAST_RUN", "PY"):
        f = th.function([h0, v], out, mode=mode)
        with pytest.raises(ValueError, match="'grow'.*output 0 of shape \\(3,\\).*\\(1,\\)"):
            f(np.ones(1), np.ones(3))


def test_error_inside_the_body_names_inner_node_step_and_scan():
    x = tt.dmatrix("x")
    w = tt.dmatrix("w")
    out, _ = th.scan(lambda row, w: tt.dot(w, row), sequences=x, non_sequences=w,
                     name="proj")
    f = th.function([x, w], out)
    with pytest.raises(ValueError) as err:
        f(np.ones((3, 2)), np.ones((2, 5)))
    msg = str(err.value)
    assert "in scan 'proj' at step 0" in msg and "Dot" in msg and THIS_FILE in msg
