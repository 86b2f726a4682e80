"""concatenate / join / stack / split against NumPy: values, dtypes, shapes, grads."""

import numpy as np
import pytest
from tensor_ops_helpers import check_infer_shape, check_vjp, run_both

import theanine as th
import theanine.tensor as tt
from theanine.tensor.join import Join, Split


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("sizes", [(2, 3), (0, 4), (1, 1, 0)])
def test_concatenate_vs_numpy(axis, sizes, rng):
    shapes = [(s, 3) if axis == 0 else (3, s) for s in sizes]
    vals = [rng.normal(size=s) for s in shapes]
    xs = [tt.dmatrix(f"x{k}") for k in range(len(sizes))]
    out = tt.concatenate(xs, axis=axis)
    np.testing.assert_array_equal(run_both(xs, out, vals), np.concatenate(vals, axis=axis))
    check_infer_shape(out, xs, vals)
    out2 = tt.join(axis, *xs)
    np.testing.assert_array_equal(run_both(xs, out2, vals), np.concatenate(vals, axis=axis))


def test_concatenate_promotes_dtypes(rng):
    a = tt.ivector("a")
    b = tt.fvector("b")
    c = tt.bvector("c")
    out = tt.concatenate([a, b, c])
    vals = [np.array([1, 2], dtype="int32"), np.array([0.5], dtype="float32"),
            np.array([3], dtype="int8")]
    want = np.concatenate(vals)
    assert out.dtype == str(want.dtype)
    np.testing.assert_array_equal(run_both([a, b, c], out, vals), want)


def test_static_shapes():
    a = tt.tensor("float64", shape=(2, None))
    b = tt.tensor("float64", shape=(3, 4))
    assert tt.concatenate([a, b]).type.shape == (5, 4)
    with pytest.raises(ValueError, match="outside the join axis"):
        tt.concatenate([a, b], axis=1)
    assert tt.concatenate([a, tt.dmatrix()], axis=1).type.shape == (2, None)
    assert tt.stack([b, b, b], axis=1).type.shape == (3, 3, 4)
    assert tt.stack([b, b], axis=-1).type.shape == (3, 4, 2)
    x = tt.tensor("float64", shape=(6, None))
    parts = tt.split(x, [1, 5], 2)
    assert [p.type.shape for p in parts] == [(1, None), (5, None)]


def test_join_errors():
    with pytest.raises(ValueError, match="differs"):
        tt.concatenate([tt.tensor("float64", shape=(2, 3)), tt.tensor("float64", shape=(2, 4))])
    with pytest.raises(ValueError, match="same number of dims"):
        tt.concatenate([tt.dmatrix(), tt.dvector()])
    with pytest.raises(ValueError, match="zero-dimensional"):
        tt.concatenate([tt.dscalar(), tt.dscalar()])
    with pytest.raises(ValueError, match="out of range"):
        tt.concatenate([tt.dmatrix(), tt.dmatrix()], axis=2)
    with pytest.raises(TypeError, match="list or tuple"):
        tt.concatenate(tt.dmatrix())
    with pytest.raises(ValueError, match="same number of dims"):
        tt.stack([tt.dmatrix(), tt.dvector()])


def test_join_runtime_error(rng):
    a, b = tt.dmatrix("a"), tt.dmatrix("b")
    for linker in ("py", "vm"):
        f = th.function([a, b], tt.concatenate([a, b]), mode=th.Mode(linker=linker))
        with pytest.raises(ValueError, match=r"\(2, 3\), \(2, 4\)|dimensions"):
            f(np.zeros((2, 3)), np.zeros((2, 4)))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_vs_numpy(axis, rng):
    vals = [rng.normal(size=(2, 3)) for _ in range(3)]
    xs = [tt.dmatrix() for _ in vals]
    out = tt.stack(xs, axis=axis)
    np.testing.assert_array_equal(run_both(xs, out, vals), np.stack(vals, axis=axis))
    check_infer_shape(out, xs, vals)


def test_stack_scalars_and_old_signature(rng):
    a, b = tt.dscalar("a"), tt.lscalar("b")
    out = tt.stack(a, b)
    np.testing.assert_array_equal(run_both([a, b], out, [1.5, 2]), np.stack([1.5, 2.0]))
    assert out.dtype == "float64"


def test_as_tensor_variable_of_list_stacks(rng):
    x, y = tt.dvector("x"), tt.dvector("y")
    out = tt.as_tensor_variable([x, y])
    assert out.ndim == 2
    vals = [rng.normal(size=3), rng.normal(size=3)]
    np.testing.assert_array_equal(run_both([x, y], out, vals), np.stack(vals))


@pytest.mark.parametrize("axis", [0, 1])
def test_split_vs_numpy(axis, rng):
    a = rng.normal(size=(5, 6))
    x = tt.dmatrix("x")
    sizes = tt.lvector("sizes")
    outs = tt.split(x, sizes, 3, axis=axis)
    assert isinstance(outs[0].owner.op, Split)
    for split_sizes in ([1, 0, 4], [0, 5, 0]) if axis == 0 else ([2, 2, 2], [6, 0, 0]):
        got = run_both([x, sizes], outs, [a, np.array(split_sizes)])
        want = np.split(a, np.cumsum(split_sizes)[:-1], axis=axis)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        check_infer_shape(outs[0], [x, sizes], [a, np.array(split_sizes)])


def test_split_errors(rng):
    x = tt.dmatrix("x")
    sizes = tt.lvector("sizes")
    f = th.function([x, sizes], tt.split(x, sizes, 2))
    with pytest.raises(ValueError, match="do not sum"):
        f(np.zeros((4, 2)), np.array([1, 2]))
    with pytest.raises(ValueError, match="expected 2"):
        f(np.zeros((4, 2)), np.array([1, 2, 1]))
    with pytest.raises(ValueError, match="sum to 3"):
        tt.split(tt.tensor("float64", shape=(4,)), [1, 2], 2)
    with pytest.raises(TypeError, match="integer vector"):
        tt.split(x, tt.dvector(), 2)


def test_grads(rng):
    a, b = tt.dmatrix("a"), tt.dmatrix("b")
    va, vb = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    out = tt.concatenate([a, b])
    assert isinstance(out.owner.op, Join)
    check_vjp(out, [a, b], [va, vb], [0, 1], rng)
    c = tt.concatenate([a, b, a], axis=0)
    check_vjp(c, [a, b], [va, vb], [1], rng)
    x = tt.dmatrix("x")
    parts = tt.split(x, [1, 2], 2, axis=1)
    check_vjp(parts[0], [x], [vb], [0], rng)
    node = parts[0].owner
    grads = node.op.L_op(node.inputs, node.outputs, [None, node.outputs[1].type()])
    assert grads[1] is None and grads[0].ndim == 2
