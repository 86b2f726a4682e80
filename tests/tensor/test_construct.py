"""Constructors and axis helpers against NumPy: alloc, arange, eye, tile, flatten, ..."""

import numpy as np
import pytest
from tensor_ops_helpers import check_infer_shape, check_vjp, run_both

import theanine as th
import theanine.tensor as tt
from theanine.config import config
from theanine.tensor.alloc import Alloc, ARange
from theanine.tensor.construct import Eye
from theanine.tensor.nonzero import Nonzero


def test_zeros_ones_full(rng):
    n = tt.lscalar("n")
    x = tt.dmatrix("x")
    a = rng.normal(size=(3, 0))
    cases = [
        (tt.zeros((2, 3)), np.zeros((2, 3), dtype=config.floatX)),
        (tt.ones((n, 2), dtype="int32"), np.ones((4, 2), dtype="int32")),
        (tt.zeros(x.shape, dtype="int8"), np.zeros((3, 0), dtype="int8")),
        (tt.ones(tt.as_tensor_variable([n, 1])), np.ones((4, 1))),
        (tt.full((2, n), 7), np.full((2, 4), 7)),
        (tt.full((2,), 7, dtype="float32"), np.full((2,), 7, dtype="float32")),
        (tt.full_like(x, 2.5), np.full_like(a, 2.5)),
        (tt.zeros_like(x), np.zeros_like(a)),
        (tt.ones_like(x, dtype="bool"), np.ones_like(a, dtype="bool")),
        (tt.zeros(()), np.zeros(())),
    ]
    for out, want in cases:
        got = run_both([n, x], out, [4, a])
        assert got.dtype == want.dtype, (out, got.dtype, want.dtype)
        np.testing.assert_array_equal(got, want)
        assert out.owner is None or out.ndim == want.ndim
        if out.owner is not None:
            check_infer_shape(out, [n, x], [4, a])


def test_zeros_shape_from_vector_of_known_length(rng):
    v = tt.tensor("int64", shape=(2,), name="v")
    out = tt.zeros(v)
    np.testing.assert_array_equal(run_both([v], out, [np.array([2, 3])]), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="not known"):
        tt.zeros(tt.lvector())


def test_alloc_broadcasts_value(rng):
    v = tt.dvector("v")
    n = tt.lscalar("n")
    out = tt.alloc(v, n, 3)
    assert isinstance(out.owner.op, Alloc)
    assert out.type.shape == (None, 3)
    vals = [rng.normal(size=3), 2]
    np.testing.assert_array_equal(run_both([v, n], out, vals),
                                  np.broadcast_to(vals[0], (2, 3)))
    check_infer_shape(out, [v, n], vals)
    check_vjp(out, [v, n], vals, [0], rng)
    col = tt.tensor("float64", shape=(None, 1), name="col")
    out2 = tt.alloc(col, 2, 3, 4)
    check_vjp(out2, [col], [rng.normal(size=(3, 1))], [0], rng)


def test_alloc_result_is_writable_copy(rng):
    x = tt.dvector("x")
    f = th.function([x], tt.alloc(x, 2, 3))
    a = rng.normal(size=3)
    out = f(a)
    assert out.flags.writeable and not np.shares_memory(out, a)


def test_alloc_errors():
    with pytest.raises(ValueError, match="negative size"):
        tt.alloc(0.0, -1)
    with pytest.raises(ValueError, match="more than"):
        tt.alloc(tt.dmatrix(), 3)
    with pytest.raises(ValueError, match="does not broadcast"):
        tt.alloc(tt.tensor("float64", shape=(3,)), 2, 4)
    with pytest.raises(TypeError, match="integer"):
        tt.alloc(0.0, 2.5)
    m = tt.lscalar("m")
    for linker in ("py", "vm"):
        f = th.function([m], tt.alloc(1.0, m), mode=th.Mode(linker=linker))
        with pytest.raises(ValueError, match="negative"):
            f(-2)


