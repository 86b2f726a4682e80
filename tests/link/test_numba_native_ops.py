"""Ops that used to be call-outs in the Numba backend and now run natively
(link/numba/along_axis.py, advanced.py): each compared with the default engine
(NumPy's results) on the cases where NumPy's rules are easy to get wrong: NaNs and
ties, empty axes, dtype promotion, negative and repeated indices, broadcasting,
and errors."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.tensor.diagonal import AllocDiag

pytest.importorskip("numba", reason="the Numba backend needs the numba package")
NUMBA = th.Mode(linker="numba")


def native(inputs, outputs, *args):
    """Compile on both engines; check that no call-out is left and that values and
    dtypes agree; return the Numba function."""
    fn = th.function(inputs, outputs, mode=NUMBA)
    assert fn.fn.callouts == [], fn.fn.callouts
    ref = th.function(inputs, outputs)(*args)
    got = fn(*args)
    for value, want in zip(got if isinstance(got, list) else [got],
                           ref if isinstance(ref, list) else [ref]):
        value, want = np.asarray(value), np.asarray(want)
        assert value.dtype == want.dtype and value.shape == want.shape
        np.testing.assert_array_equal(value, want)
    return fn


@pytest.fixture
def cube():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 4, size=(3, 4, 5)).astype("float64")   # ties
    v[1, 2, 3] = np.nan
    v[2, 0, :] = np.nan
    return v


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_argmax_and_argmin_find_the_first_extremum_and_nan(cube, axis):
    x = tt.dtensor3("x")
    native([x], [tt.argmax(x, axis=axis), tt.argmin(x, axis=axis)], cube)


def test_argmax_of_integers_and_booleans():
    x, b = tt.imatrix("x"), tt.bmatrix("b")
    native([x], [tt.argmax(x, axis=0), tt.argmin(x)], np.array([[3, -1], [3, 7]], "int32"))
    native([b], tt.argmax(tt.neq(b, 0), axis=1), np.array([[0, 1, 1], [0, 0, 0]], "int8"))


def test_argmax_of_an_empty_axis_raises_like_numpy():
    x = tt.dmatrix("x")
    f = th.function([x], tt.argmax(x, axis=1), mode=NUMBA)
    assert f(np.zeros((0, 3))).shape == (0,)
    with pytest.raises(ValueError, match="argmax"):
        f(np.zeros((3, 0)))


@pytest.mark.parametrize("axis", [None, 0, 2])
def test_cumsum_and_cumprod(cube, axis):
    x = tt.dtensor3("x")
    native([x], [tt.cumsum(x, axis=axis), tt.cumprod(x * 0.5 + 1.0, axis=axis)], cube)


def test_cumsum_promotes_small_integers_like_numpy():
    x, y = tt.bvector("x"), tt.fmatrix("y")
    f = native([x], tt.cumsum(x), np.array([100, 100, 100], "int8"))
    assert f.maker.fgraph.outputs[0].dtype == "int64"
    native([y], tt.cumsum(y, axis=1), np.arange(6, dtype="float32").reshape(2, 3) / 3)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_sort_and_argsort_are_stable_with_nan_last(cube, axis):
    x = tt.dtensor3("x")
    native([x], [tt.sort(x, axis=axis), tt.argsort(x, axis=axis)], cube)


@pytest.mark.parametrize("bounds", [(0, 10, 1), (10, 0, -3), (5, 5, 1), (-7, 20, 4)])
def test_arange_of_integers(bounds):
    a, b, c = tt.lscalars("a", "b", "c")
    native([a, b, c], tt.arange(a, b, c), *[np.int64(v) for v in bounds])


def test_arange_of_floats_and_a_zero_step():
    a, b, c = tt.dscalars("a", "b", "c")
    native([a, b, c], tt.arange(a, b, c), 0.1, 1.0, 0.1)
    f = th.function([a, b, c], tt.arange(a, b, c), mode=NUMBA)
    with pytest.raises(ValueError, match="step"):
        f(0.0, 1.0, 0.0)


def test_integer_vector_indices_read_rows_elements_and_broadcast():
    m, t = tt.dmatrix("m"), tt.dtensor3("t")
    i, j = tt.lvectors("i", "j")
    mv = np.arange(12.0).reshape(3, 4)
    tv = np.arange(60.0).reshape(3, 4, 5)
    iv, jv = np.array([2, -1, 0, 2]), np.array([3, 0, -4, 1])
    native([m, i], m[i], mv, iv)                         # rows
    native([m, i, j], m[i, j], mv, iv, jv)               # elements
    native([t, i, j], t[i, j], tv, iv, jv)               # rows of the rest
    native([m, i, j], m[i, j], mv, np.array([1]), jv)    # a length-1 vector broadcasts


def test_the_classifier_cost_index_and_its_gradient():
    p, y = tt.dmatrix("p"), tt.ivector("y")
    nll = -tt.mean(tt.log(p)[tt.arange(y.shape[0]), y])
    pv = np.random.default_rng(1).dirichlet(np.ones(4), size=6)
    yv = np.array([0, 3, 3, 1, 2, 0], "int32")
    native([p, y], [nll, th.grad(nll, p)], pv, yv)


def test_out_of_bounds_and_mismatched_indices_raise_index_errors():
    m, i, j = tt.dmatrix("m"), tt.lvector("i"), tt.lvector("j")
    f = th.function([m, i, j], m[i, j], mode=NUMBA)
    mv = np.zeros((3, 4))
    with pytest.raises(IndexError):
        f(mv, np.array([3]), np.array([0]))
    with pytest.raises(IndexError):
        f(mv, np.array([0, 1]), np.array([0, 1, 2]))


def test_boolean_masks_read_elements_and_rows():
    v, m, t = tt.dvector("v"), tt.dmatrix("m"), tt.dtensor3("t")
    mv = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    native([v], v[v > 0], np.array([1.0, -1.0, 2.0, 0.0]))
    native([m], m[m > 0], mv)                             # a full mask: elements
    tv = np.arange(24.0).reshape(2, 3, 4) - 10
    native([t], t[t[:, :, 0] > -5], tv)                   # a 2-d mask: rows


@pytest.mark.parametrize("set_", [False, True])
def test_writes_at_repeated_indices_accumulate_or_keep_the_last(set_):
    m, y = tt.dmatrix("m"), tt.dvector("y")
    i, j = tt.lvectors("i", "j")
    write = tt.set_subtensor if set_ else tt.inc_subtensor
    mv = np.arange(12.0).reshape(3, 4)
    iv, jv = np.array([0, 2, 0, -1]), np.array([1, 1, 1, 3])
    native([m, y, i, j], write(m[i, j], y), mv, np.array([10.0, 20.0, 30.0, 40.0]), iv, jv)
    native([m, i], write(m[i], 1.5), mv, iv)                        # rows, a scalar
    r = tt.dmatrix("r")
    native([m, r, i], write(m[i], r), mv, np.ones((4, 4)), iv)      # rows, a row each
    native([m, y, i], write(m[i], y[:4]), mv, np.arange(5.0), iv)   # one row, broadcast


@pytest.mark.parametrize("set_", [False, True])
def test_writes_through_a_boolean_mask(set_):
    m, y = tt.dmatrix("m"), tt.dvector("y")
    write = tt.set_subtensor if set_ else tt.inc_subtensor
    mv = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    native([m, y], write(m[m > 0], y), mv, np.array([7.0, 8.0, 9.0]))
    native([m], write(m[m < 0], 0.0), mv)


def test_the_tutorial_logistic_regression_compiles_without_call_outs():
    x, y = tt.dmatrix("x"), tt.ivector("y")
    rng = np.random.default_rng(2)
    xv, yv = rng.normal(size=(20, 6)), rng.integers(0, 3, 20).astype("int32")
    results = []
    for mode in (NUMBA, None):
        w = th.shared(np.zeros((6, 3)), name="W")
        b = th.shared(np.zeros(3), name="b")
        p = tt.nnet.softmax(tt.dot(x, w) + b)
        nll = -tt.mean(tt.log(p)[tt.arange(y.shape[0]), y])
        errors = tt.mean(tt.neq(tt.argmax(p, axis=1), y))
        gw, gb = th.grad(nll, [w, b])
        train = th.function([x, y], [nll, errors], mode=mode,
                            updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
        if mode is NUMBA:
            assert train.fn.callouts == []
        results.append([train(xv, yv) for _ in range(5)] + [w.get_value()])
    for got, want in zip(*results):
        np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float),
                                   rtol=1e-12, atol=1e-14)
    assert results[0][-2][0] < results[0][0][0]          # the cost fell


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_inverse_and_determinant_through_lapack(dtype):
    x = tt.matrix("x", dtype=dtype)
    outs = [tt.nlinalg.matrix_inverse(x), tt.nlinalg.det(x)]
    fn = th.function([x], outs, mode=NUMBA)
    assert fn.fn.callouts == []
    ref = th.function([x], outs)
    rtol = 1e-4 if dtype == "float32" else 1e-10
    for value in (np.array([[4, 1, 0], [1, 3, 1], [0, 2, 5]]), np.zeros((0, 0))):
        value = value.astype(dtype)
        for got, want in zip(fn(value), ref(value)):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=rtol)


def test_a_singular_matrix_raises_with_the_node_named():
    x = tt.dmatrix("x")
    fn = th.function([x], tt.nlinalg.matrix_inverse(x), mode=NUMBA)
    with pytest.raises(np.linalg.LinAlgError, match="MatrixInverse"):
        fn(np.ones((2, 2)))


def _compare(inputs, outputs, cases, rtol):
    """No call-out left; each case (a tuple of arguments) agrees with the default engine."""
    fn = th.function(inputs, outputs, mode=NUMBA)
    assert fn.fn.callouts == [], fn.fn.callouts
    ref = th.function(inputs, outputs)
    for args in cases:
        got, want = np.asarray(fn(*args)), np.asarray(ref(*args))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    return fn


def _spd(n, dtype="float64"):
    a = np.random.default_rng(n).uniform(-1, 1, (n, n))
    return (a @ a.T + n * np.eye(n)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_reads_one_triangle(dtype, lower):
    x = tt.matrix("x", dtype=dtype)
    a = _spd(4) * 3
    skewed = np.round(a) if dtype == "int64" else a.copy()
    skewed[(0, 3) if lower else (3, 0)] = 99          # in the triangle not read
    _compare([x], tt.slinalg.cholesky(x, lower=lower),
             [(skewed.astype(dtype),), (np.zeros((0, 0), dtype),)],
             1e-4 if dtype == "float32" else 1e-12)


def test_cholesky_failures_match_the_default_engine():
    x = tt.dmatrix("x")
    strict = th.function([x], tt.slinalg.cholesky(x), mode=NUMBA)
    with pytest.raises(np.linalg.LinAlgError, match="Cholesky"):
        strict(-np.eye(2))
    lenient = tt.slinalg.Cholesky(on_error="nan")(x)
    fn = _compare([x], lenient, [(_spd(3),)], 1e-12)
    assert np.isnan(fn(-np.eye(2))).all()
    for f in (strict, fn):      # non-finite entries are an error even with on_error='nan'
        with pytest.raises(ValueError, match="infs or NaNs"):
            f(np.array([[1.0, np.nan], [0.0, 1.0]]))


SOLVES = {
    "gen": lambda a, b: tt.slinalg.solve(a, b),
    "sym-upper": lambda a, b: tt.slinalg.solve(a, b, assume_a="sym"),
    "sym-lower": lambda a, b: tt.slinalg.solve(a, b, assume_a="sym", lower=True),
    "pos-lower": lambda a, b: tt.slinalg.solve(a, b, assume_a="pos", lower=True),
    "pos-upper": lambda a, b: tt.slinalg.solve(a, b, assume_a="pos"),
    "lower": lambda a, b: tt.slinalg.solve_triangular(a, b, lower=True),
    "upper": lambda a, b: tt.slinalg.solve_triangular(a, b, lower=False),
    "upper-trans-unit": lambda a, b: tt.slinalg.solve_triangular(a, b, trans=1,
                                                                 unit_diagonal=True),
}


@pytest.mark.parametrize("form", sorted(SOLVES))
@pytest.mark.parametrize("b_ndim", [1, 2])
def test_solve_forms(form, b_ndim):
    a, b = tt.dmatrix("a"), (tt.dvector if b_ndim == 1 else tt.dmatrix)("b")
    rng = np.random.default_rng(1)
    av = _spd(5)
    av[0, 4] += 0.5                      # not symmetric: each form reads what SciPy reads
    bv = rng.uniform(-1, 1, (5,) if b_ndim == 1 else (5, 3))
    empty = (np.zeros((0, 0)), np.zeros((0,) if b_ndim == 1 else (0, 3)))
    _compare([a, b], SOLVES[form](a, b), [(av, bv), empty], 1e-10)


def test_solve_dtypes_follow_the_default_engine():
    a, b = tt.fmatrix("a"), tt.ivector("b")
    _compare([a, b], tt.slinalg.solve(a, b), [(_spd(3, "float32"), np.arange(3, dtype="int32"))],
             1e-4)


@pytest.mark.parametrize("form", ["gen", "pos-lower", "lower"])
def test_solve_failures_match_the_default_engine(form):
    a, b = tt.dmatrix("a"), tt.dvector("b")
    fn = th.function([a, b], SOLVES[form](a, b), mode=NUMBA)
    assert fn.fn.callouts == []
    bad = np.diag([1.0, 0.0, -1.0])      # singular, and not positive definite
    with pytest.raises(np.linalg.LinAlgError):
        fn(bad, np.ones(3))
    with pytest.raises(ValueError, match="infs or NaNs"):
        fn(np.eye(3), np.array([1.0, np.inf, 0.0]))
    with pytest.raises(ValueError):
        fn(np.eye(3), np.ones(2))


@pytest.mark.parametrize("offset", [0, 2, -1])
@pytest.mark.parametrize("axes", [(0, 1), (1, 0)])
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_diagonals_of_matrices(offset, axes, dtype):
    x, v = tt.matrix("x", dtype=dtype), tt.vector("v", dtype=dtype)
    rng = np.random.default_rng(3)
    for xv in (rng.integers(0, 3, (3, 5)), rng.integers(0, 3, (4, 2)), np.zeros((0, 3))):
        _compare([x], tt.nlinalg.extract_diag(x, offset, *axes), [(xv.astype(dtype),)], 0)
    vv = rng.integers(0, 3, 4).astype(dtype)
    _compare([v], tt.nlinalg.alloc_diag(v, offset, *axes), [(vv,), (vv[:0],)], 0)


def test_alloc_diag_into_a_given_size():
    v, n1, n2 = tt.dvector("v"), tt.lscalar("n1"), tt.lscalar("n2")
    out = AllocDiag(1)(v, n1, n2)
    fn = _compare([v, n1, n2], out, [(np.arange(3.0), 3, 5), (np.arange(2.0), 2, 3)], 0)
    with pytest.raises(ValueError, match="alloc_diag"):
        fn(np.arange(3.0), 2, 2)


def test_an_index_array_of_any_rank_looks_up_rows():
    emb, words = tt.dmatrix("emb"), tt.lmatrix("words")
    ev = np.arange(15.0).reshape(5, 3)
    wv = np.array([[0, 4, -1], [2, 2, 1]])
    native([emb, words], emb[words], ev, wv)
    native([emb, words], emb[words], ev, wv[:0])                  # no words at all
    v, cube = tt.dvector("v"), tt.ltensor3("cube")
    native([v, cube], v[cube], np.arange(4.0), np.arange(24).reshape(2, 3, 4) % 4)
    f = th.function([emb, words], emb[words], mode=NUMBA)
    with pytest.raises(IndexError):
        f(ev, np.array([[0, 5]]))


@pytest.mark.parametrize("set_", [False, True])
def test_writes_through_an_index_array_of_any_rank(set_):
    emb, words, g = tt.dmatrix("emb"), tt.lmatrix("words"), tt.dtensor3("g")
    write = tt.set_subtensor if set_ else tt.inc_subtensor
    ev = np.zeros((5, 3))
    wv = np.array([[0, 4, -1], [2, 2, 1]])
    gv = np.arange(18.0).reshape(2, 3, 3)
    native([emb, g, words], write(emb[words], g), ev, gv, wv)       # repeated rows
    row, col = tt.dvector("row"), tt.dmatrix("col")
    native([emb, row, words], write(emb[words], row), ev, np.arange(3.0), wv)
    native([emb, col, words], write(emb[words], col), ev, np.ones((3, 3)), wv)
    native([emb, words], write(emb[words], 2.0), ev, wv)
    f = th.function([emb, g, words], write(emb[words], g), mode=NUMBA)
    with pytest.raises(ValueError, match="shape mismatch|broadcast"):
        f(ev, np.ones((2, 2, 3)), wv)


def test_the_gradient_of_an_embedding_lookup():
    emb, words = tt.dmatrix("emb"), tt.lmatrix("words")
    cost = (tt.tanh(emb[words]) ** 2).sum()
    ev = np.random.default_rng(2).normal(size=(6, 4))
    wv = np.array([[0, 5, 5], [1, 0, 3]])
    fn = th.function([emb, words], th.grad(cost, emb), mode=NUMBA)
    assert fn.fn.callouts == []
    np.testing.assert_allclose(fn(ev, wv), th.function([emb, words], th.grad(cost, emb))(ev, wv),
                               rtol=1e-12)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                 ((1, 2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
                 ((0, 2, 3), (3, 4)), ((2, 0), (0, 4))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_batches_broadcasts_and_promotes(sa, sb):
    a = tt.tensor(dtype="float64", ndim=len(sa), name="a")
    b = tt.tensor(dtype="float32", ndim=len(sb), name="b")
    rng = np.random.default_rng(4)
    _compare([a, b], tt.matmul(a, b), [(rng.normal(size=sa), rng.normal(size=sb)
                                        .astype("float32"))], 1e-12)


def test_matmul_mismatches_raise_and_integer_products_call_out():
    a, b = tt.dtensor3("a"), tt.dtensor3("b")
    f = th.function([a, b], tt.matmul(a, b), mode=NUMBA)
    assert f.fn.callouts == []
    with pytest.raises(ValueError, match="matmul"):
        f(np.ones((2, 2, 3)), np.ones((2, 4, 2)))
    with pytest.raises(ValueError, match="matmul"):
        f(np.ones((2, 2, 3)), np.ones((3, 3, 2)))
    i, j = tt.lmatrix("i"), tt.lmatrix("j")
    assert th.function([i, j], tt.matmul(i, j), mode=NUMBA).fn.callouts == ["MatMul"]


@pytest.mark.parametrize("axes,sa,sb", [
    (([1], [0]), (2, 3), (3, 4)), (([0, 2], [2, 0]), (3, 2, 4), (4, 5, 3)),
    (([], []), (2, 3), (4,)), (([0, 1], [0, 1]), (2, 3), (2, 3)),
    (([2], [1]), (2, 3, 4), (5, 4))])
def test_tensordot_pairs_axes(axes, sa, sb):
    a = tt.tensor(dtype="float64", ndim=len(sa), name="a")
    b = tt.tensor(dtype="int32", ndim=len(sb), name="b")
    rng = np.random.default_rng(5)
    fn = _compare([a, b], tt.tensordot(a, b, axes), [(rng.normal(size=sa),
                                                      rng.integers(-3, 3, sb).astype("int32"))],
                  1e-12)
    if axes[0]:
        bad = list(sb)
        bad[axes[1][0]] += 1
        with pytest.raises(ValueError, match="tensordot"):
            fn(rng.normal(size=sa), np.zeros(bad, "int32"))


@pytest.mark.parametrize("dtype", ["float64", "int8", "bool"])
def test_one_hot_rows_and_its_label_check(dtype):
    y, n = tt.lmatrix("y"), tt.lscalar("n")
    out = tt.nnet.OneHot(dtype)(y, n)
    fn = native([y, n], out, np.array([[0, 3], [2, 2]]), 4)
    native([y, n], out, np.zeros((0, 3), "int64"), 2)
    v = tt.ivector("v")
    native([v], tt.nnet.to_one_hot(v, 3), np.array([2, 0, 1], "int32"))
    with pytest.raises(ValueError, match="one_hot"):
        fn(np.array([[0, 4]]), 4)


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_nonzero_of_any_rank(dtype):
    rng = np.random.default_rng(6)
    for ndim in (1, 2, 3):
        x = tt.tensor(dtype=dtype, ndim=ndim, name="x")
        value = (rng.integers(-1, 2, size=(3, 4, 2)[:ndim])).astype(dtype)
        native([x], list(tt.nonzero(x)), value)
        native([x], list(tt.nonzero(x)), np.zeros((0,) * ndim, dtype))
    v = tt.dvector("v")
    native([v], tt.flatnonzero(v), np.array([0.0, np.nan, -0.0, 2.0]))
