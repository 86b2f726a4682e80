"""The tutorial's logistic regression (examples/logreg.py) trains with ``th.grad``."""

import importlib.util
import pathlib

import numpy as np

import theanine as th

_PATH = pathlib.Path(__file__).resolve().parents[1] / "examples" / "logreg.py"


def _load():
    spec = importlib.util.spec_from_file_location("logreg_example", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_short_run_fits_the_training_data(capsys):
    accuracy = _load().main(["--steps", "1000"])
    out = capsys.readouterr().out
    assert "Initial model:" in out and "Final model:" in out
    assert "training accuracy after 1000 steps: 100.0%" in out
    assert accuracy == 1.0


def test_one_step_matches_numpy_gradient():
    logreg = _load()
    rng = np.random.default_rng(3)
    train, predict, w, b = logreg.build(rng)
    x = rng.standard_normal((logreg.N_SAMPLES, logreg.N_FEATURES))
    y = rng.integers(0, 2, size=logreg.N_SAMPLES).astype(float)
    w0, b0 = w.get_value(), float(b.get_value())
    pred, xent = train(x, y)
    z = x @ w0 + b0
    p = 1 / (1 + np.exp(-z))
    # the cross-entropy in its stable form: log(p) = -softplus(-z), log(1-p) = -softplus(z)
    np.testing.assert_allclose(xent, y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(pred, p > 0.5)
    gw = x.T @ (p - y) / len(y) + 0.02 * w0
    gb = np.mean(p - y)
    np.testing.assert_allclose(w.get_value(), w0 - 0.1 * gw, rtol=1e-10)
    np.testing.assert_allclose(b.get_value(), b0 - 0.1 * gb, rtol=1e-10)
    assert isinstance(predict, th.compile.Function)