def test_fill_and_second(rng):
    x = tt.dmatrix("x")
    a = rng.normal(size=(2, 3))
    np.testing.assert_array_equal(run_both([x], tt.fill(x, 3), [a]), np.full((2, 3), 3.0))
    s = tt.second(x, tt.ivector("v"))
    assert s.dtype == "int32"
    np.testing.assert_array_equal(run_both([x, s.owner.inputs[0]], s,
                                           [a, np.array([1, 2, 3], dtype="int32")]),
                                  np.broadcast_to(np.array([1, 2, 3]), (2, 3)))


ARANGE_CASES = [(5,), (2, 9, 3), (9, 2, -2), (0,), (3, 3), (-2.5, 4.0, 0.5), (1, 0, 1)]


@pytest.mark.parametrize("args", ARANGE_CASES)
def test_arange_constant_vs_numpy(args):
    out = tt.arange(*args)
    want = np.arange(*args)
    assert out.type.shape == want.shape
    got = run_both([], out, [])
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtypes", [("int64", "int64", "int64"), ("int32", "int32", "int8"),
                                    ("float32", "float32", "float32"),
                                    ("int64", "float64", "int64"), ("uint8", "int16", "int8")])
def test_arange_symbolic_vs_numpy(dtypes):
    start, stop, step = (tt.tensor(d, shape=(), name=n) for d, n in zip(dtypes, "abc"))
    out = tt.arange(start, stop, step)
    for vals in ([0, 7, 2], [7, 0, -3], [2, 2, 1], [1, 10, 4]):
        if dtypes[0] == "uint8" and vals[0] < 0:
            continue
        np_vals = [np.array(v, dtype=d) for v, d in zip(vals, dtypes)]
        want = np.arange(*[v[()] for v in np_vals])
        got = run_both([start, stop, step], out, np_vals)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        check_infer_shape(out, [start, stop, step], np_vals)
    assert tt.arange(stop, dtype="float32").dtype == "float32"


def test_arange_errors_and_grad(rng):
    with pytest.raises(ValueError, match="step must not be zero"):
        tt.arange(0, 5, 0)
    step = tt.lscalar("step")
    f = th.function([step], tt.arange(0, 5, step))
    with pytest.raises(ValueError, match="zero"):
        f(0)
    with pytest.raises(TypeError, match="scalar"):
        tt.arange(tt.lvector())
    a, s = tt.dscalar("a"), tt.dscalar("s")
    out = tt.arange(a, 3.0, s)
    assert isinstance(out.owner.op, ARange)
    check_vjp(out, [a, s], [0.25, 0.5], [0, 1], rng)


@pytest.mark.parametrize("args", [(3,), (3, 4), (4, 2, 1), (3, 3, -2), (0,), (2, 5, 9)])
def test_eye_vs_numpy(args):
    n, m, k = tt.lscalar("n"), tt.lscalar("m"), tt.lscalar("k")
    full = list(args) + [None, 0][len(args) - 1:]
    full[1] = full[0] if full[1] is None else full[1]
    out = tt.eye(n, m, k, dtype="int32")
    got = run_both([n, m, k], out, full)
    np.testing.assert_array_equal(got, np.eye(*full, dtype="int32"))
    assert got.dtype == "int32"
    check_infer_shape(out, [n, m, k], full)
    const = tt.eye(*args)
    assert isinstance(const.owner.op, Eye)
    assert const.type.shape == np.eye(*args).shape
    np.testing.assert_array_equal(run_both([], const, []), np.eye(*args))


def test_identity_like(rng):
    x = tt.fmatrix("x")
    out = tt.identity_like(x)
    assert out.dtype == "float32"
    a = rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_array_equal(run_both([x], out, [a]), np.eye(2, 4, dtype="float32"))
    with pytest.raises(ValueError, match="not a matrix"):
        tt.identity_like(tt.dvector())


