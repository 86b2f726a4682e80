import numpy as np
import pytest

from theanine.link.fused import numexpr_engine as nx
from theanine.link.fused.numba_engine import numpy_eval
from theanine.link.fused.program import KernelProgram

pytestmark = pytest.mark.skipif(not nx.available(), reason="numexpr not installed")
F = "float64"


def test_expression_and_reduce():
    p = KernelProgram((("x", F), ("y", F)),
                      (("a", "mul", ("x", "x")), ("b", "neg", ("a",)), ("c", "exp", ("b",)),
                       ("d", "sin", ("y",)), ("e", "mul", ("c", "d")),
                       ("f", "maximum", ("e", 0.1)), ("g", "sigmoid", ("f",)),
                       ("h", "lt", ("x", "y")), ("i", "switch", ("h", "g", "x"))),
                      tuple((n, "bool" if n == "h" else F) for n in "abcdefghi"), ("i", "g"))
    k = nx.compile_program(p)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 40)), rng.standard_normal(40)
    for g, r in zip(k(x, y), numpy_eval(p, x, y)):
        np.testing.assert_allclose(g, r, rtol=1e-13)
    pr = KernelProgram(p.inputs, p.instructions, p.dtypes, ("g",), reduce=("sum", (1,)))
    np.testing.assert_allclose(nx.compile_program(pr)(x, y)[0], numpy_eval(pr, x, y)[0])


def test_not_expressible():
    p = KernelProgram((("x", "int64"),), (("a", "add", ("x", 1)),), (("a", "int64"),), ("a",))
    with pytest.raises(NotImplementedError):
        nx.compile_program(p)
    p = KernelProgram((("x", F),), (("a", "int_div", ("x", 2.0)),), (("a", F),), ("a",))
    with pytest.raises(NotImplementedError):
        nx.compile_program(p)
