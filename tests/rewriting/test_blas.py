"""BLAS ops (gemm, gemv, ger via SciPy) and the rules that introduce them."""

import numpy as np
import pytest
from rewrite_helpers import NO_REWRITE, assert_same_values, compile_both, op_names, random_values

import theanine as th
import theanine.tensor as tt
from theanine.tensor.blas import Gemm, Gemv, Ger

MODE_PY = NO_REWRITE


def _vars(op, dtype):
    kinds = {2: tt.TensorType(dtype, (None, None)), 1: tt.TensorType(dtype, (None,)),
             0: tt.TensorType(dtype, ())}
    return [kinds[nd](f"i{k}") for k, nd in enumerate(op.ndims)]


def _values(op, rng, dtype, order="C"):
    m, k, n = 3, 4, 5
    shapes = {"Gemm": [(m, n), (), (m, k), (k, n), ()], "Gemv": [(m,), (), (m, k), (k,), ()],
              "Ger": [(m, n), (), (m,), (n,)]}[type(op).__name__]
    return [np.asarray(rng.standard_normal(s), dtype=dtype, order=order) for s in shapes]


def _expected(op, vals):
    if isinstance(op, Gemm):
        z, a, x, y, b = vals
        return b * z + a * (x @ y)
    if isinstance(op, Gemv):
        y, a, A, x, b = vals
        return b * y + a * (A @ x)
    A, a, x, y = vals
    return A + a * np.outer(x, y)


@pytest.mark.parametrize("cls", [Gemm, Gemv, Ger])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_perform_matches_numpy_and_inplace_writes_into_the_accumulator(cls, dtype, order, rng):
    op = cls(inplace=False)
    vals = _values(op, rng, dtype, order)
    node = op.make_node(*_vars(op, dtype))
    want = _expected(op, vals)
    keep = vals[0].copy()
    out = [[None]]
    op.perform(node, vals, out)
    np.testing.assert_allclose(out[0][0], want, rtol=1e-4 if dtype == "float32" else 1e-12)
    np.testing.assert_array_equal(vals[0], keep)            # not in place: untouched
    inplace = op.inplace_variant()
    assert inplace.inplace and inplace.destroy_map == {0: [0]} and not op.destroy_map
    out = [[None]]
    inplace.perform(inplace.make_node(*_vars(op, dtype)), vals, out)
    np.testing.assert_allclose(out[0][0], want, rtol=1e-4 if dtype == "float32" else 1e-12)
    assert np.shares_memory(out[0][0], vals[0])             # written into the accumulator
    assert out[0][0].dtype == dtype


@pytest.mark.parametrize("cls", [Gemm, Gemv, Ger])
def test_infer_shape_and_gradient(cls, rng):
    op = cls()
    ins = _vars(op, "float64")
    vals = _values(op, rng, "float64")
    out = op(*ins)
    f = th.function(ins, [out, out.shape], mode=MODE_PY)
    value, shape = f(*vals)
    np.testing.assert_array_equal(shape, value.shape)
    g = tt.TensorType("float64", out.type.shape)("g")
    grads = op.L_op(ins, [out], [g])
    gv = rng.standard_normal(value.shape)
    fg = th.function(ins + [g], grads, mode=MODE_PY, on_unused_input="ignore")
    got = fg(*vals, gv)
    eps = 1e-6
    for k, v in enumerate(vals):
        num = np.zeros_like(v, dtype="float64")
        for idx in np.ndindex(v.shape):
            plus = [x.copy() for x in vals]
            minus = [x.copy() for x in vals]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            num[idx] = (np.sum(gv * _expected(op, plus)) - np.sum(gv * _expected(op, minus))) \
                / (2 * eps)
        np.testing.assert_allclose(got[k], num, rtol=1e-5, atol=1e-7)


def test_make_node_checks():
    with pytest.raises(TypeError, match="float32 or float64"):
        Gemm().make_node(tt.imatrix(), 1, tt.imatrix(), tt.imatrix(), 1)
    with pytest.raises(TypeError, match="input 2"):
        Gemm().make_node(tt.dmatrix(), 1.0, tt.dvector(), tt.dmatrix(), 1.0)
    with pytest.raises(TypeError, match="dtype"):
        Gemv().make_node(tt.dvector(), 1.0, tt.fmatrix(), tt.dvector(), 1.0)