@pytest.mark.parametrize("reps", [2, (2, 3), (1, 0), (2, 1, 2)])
def test_tile_vs_numpy(reps, rng):
    a = rng.normal(size=(2, 3))
    x = tt.dmatrix("x")
    np.testing.assert_array_equal(run_both([x], tt.tile(x, reps), [a]), np.tile(a, reps))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_repeat_vs_numpy(axis, rng):
    a = rng.normal(size=(2, 3))
    x = tt.dmatrix("x")
    for r in (0, 1, 3):
        np.testing.assert_array_equal(run_both([x], tt.repeat(x, r, axis=axis), [a]),
                                      np.repeat(a, r, axis=axis))


@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 3, 2), (1, 1, 1), (3, 0, 0)])
def test_flatten_vs_numpy(shape, rng):
    a = rng.normal(size=shape)
    x = tt.dtensor3("x")
    for ndim in (1, 2, 3):
        out = tt.flatten(x, ndim)
        want = a.reshape(a.shape[:ndim - 1] + (-1,)) if a.size else \
            np.zeros(a.shape[:ndim - 1] + (int(np.prod(a.shape[ndim - 1:])),))
        np.testing.assert_array_equal(run_both([x], out, [a]), want)
        check_infer_shape(out, [x], [a])
    np.testing.assert_array_equal(run_both([x], x.flatten(), [a]), a.reshape(-1))
    np.testing.assert_array_equal(run_both([x], x.ravel(), [a]), a.ravel())
    assert tt.flatten(tt.tensor("float64", shape=(2, 3, 4)), 2).type.shape == (2, 12)
    with pytest.raises(ValueError, match="ndim"):
        tt.flatten(x, 4)


def test_squeeze_expand_pad_transpose(rng):
    a = rng.normal(size=(1, 3, 1))
    x = tt.tensor("float64", shape=(1, None, 1), name="x")
    y = tt.dtensor3("y")
    cases = [
        (x.squeeze(), np.squeeze(a)),
        (tt.squeeze(x, axis=2), np.squeeze(a, axis=2)),
        (tt.squeeze(y, axis=(0, -1)), np.squeeze(a, axis=(0, -1))),
        (tt.expand_dims(y, 0), np.expand_dims(a, 0)),
        (tt.expand_dims(y, (1, -1)), np.expand_dims(a, (1, -1))),
        (tt.shape_padleft(y, 2), a[None, None]),
        (tt.shape_padright(y), a[..., None]),
        (tt.shape_padaxis(y, 1), a[:, None]),
        (tt.transpose(y), a.T),
        (tt.transpose(y, (1, 0, 2)), a.transpose(1, 0, 2)),
    ]
    for out, want in cases:
        np.testing.assert_array_equal(run_both([x, y], out, [a, a]), want)
    assert tt.expand_dims(y, 0).type.shape == (1, None, None, None)
    f = th.function([y], tt.squeeze(y, 1))
    with pytest.raises(ValueError):
        f(a)
    with pytest.raises(ValueError, match="not 1"):
        tt.squeeze(tt.tensor("float64", shape=(2,)), 0)
    with pytest.raises(ValueError, match="permutation"):
        tt.transpose(y, (0, 1))
    with pytest.raises(ValueError, match="out of range"):
        tt.expand_dims(y, 5)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (0, 2), (2, 1, 3)])
def test_nonzero_vs_numpy(shape, rng):
    a = rng.integers(-1, 2, size=shape).astype("float64")
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    outs = x.nonzero()
    assert isinstance(outs, tuple) and isinstance(outs[0].owner.op, Nonzero)
    got = run_both([x], list(outs), [a])
    for g, w in zip(got, np.nonzero(a)):
        assert g.dtype == "int64"
        np.testing.assert_array_equal(g, w)
    check_infer_shape(outs[0], [x], [a])
    np.testing.assert_array_equal(run_both([x], tt.flatnonzero(x), [a]), np.flatnonzero(a))
    mat = tt.nonzero(x, return_matrix=True)
    np.testing.assert_array_equal(run_both([x], mat, [a]), np.array(np.nonzero(a)))
