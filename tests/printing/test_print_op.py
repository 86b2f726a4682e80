"""``theano.printing.Print``: prints the value when the function runs, returns it."""

import numpy as np
import pytest
from op_checker import OpCase, check_case

import theanine as th
import theanine.tensor as tt
from theanine.link import jax as jax_backend
from theanine.printing import Print

MODES = [None, "JAX"] if jax_backend.available() else [None]


@pytest.mark.parametrize("mode", MODES)
def test_print_shows_the_value_and_keeps_it(mode, capsys):
    x = tt.dvector("x")
    y = Print("y is", attrs=("__str__", "shape", "sum"))(x * 2)
    f = th.function([x], (y + 1).sum(), mode=mode)
    assert f(np.arange(3.0)) == 9.0
    assert "y is __str__ = [0. 2. 4.] shape = (3,) sum = 6.0" in capsys.readouterr().out
    g = th.function([x], th.grad((y ** 2).sum(), x), mode=mode)
    np.testing.assert_allclose(g(np.arange(3.0)), [0.0, 8.0, 16.0])


def test_global_fn_receives_the_op_and_the_value():
    seen = []
    x = tt.dvector("x")
    f = th.function([x], Print("m", global_fn=lambda op, v: seen.append((op.message,
                                                                          v.tolist())))(x))
    f(np.array([1.0, 2.0]))
    assert seen == [("m", [1.0, 2.0])]


PRINT = OpCase("print", lambda x: Print("checked", attrs=("shape",))(x), lambda x: x, nin=1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_print_op_checked(dtype, capsys):
    assert check_case(PRINT, dtype, quick=True)["values"] > 0
    assert "checked shape" in capsys.readouterr().out