def test_gemm_falls_back_when_z_broadcasts():
    op = Gemm()
    node = op.make_node(*_vars(op, "float64"))
    z = np.ones((1, 1))
    x, y = np.ones((2, 3)), np.ones((3, 2))
    out = [[None]]
    op.perform(node, [z, 2.0, x, y, 1.0], out)
    np.testing.assert_allclose(out[0][0], 1 + 2 * x @ y)


# -- the rewrites ------------------------------------------------------------------------


@pytest.mark.parametrize("build, op", [
    (lambda z, x, y, v, w: z + tt.dot(x, y), "Gemm"),
    (lambda z, x, y, v, w: tt.dot(x, y) * 2 + z, "Gemm"),
    (lambda z, x, y, v, w: 3 * z - 0.5 * tt.dot(x, y), "Gemm"),
    (lambda z, x, y, v, w: v + tt.dot(x, w), "Gemv"),
    (lambda z, x, y, v, w: v - tt.dot(w, x), "Gemv"),
    (lambda z, x, y, v, w: z + v.dimshuffle(0, "x") * w.dimshuffle("x", 0), "Ger"),
    (lambda z, x, y, v, w: z - 2 * (w.dimshuffle("x", 0) * v.dimshuffle(0, "x")), "Ger"),
])
def test_dot_to_blas_fires(build, op, rng):
    z, x, y = tt.dmatrices("z", "x", "y")
    v, w = tt.dvectors("v", "w")
    ins = [z, x, y, v, w]
    f, ref, counts = compile_both(ins, build(*ins), )
    assert counts["dot_to_blas"] == 1 and op in op_names(f)
    assert_same_values(f, ref, random_values(ins, rng), rtol=1e-12)


def test_dot_to_blas_negative_cases(rng):
    z, x, y = tt.dmatrices("z", "x", "y")
    d = tt.dot(x, y)
    f, ref, counts = compile_both([z, x, y], [z + d, d])        # dot needed elsewhere
    assert counts["dot_to_blas"] == 0
    i, j = tt.imatrices("i", "j")
    f, ref, counts = compile_both([i, j], i + tt.dot(i, j))      # no integer BLAS
    assert counts["dot_to_blas"] == 0
    row = tt.TensorType("float64", (1, None))("row")
    f, ref, counts = compile_both([row, x, y], row + tt.dot(x, y))   # z would broadcast
    assert counts["dot_to_blas"] == 0
    vals = [rng.standard_normal((1, 3)), rng.standard_normal((3, 3)),
            rng.standard_normal((3, 3))]
    assert_same_values(f, ref, vals)


@pytest.mark.parametrize("build, op", [
    (lambda z, x, y, v, w: tt.exp(z) + tt.dot(x, y), "Gemm"),
    (lambda z, x, y, v, w: tt.exp(v) - 0.5 * tt.dot(x, w), "Gemv"),
    (lambda z, x, y, v, w: tt.exp(z) + tt.outer(v, w), "Ger"),
])
def test_blas_ops_become_inplace_on_an_intermediate_accumulator(build, op, rng):
    z, x, y = tt.dmatrices("z", "x", "y")
    v, w = tt.dvectors("v", "w")
    ins = [z, x, y, v, w]
    mode = th.Mode(linker="py", optimizer="fast_run").excluding("fusion")
    f, ref, counts = compile_both(ins, build(*ins), mode=mode)
    node = next(n for n in f.maker.fgraph.toposort() if type(n.op).__name__ == op)
    assert node.op.inplace and node.op.destroy_map == {0: [0]}
    assert counts[f"inplace_{op.lower()}"] == 1
    assert_same_values(f, ref, random_values(ins, rng), rtol=1e-12)


