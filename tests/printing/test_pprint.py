"""pprint: math-like text with the parentheses precedence needs, and no more."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.ifelse import ifelse
from theanine.printing import atom, call, pp, pprint, register_pprint


@pytest.fixture
def abc():
    return tt.dscalars("a", "b", "c")


def test_tutorial_prediction():
    x = tt.matrix("x")
    w = th.shared(np.zeros(3), name="w")
    b = th.shared(0.0, name="b")
    prediction = 1 / (1 + tt.exp(-tt.dot(x, w) - b)) > 0.5
    assert pprint(prediction) == "gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)"
    assert th.pp is pp and th.printing.pprint is pprint


@pytest.mark.parametrize("build, text", [
    (lambda a, b, c: a - (b - c), "a - (b - c)"),
    (lambda a, b, c: (a - b) - c, "a - b - c"),
    (lambda a, b, c: a + (b + c), "a + b + c"),
    (lambda a, b, c: a / (b * c), "a / (b * c)"),
    (lambda a, b, c: a * (b + c) / c, "a * (b + c) / c"),
    (lambda a, b, c: a ** b ** c, "a ** b ** c"),
    (lambda a, b, c: (a ** b) ** c, "(a ** b) ** c"),
    (lambda a, b, c: -a ** 2, "-a ** 2"),
    (lambda a, b, c: (-a) ** 2, "(-a) ** 2"),
    (lambda a, b, c: tt.neg(-a), "-(-a)"),
    (lambda a, b, c: tt.exp(a + b) * c, "exp(a + b) * c"),
    (lambda a, b, c: tt.maximum(a, b * c), "maximum(a, b * c)"),
    (lambda a, b, c: (a < b) & (c > a), "lt(a, b) & gt(c, a)"),
])
def test_precedence(abc, build, text):
    assert pprint(build(*abc)) == text


def test_text_evaluates_like_the_graph(abc):
    """The printed text, read back as Python, computes what the graph computes."""
    rng = np.random.default_rng(3)
    a, b, c = abc
    leaves = [a, b, c]
    binary = [tt.add, tt.sub, tt.mul, tt.true_div]
    for _ in range(60):
        exprs = list(leaves)
        for _ in range(5):
            pick = rng.integers(0, 5)
            left = exprs[rng.integers(len(exprs))]
            right = exprs[rng.integers(len(exprs))]
            exprs.append(-left if pick == 4 else binary[pick](left, right))
        out = exprs[-1]
        values = {"a": 1.3, "b": -0.7, "c": 2.9}
        expected = th.function(leaves, out, on_unused_input="ignore")(*values.values())
        got = eval(pprint(out), {}, values)
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_leaves_constants_names_and_broadcasting():
    x = tt.dmatrix("x")
    v = tt.dvector()
    named = (x * 2).sum(axis=1)
    named.name = "rowsum"
    assert pprint(named + 1) == "rowsum + 1"            # named intermediates by name
    assert pprint(named) == "sum(x * 2, axis=1)"         # ... but the root is expanded
    assert pprint(x + v) == "x + <float64 (?,)>"         # broadcasting DimShuffle invisible
    assert pprint(x.T + 0.25) == "x.T + 0.25"
    assert pprint(x * tt.constant(np.array([1.0, 2.0]))) == "x * [1. 2.]"
    assert pprint(tt.dot(x, x).sum()) == "sum(x \\dot x)"
    assert pprint(tt.shape_i(x, 1)) == "x.shape[1]"


def test_list_and_function():
    x = tt.dvector("x")
    w = th.shared(np.ones(2), name="w")
    assert pprint([x + 1, tt.exp(x)]) == "x + 1\nexp(x)"
    f = th.function([x], x * 2, updates=[(w, w + x)])
    assert pprint(f) == "x * 2\nw <- w + x"
    with pytest.raises(TypeError, match="cannot print a int"):
        pprint(3)


class _Clamp(Op):
    def make_node(self, x):
        x = tt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])


def test_registered_formatter_and_default_call():
    x = tt.dvector("x")
    assert pprint(_Clamp()(x + 1)) == "_Clamp(x + 1)"
    register_pprint(_Clamp)(lambda node, index, args: call("clamp01", args))
    assert pprint(_Clamp()(x + 1) * 2) == "clamp01(x + 1) * 2"
    assert atom("-3").prec < atom("3").prec


def test_deep_graph_does_not_recurse():
    x = tt.dscalar("x")
    out = x
    for _ in range(3000):
        out = out + 1
    text = pprint(out)
    assert text == "x" + " + 1" * 3000


def test_blas_calls_print_as_the_math_they_compute():
    A, B = tt.dmatrices("A", "B")
    a = tt.dscalar("a")
    u, v = tt.dvectors("u", "v")
    C = th.shared(np.ones((2, 2)), name="C")
    gemm = th.function([A, B, a], [], updates=[(C, C * 2 + a * tt.dot(A, B))])
    assert "Gemm{inplace}" in gemm.dprint(file="str")
    assert pprint(gemm) == "C <- 2 * C + a * A \\dot B"
    ger = th.function([A, u, v], A + 3 * tt.outer(u, v))
    assert "Ger{" in ger.dprint(file="str")
    assert pprint(ger) == "A + 3 * outer(u, v)"
    values = [np.arange(4.0).reshape(2, 2), np.ones(2), np.arange(2.0)]
    np.testing.assert_allclose(ger(*values), eval(pprint(ger), {"outer": np.outer},
                                                   dict(zip("Auv", values))))


def test_indexing_scan_and_ifelse():
    x = tt.dmatrix("x")
    i = tt.iscalar("i")
    assert pprint(x[1:, i]) == "x[1:, i]"
    assert pprint(x[::2, :i]) == "x[::2, :i]"
    assert pprint((x + 1)[0]) == "(x + 1)[0]"
    assert pprint(tt.set_subtensor(x[0], 1.0)) == "set_subtensor(x[0], 1)"
    assert pprint(tt.inc_subtensor(x[i:-1], x[0])) == "inc_subtensor(x[i:-1], x[0])"
    a, b = tt.dscalars("a", "b")
    assert pprint(ifelse(tt.lt(a, b), a, b * 2)) == "ifelse(lt(a, b), a, b * 2)"
    assert pprint(ifelse(a > 0, [a, b], [b, a])[1]) == "ifelse(gt(a, 0), (a, b), (b, a))[1]"
    s = th.shared(0.0, name="s")
    v = tt.dvector("v")
    outs, _ = th.scan(lambda vt, prev: ([prev + vt, vt * 2], {s: s + vt}), sequences=v,
                      outputs_info=[tt.zeros(()), None])
    step = ("scan(out0[t] = out0[t-1] + v[t+0], out1[t] = v[t+0] * 2, s[t+1] = s[t] + v[t+0]; "
            "n_steps=v.shape[0], sequences=[v], outputs_info=[alloc(0)], shared=[s])")
    assert pprint(outs[0][-1]) == step + ".out0[-1]"
    assert pprint(outs[1]) == step + ".out1"
