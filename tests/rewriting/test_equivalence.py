"""Random graphs give the same values with every rewrite (FAST_RUN) as without any.

Graphs are drawn from a vocabulary chosen to hit the rules (identities, sums with
constants, the stabilize formulas, powers, dot accumulations).  Where the naive graph
overflows (inf/NaN), the rewritten one is allowed to do better; everywhere else the
values must agree.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as th
import theanine.tensor as tt

UNARY = {
    "neg": lambda a: -a,
    "tanh": tt.tanh,
    "sin": tt.sin,
    "sigmoid_formula": lambda a: 1 / (1 + tt.exp(-a)),
    "log_sigmoid": lambda a: tt.log(1 / (1 + tt.exp(-a))),
    "log1m_sigmoid": lambda a: tt.log(1 - tt.sigmoid(a)),
    "exp_tanh": lambda a: tt.exp(tt.tanh(a)),
    "log1p_form": lambda a: tt.log(1 + tt.sqr(a)),
    "softplus_form": lambda a: tt.log(1 + tt.exp(a)),
    "expm1_form": lambda a: tt.exp(tt.tanh(a)) - 1,
    "log_exp": lambda a: tt.log(tt.exp(a)),
    "square": lambda a: a ** 2,
    "cube": lambda a: a ** 3,
    "sqrt_abs": lambda a: tt.abs(a) ** 0.5,
    "inv": lambda a: (2 + tt.sin(a)) ** -1,
    "times_one": lambda a: a * 1,
    "plus_zero": lambda a: 0 + a,
    "scale": lambda a: 2 * a * 3,
    "shift": lambda a: (a + 1) - 3 + a,
    "double_neg": lambda a: tt.neg(tt.neg(a)),
    "cosh_cancel": lambda a: a * tt.cosh(a) / tt.cosh(a),
    "cast_round_trip": lambda a: tt.cast(tt.cast(a, "float32"), "float64") * 0 + a,
}
MATRIX_UNARY = {
    "transpose": lambda a: a.T,
    "double_transpose": lambda a: a.T.T,
    "logsumexp": lambda a: tt.log(tt.sum(tt.exp(a), axis=1, keepdims=True)),
    "reshape_same": lambda a: tt.reshape(a, a.shape),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div_cosh": lambda a, b: a / tt.cosh(b),
    "sub_self": lambda a, b: a - b + b,
    "zeros_like_add": lambda a, b: tt.zeros_like(a) + b,
    "cancel_all": lambda a, b: (a - a) + (b - b),
}


def build(data):
    """Draw a program; each pool entry carries its run-time shape (inputs are 3x3, 3)."""
    x, y = tt.dmatrices("x", "y")
    v = tt.dvector("v")
    pool = [(x, (3, 3)), (y, (3, 3)), (v, (3,))]
    names = []
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        kind = data.draw(st.sampled_from(["unary", "matrix", "binary", "dot"]), label="kind")
        a, sa = data.draw(st.sampled_from(pool), label="a")
        if kind == "unary":
            name = data.draw(st.sampled_from(sorted(UNARY)), label="op")
            new, shape = UNARY[name](a), sa
        elif kind == "matrix" and a.ndim == 2:
            name = data.draw(st.sampled_from(sorted(MATRIX_UNARY)), label="op")
            new = MATRIX_UNARY[name](a)
            shape = {"transpose": sa[::-1], "logsumexp": (sa[0], 1)}.get(name, sa)
        elif kind == "binary":
            b, sb = data.draw(st.sampled_from(pool), label="b")
            name = data.draw(st.sampled_from(sorted(BINARY)), label="op")
            new, shape = BINARY[name](a, b), np.broadcast_shapes(sa, sb)
        else:
            mats = [p for p, s in pool if s == (3, 3)]
            z, m = data.draw(st.sampled_from(mats)), data.draw(st.sampled_from(mats))
            vec = [p for p, s in pool if s == (3,)]
            if data.draw(st.booleans(), label="gemv"):
                name, new, shape = "gemv", vec[-1] - 0.5 * tt.dot(m, vec[0]), (3,)
            else:
                name, new, shape = "gemm", 2 * z + tt.dot(m, z.T), (3, 3)
        names.append(name)
        pool.append((new, shape))
    return [x, y, v], pool[-1][0], names


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(0, 2**32 - 1))
def test_fast_run_matches_unrewritten_py_linker(data, seed):
    inputs, out, names = build(data)
    f = th.function(inputs, out, mode="FAST_RUN", on_unused_input="ignore")
    ref = th.function(inputs, out, mode=th.Mode(linker="py", optimizer=None),
                      on_unused_input="ignore")
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-1.5, 1.5, (3, 3)), rng.uniform(-1.5, 1.5, (3, 3)),
              rng.uniform(-1.5, 1.5, 3)]
    got, want = f(*values), ref(*values)
    assert got.dtype == want.dtype and got.shape == want.shape, names
    finite = np.isfinite(want)
    scale = 1 + np.max(np.abs(want[finite]), initial=0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-7, atol=1e-9 * scale,
                               err_msg=str(names))
