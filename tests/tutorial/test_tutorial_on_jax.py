"""The tutorial's programs, unchanged, with ``config.mode = "JAX"``: the page's
loops and conditions give the page's values on the JAX backend too (the logistic
regression and exercise 4 are in test_advanced_theano.py)."""

import numpy
import pytest

import theanine as theano
from theanine.link.jax import available

pytestmark = pytest.mark.skipif(not available(), reason="the JAX backend needs jax")

from test_advanced_theano import run_example  # noqa: E402


@pytest.fixture(autouse=True)
def jax_mode():
    with theano.config.change_flags(mode="JAX"):
        yield


def _on_jax(fn):
    assert type(fn.maker.linker).__name__ == "JAXLinker"


def test_ifelse_and_switch_on_jax(capsys):
    """The page names ``linker="vm"`` for these two; its graphs compiled for JAX."""
    env, _ = run_example("ifelse_switch.py", capsys)
    inputs = [env[k] for k in ("a", "b", "x", "y")]
    f_lazy = theano.function(inputs, env["z_lazy"], mode="JAX")
    f_switch = theano.function(inputs, env["z_switch"], mode="JAX")
    _on_jax(f_lazy)
    assert "_lax_cond" in f_lazy.source
    rng = numpy.random.default_rng(0)
    m1, m2 = rng.random((30, 20)), rng.random((30, 20))
    for a, b in ((0.0, 1.0), (1.0, 0.0)):
        lazy = f_lazy(a, b, m1, m2)
        assert f_switch(a, b, m1, m2) == pytest.approx(lazy, rel=1e-6)
        assert lazy == pytest.approx((m1 if a < b else m2).mean(), rel=1e-6)


def test_scan_examples_on_jax(capsys):
    env, out = run_example("scan_pow.py", capsys)
    assert " ".join(out.split()) == "[ 0. 1. 4. 9. 16. 25. 36. 49. 64. 81.]"
    _on_jax(env["power"])
    numpy.testing.assert_allclose(env["power"]([1.5, -2.0], 5), [1.5 ** 5, -32.0], rtol=1e-6)
    env, out = run_example("scan_poly.py", capsys)
    assert out.splitlines()[0] == "19.0"
    coeff = numpy.random.default_rng(1).standard_normal(7)
    assert env["calculate_polynomial"](coeff, 0.7) == pytest.approx(
        numpy.polyval(coeff[::-1], 0.7), rel=1e-5)
