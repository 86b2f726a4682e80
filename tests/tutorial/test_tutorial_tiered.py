"""The tutorial's logistic regression with tiered execution forced to switch after
its first call: the same training as the default engine alone."""

import numpy
import pytest

import theanine as theano

pytest.importorskip("numba", reason="tiered execution needs numba")

from test_advanced_theano import run_steps, tutorial_logreg  # noqa: E402


def test_the_tutorial_trains_the_same_with_the_swap_forced_early():
    with theano.config.change_flags(tiered=True, tiered__calls=1, tiered__seconds=0.0):
        model = tutorial_logreg()
        model["train"](*model["D"])
        thread = getattr(model["train"].tiering, "thread", None)
        if thread is not None:
            thread.join(300)
        tiered = run_steps(model, 5)
    default = run_steps(tutorial_logreg(), 6)
    train = model["train"].tiering
    assert train.state in ("numba", "default") and train.reason, train.reason
    numpy.testing.assert_allclose(tiered[1], default[1], rtol=1e-10)
    assert tiered[2] == pytest.approx(default[2], rel=1e-10)
    numpy.testing.assert_array_equal(tiered[3], default[3])