def test_blas_accumulator_that_is_an_input_is_not_overwritten(rng):
    z, x, y = tt.dmatrices("z", "x", "y")
    mode = th.Mode(linker="py", optimizer="fast_run").excluding("fusion")
    f, ref, counts = compile_both([z, x, y], z + tt.dot(x, y), mode=mode)
    (node,) = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemm)]
    assert not node.op.inplace and counts["inplace_gemm"] == 0
    vals = random_values([z, x, y], rng)
    before = vals[0].copy()
    assert_same_values(f, ref, vals, rtol=1e-12)
    np.testing.assert_array_equal(vals[0], before)
    # the accumulator is also an output: overwriting it would change that output
    acc = tt.exp(z)
    f, ref, counts = compile_both([z, x, y], [acc + tt.dot(x, y), acc], mode=mode)
    assert counts["inplace_gemm"] == 0
    assert_same_values(f, ref, vals, rtol=1e-12)


@pytest.mark.parametrize("build, op", [
    # an SGD step with weight decay: one gemv, written into the accumulator
    (lambda z, x, y, v, w: v - 0.1 * (tt.dot(x, w) + 0.02 * v), "Gemv"),
    (lambda z, x, y, v, w: 0.5 * v + 3 * (v - tt.dot(x, w)), "Gemv"),
    (lambda z, x, y, v, w: 2 * (z + tt.dot(x, y)), "Gemm"),
    (lambda z, x, y, v, w: z * 0.5 - 0.25 * (z + tt.dot(x, y)), "Gemm"),
])
def test_blas_fold_scale_fires(build, op, rng):
    z, x, y = tt.dmatrices("z", "x", "y")
    v, w = tt.dvectors("v", "w")
    ins = [z, x, y, v, w]
    f, ref, counts = compile_both(ins, build(*ins))
    assert counts["blas_fold_scale"] >= 1
    names = op_names(f)
    assert names == [op], names
    assert_same_values(f, ref, random_values(ins, rng), rtol=1e-12)


def test_blas_fold_scale_with_a_symbolic_rate_updates_a_shared_vector_in_place(rng):
    x, d = tt.dmatrix("x"), tt.dvector("d")
    lr = tt.dscalar("lr")
    w0 = rng.standard_normal(4)
    w = th.shared(w0.copy(), name="w")
    f = th.function([x, d, lr], [], updates=[(w, w - lr * (tt.dot(x.T, d) + 0.02 * w))])
    (node,) = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Gemv)]
    assert node.op.inplace
    xv, dv = rng.standard_normal((3, 4)), rng.standard_normal(3)
    f(xv, dv, 0.3)
    np.testing.assert_allclose(w.get_value(), w0 - 0.3 * (xv.T @ dv + 0.02 * w0), rtol=1e-12)


def test_blas_fold_scale_is_not_offered_nodes_of_a_graph_without_gemm_or_gemv(monkeypatch):
    from theanine.graph.rewriting.pipeline import get_pass
    (rule,) = [r for r in get_pass("specialize").rules if r.name == "blas_fold_scale"]
    offered = []

    def record(fgraph, node, _fn=rule.fn):
        offered.append(node)
        return _fn(fgraph, node)

    monkeypatch.setattr(rule, "fn", record)
    v, w = tt.dvectors("v", "w")
    th.function([v, w], 2 * (v + w * 3.0))
    assert offered == []
    x = tt.dmatrix("x")
    th.function([v, w, x], 2 * (v + tt.dot(x, w)))      # dot_to_blas makes a gemv
    assert offered


def test_blas_fold_scale_negative_cases(rng):
    x = tt.dmatrix("x")
    v, w = tt.dvectors("v", "w")
    g = v + tt.dot(x, w)
    f, ref, counts = compile_both([v, w, x], [v + 2 * g, g])     # the gemv is read elsewhere
    assert counts["blas_fold_scale"] == 0
    assert_same_values(f, ref, random_values([v, w, x], rng), rtol=1e-12)
    for other in [
        (w + 0 * v) - 2 * (v + tt.dot(x, w)),      # another accumulator than the gemv's
        2 * v - 2 * (v + tt.dot(x, w)),            # v's terms cancel: its inf must stay NaN
    ]:
        # only the scale folds (2 * gemv); the sum stays elementwise
        f, ref, counts = compile_both([v, w, x], other)
        assert counts["blas_fold_scale"] == 1 and "sub" in op_names(f)
        vals = [np.array([np.inf, 1.0, 2.0]), rng.standard_normal(3), rng.standard_normal((3, 3))]
        assert_same_values(f, ref, vals, rtol=1e-12)
        assert np.isnan(f(*vals)[0])
