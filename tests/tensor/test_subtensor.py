"""Indexing against NumPy: basic and advanced getitem, set/inc_subtensor, shapes, grads."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensor_ops_helpers import check_infer_shape, check_vjp, run_both

import theanine as th
import theanine.tensor as tt
from theanine.link.python.dispatch import python_funcify
from theanine.tensor.subtensor import (
    AdvancedIncSubtensor,
    AdvancedSubtensor,
    IncSubtensor,
    Subtensor,
)


def _mat(rng, shape, dtype="float64"):
    return rng.normal(size=shape).astype(dtype)


# -- basic indexing ------------------------------------------------------------------

BASIC_CASES = [
    (lambda a: a[1], (4, 5)),
    (lambda a: a[-1], (4, 5)),
    (lambda a: a[-4, -5], (4, 5)),
    (lambda a: a[1:3], (4, 5)),
    (lambda a: a[::-1], (4, 5)),
    (lambda a: a[::-2, 3:0:-1], (4, 5)),
    (lambda a: a[-3:-1, ::3], (4, 5)),
    (lambda a: a[10:], (4, 5)),
    (lambda a: a[:, None, 2], (4, 5)),
    (lambda a: a[None, ..., None], (4, 5)),
    (lambda a: a[..., 0], (2, 3, 4)),
    (lambda a: a[1, ..., ::-1], (2, 3, 4)),
    (lambda a: a[np.newaxis], (3,)),
    (lambda a: a[:], (0, 3)),
    (lambda a: a[1:1], (1, 3)),
    (lambda a: a[()], (2, 3)),
]


@pytest.mark.parametrize("case", range(len(BASIC_CASES)))
def test_basic_index_vs_numpy(case, rng):
    fn, shape = BASIC_CASES[case]
    a = _mat(rng, shape)
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    out = fn(x)
    assert isinstance(out.owner.op, Subtensor)
    got = run_both([x], out, [a])
    np.testing.assert_array_equal(got, fn(a))
    check_infer_shape(out, [x], [a])


def test_symbolic_slice_bounds(rng):
    a = _mat(rng, (7, 3))
    x = tt.dmatrix("x")
    i, j, k = tt.lscalar("i"), tt.lscalar("j"), tt.iscalar("k")
    out = x[i:j:k, j % 3]
    f = th.function([x, i, j, k], out)
    for vi, vj, vk in [(0, 5, 1), (-2, 1, -1), (1, -1, 2), (-9, 9, 3), (2, 2, -2), (2, 0, -1)]:
        np.testing.assert_array_equal(f(a, vi, vj, vk), a[vi:vj:vk, vj % 3])
        check_infer_shape(out, [x, i, j, k], [a, vi, vj, vk])


def test_static_shapes():
    v = tt.tensor("float64", shape=(10,))
    assert v[1:3].type.shape == (2,)
    assert v[::-3].type.shape == (4,)
    assert v[-20:].type.shape == (10,)
    assert v[tt.lscalar():].type.shape == (None,)
    m = tt.tensor("float64", shape=(3, None))
    assert m[None, 1:, ::2].type.shape == (1, 2, None)
    assert m[1].type.shape == (None,)
    assert m[[0, 2, 2]].type.shape == (3, None)
    assert m[:, [[0], [1]]].type.shape == (3, 2, 1)


def test_basic_index_is_view(rng):
    x = tt.dmatrix("x")
    node = x[1:].owner
    assert node.op.view_map == {0: [0]}
    a = _mat(rng, (3, 2))
    store = [[None]]
    node.op.perform(node, [a], store)
    assert np.shares_memory(store[0][0], a)
    thunk = python_funcify(node.op, node)
    assert np.shares_memory(thunk(a), a)


def test_scalar_result_is_ndarray(rng):
    x = tt.dmatrix("x")
    a = _mat(rng, (2, 2))
    for linker in ("py", "vm"):
        got = th.function([x], x[1, -1], mode=th.Mode(linker=linker))(a)
        assert isinstance(got, np.ndarray) and got.shape == () and got == a[1, -1]


def test_runtime_index_error_names_index_and_shape(rng):
    x = tt.dmatrix("x")
    i = tt.lscalar("i")
    for linker in ("py", "vm"):
        f = th.function([x, i], x[i], mode=th.Mode(linker=linker))
        with pytest.raises(IndexError, match=r"index 7 .*size 3.*shape \(3, 2\)"):
            f(_mat(rng, (3, 2)), 7)
        h = th.function([x, i], tt.set_subtensor(x[i], 1.0), mode=th.Mode(linker=linker))
        with pytest.raises(IndexError, match=r"index -4 .*shape \(3, 2\)"):
            h(_mat(rng, (3, 2)), -4)
        g = th.function([x], x[:, 5], mode=th.Mode(linker=linker))
        with pytest.raises(IndexError, match=r"index 5 .*shape \(3, 2\)"):
            g(_mat(rng, (3, 2)))


def test_build_time_errors():
    x = tt.dmatrix("x")
    with pytest.raises(IndexError, match="too many indices"):
        x[1, 2, 3]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="only integers"):
        x[1.5]
    with pytest.raises(TypeError, match="integer scalar"):
        x[tt.dscalar():]
    with pytest.raises(IndexError, match="integer or boolean"):
        x[tt.dvector()]
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        tt.tensor("float64", shape=(3, 2))[3]
    with pytest.raises(TypeError, match="index input 0 must be an integer scalar"):
        Subtensor(("i",))(x, tt.dscalar())
    with pytest.raises(TypeError, match="must be a boolean array"):
        AdvancedSubtensor(("b",))(x, tt.lvector())
    with pytest.raises(TypeError, match="expected 1 index inputs, got 0"):
        Subtensor(("i",))(x)
    with pytest.raises(IndexError, match="boolean index did not match"):
        tt.tensor("float64", shape=(3, 2))[np.array([True, False])]


SLICE_PART = st.one_of(st.none(), st.integers(-7, 7))


@st.composite
def basic_index(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 5])) for _ in range(ndim))
    items = []
    for axis in range(draw(st.integers(0, ndim))):
        if draw(st.booleans()) and shape[axis] > 0:
            items.append(("int", draw(st.integers(-shape[axis], shape[axis] - 1))))
        else:
            step = draw(st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 4])))
            items.append(("slice", (draw(SLICE_PART), draw(SLICE_PART), step)))
        if draw(st.integers(0, 5)) == 0:
            items.append(("new", None))
    symbolic = draw(st.lists(st.booleans(), min_size=3 * len(items), max_size=3 * len(items)))
    return shape, items, symbolic


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(basic_index())
def test_random_basic_index_vs_numpy(case):
    shape, items, symbolic = case
    a = np.arange(int(np.prod(shape)), dtype="float64").reshape(shape)
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    scalars, values = [], []
    flags = iter(symbolic)

    def part(v):
        if v is None or not next(flags):
            return v
        s = tt.lscalar()
        scalars.append(s)
        values.append(v)
        return s

    sym_index, np_index = [], []
    for kind, payload in items:
        if kind == "int":
            sym_index.append(part(payload))
            np_index.append(payload)
        elif kind == "slice":
            sym_index.append(slice(*[part(p) for p in payload]))
            np_index.append(slice(*payload))
        else:
            sym_index.append(None)
            np_index.append(None)
    out = x[tuple(sym_index)]
    got = run_both([x, *scalars], out, [a, *values])
    np.testing.assert_array_equal(got, a[tuple(np_index)])
    check_infer_shape(out, [x, *scalars], [a, *values])


# -- advanced indexing ---------------------------------------------------------------

ADVANCED_CASES = [
    (lambda a, i: a[i], (5, 3)),
    (lambda a, i: a[:, i[1:3]], (5, 3)),
    (lambda a, i: a[i, ::-1], (5, 3)),
    (lambda a, i: a[i, i[::-1] % 3], (5, 3)),
    (lambda a, i: a[1, :, i % 4], (2, 5, 4)),
    (lambda a, i: a[i, :, 1], (5, 2, 4)),
    (lambda a, i: a[:, i % 2, 1:3], (5, 2, 4)),
    (lambda a, i: a[None, i, None], (5, 3)),
    (lambda a, i: a[..., i % 3], (2, 5, 3)),
    (lambda a, i: a[i[:0]], (5, 3)),
]


@pytest.mark.parametrize("case", range(len(ADVANCED_CASES)))
def test_advanced_index_vs_numpy(case, rng):
    fn, shape = ADVANCED_CASES[case]
    a = _mat(rng, shape)
    idx = np.array([4, 0, -1, 2, 2])
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    i = tt.lvector("i")
    out = fn(x, i)
    assert isinstance(out.owner.op, AdvancedSubtensor)
    got = run_both([x, i], out, [a, idx])
    np.testing.assert_array_equal(got, fn(a, idx))
    check_infer_shape(out, [x, i], [a, idx])


@st.composite
def advanced_index(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.sampled_from([1, 2, 4])) for _ in range(ndim))
    idx_shapes = draw(st.sampled_from([[(2,)], [(3,), (1,)], [(2, 1), (3,)], [()]]))
    items = []
    for axis in range(ndim):
        kind = draw(st.sampled_from(["slice", "int", "array", "array"]))
        if kind == "slice":
            items.append(("slice", slice(draw(SLICE_PART), None, draw(st.sampled_from(
                [None, -1, 2])))))
        elif kind == "int":
            items.append(("int", draw(st.integers(-shape[axis], shape[axis] - 1))))
        else:
            ishape = draw(st.sampled_from(idx_shapes))
            vals = draw(st.lists(st.integers(-shape[axis], shape[axis] - 1),
                                 min_size=int(np.prod(ishape)), max_size=int(np.prod(ishape))))
            items.append(("array", np.array(vals, dtype="int64").reshape(ishape)))
        if draw(st.integers(0, 4)) == 0:
            items.insert(draw(st.integers(0, len(items))), ("new", None))
    return shape, items


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(advanced_index())
def test_random_advanced_index_vs_numpy(case):
    shape, items = case
    a = np.arange(int(np.prod(shape)), dtype="float64").reshape(shape)
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    arrays, values, sym_index, np_index = [], [], [], []
    for kind, payload in items:
        np_index.append(payload)
        if kind == "array":
            v = tt.tensor("int64", shape=(None,) * payload.ndim)
            arrays.append(v)
            values.append(payload)
            sym_index.append(v)
        else:
            sym_index.append(payload)
    out = x[tuple(sym_index)]
    got = run_both([x, *arrays], out, [a, *values])
    np.testing.assert_array_equal(got, a[tuple(np_index)])
    check_infer_shape(out, [x, *arrays], [a, *values])
    y = a[tuple(np_index)] * 0 + 1
    ys = tt.tensor("float64", shape=(None,) * y.ndim)
    inc = tt.inc_subtensor(out, ys)
    want = a.copy()
    np.add.at(want, tuple(np_index), y)
    np.testing.assert_array_equal(run_both([x, ys, *arrays], inc, [a, y, *values]), want)


def test_constant_and_matrix_indices(rng):
    a = _mat(rng, (4, 3, 2))
    x = tt.dtensor3("x")
    cases = [
        (x[[0, 3, 3]], a[[0, 3, 3]]),
        (x[np.array([[1, 2], [0, 0]])], a[np.array([[1, 2], [0, 0]])]),
        (x[[1, 2], [0, 2]], a[[1, 2], [0, 2]]),
        (x[[[1], [2]], :, [0, 1]], a[[[1], [2]], :, [0, 1]]),
        (x[np.array([True, False, True, True])], a[np.array([True, False, True, True])]),
    ]
    for out, want in cases:
        got = run_both([x], out, [a])
        np.testing.assert_array_equal(got, want)
        check_infer_shape(out, [x], [a])


def test_boolean_masks(rng):
    a = _mat(rng, (3, 4, 2))
    x = tt.dtensor3("x")
    m2 = tt.tensor("bool", shape=(None, None), name="m2")
    mask = a[:, :, 0] > 0
    cases = [(x[x > 0], a[a > 0]), (x[m2], a[mask]), (x[m2, 1], a[mask, 1]),
             (x[:, m2[0]], a[:, mask[0]]), (x[1, m2[0], ::-1], a[1, mask[0], ::-1])]
    for out, want in cases:
        got = run_both([x, m2], out, [a, mask])
        np.testing.assert_array_equal(got, want)
        check_infer_shape(out, [x, m2], [a, mask])
    empty = np.zeros((0, 4, 2))
    np.testing.assert_array_equal(run_both([x], x[x > 0], [empty]), empty[empty > 0])


def test_advanced_index_errors(rng):
    x = tt.dmatrix("x")
    i = tt.lvector("i")
    f = th.function([x, i], x[i])
    with pytest.raises(IndexError, match=r"index 9 .*shape \(3, 2\)"):
        f(_mat(rng, (3, 2)), np.array([0, 9]))
    with pytest.raises(ValueError, match="broadcast"):
        x[tt.constant(np.array([0, 1])), tt.constant(np.array([0, 1, 1]))]


# -- set / inc -----------------------------------------------------------------------

WRITE_CASES = [
    (lambda a: a[1:3], (5, 3)),
    (lambda a: a[-1], (5, 3)),
    (lambda a: a[::-2, 1], (5, 3)),
    (lambda a: a[None, 2], (5, 3)),
    (lambda a: a[1:][::2], (5, 3)),
    (lambda a: a[1:][1, 1:], (5, 3)),
    (lambda a: a[[0, 2, 0, 4]], (5, 3)),
    (lambda a: a[[1, 1], [2, 2]], (5, 3)),
    (lambda a: a[:, [0, 0, 2]], (5, 3)),
    (lambda a: a[1:, [0, 0]], (5, 3)),
    (lambda a: a[0, :, [1, 1]], (2, 5, 3)),
]


def _numpy_write(fn, a, y, inc):
    out = a.copy()
    if inc:
        # np.add.at semantics through the (possibly nested) index
        view_index = np.arange(a.size).reshape(a.shape)
        flat = fn(view_index)
        np.add.at(out.reshape(-1), flat.reshape(-1), np.broadcast_to(y, flat.shape).reshape(-1))
    else:
        view_index = np.arange(a.size).reshape(a.shape)
        flat = fn(view_index)
        out.reshape(-1)[flat.reshape(-1)] = np.broadcast_to(y, flat.shape).reshape(-1)
    return out


@pytest.mark.parametrize("inc", [False, True])
@pytest.mark.parametrize("case", range(len(WRITE_CASES)))
def test_set_inc_subtensor_vs_numpy(case, inc, rng):
    fn, shape = WRITE_CASES[case]
    a = _mat(rng, shape)
    target_shape = fn(a).shape
    x = tt.tensor("float64", shape=(None,) * len(shape), name="x")
    for yshape in (target_shape, target_shape[1:], (1,) * len(target_shape)):
        y = tt.tensor("float64", shape=tuple(1 if s == 1 else None for s in yshape), name="y")
        yv = _mat(rng, yshape)
        write = tt.inc_subtensor if inc else tt.set_subtensor
        out = write(fn(x), y)
        assert out.type.shape == x.type.shape or out.ndim == x.ndim
        got = run_both([x, y], out, [a, yv])
        np.testing.assert_allclose(got, _numpy_write(fn, a, yv, inc))


def test_inc_repeated_indices_accumulate(rng):
    x = tt.dvector("x")
    i = tt.lvector("i")
    a = np.zeros(4)
    idx = np.array([1, 1, 3, 1])
    got = run_both([x, i], tt.inc_subtensor(x[i], 1.0), [a, idx])
    want = a.copy()
    np.add.at(want, idx, 1.0)
    np.testing.assert_array_equal(got, want)
    mask = tt.inc_subtensor(x[x > 0], 10.0)
    b = np.array([1.0, -1.0, 2.0])
    np.testing.assert_array_equal(run_both([x], mask, [b]), np.where(b > 0, b + 10, b))


def test_set_inc_dtypes_and_errors():
    x = tt.fmatrix("x")
    out = tt.set_subtensor(x[0], tt.dvector("y"))
    assert out.dtype == "float32"
    assert tt.inc_subtensor(x[0], 1).dtype == "float32"
    ix = tt.lmatrix("ix")
    with pytest.raises(TypeError, match="cannot write a value of dtype float64"):
        tt.set_subtensor(ix[0], tt.dvector())
    with pytest.raises(TypeError, match="cannot write"):
        tt.inc_subtensor(ix[0], 0.5)
    with pytest.raises(TypeError, match="indexed tensor"):
        tt.set_subtensor(x, 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        tt.set_subtensor(tt.tensor("float64", shape=(4, 3))[1:3], tt.tensor("float64",
                                                                           shape=(4,)))


def test_inplace_flag_destroys_input(rng):
    a = _mat(rng, (3, 2))
    x = tt.dmatrix("x")
    for cls, idx_list, extra in [(IncSubtensor, (1,), []),
                                 (AdvancedIncSubtensor, ("a",), [np.array([0, 0])])]:
        op = cls(idx_list, inplace=True)
        assert op.destroy_map == {0: [0]}
        assert cls(idx_list).destroy_map == {}
        node = op.make_node(x, tt.constant(1.0), *[tt.constant(e) for e in extra])
        buf = a.copy()
        store = [[None]]
        op.perform(node, [buf, np.float64(1.0), *extra], store)
        assert store[0][0] is buf
        assert not np.array_equal(buf, a)


def test_props_merge_equal_indexings():
    assert Subtensor((("s", 1, None, None),)) == Subtensor((("s", 1, None, None),))
    assert hash(IncSubtensor((1,), set_instead_of_inc=True)) == hash(
        IncSubtensor((1,), set_instead_of_inc=True))
    assert IncSubtensor((1,)) != IncSubtensor((1,), inplace=True)
    x = tt.dmatrix()
    assert x[1:].owner.op == x[1:].owner.op


# -- gradients -----------------------------------------------------------------------


def test_subtensor_grads(rng):
    x = tt.dtensor3("x")
    a = _mat(rng, (3, 4, 2))
    i = tt.lscalar("i")
    for out, ins, vals in [(x[1:, ::-2, 0], [x], [a]), (x[i, :, -1], [x, i], [a, 2]),
                           (x[[0, 2, 0]], [x], [a]), (x[:, [1, 1], [0, 1]], [x], [a]),
                           (x[x > 0], [x], [a])]:
        check_vjp(out, ins, vals, [0], rng)


@pytest.mark.parametrize("inc", [False, True])
def test_inc_subtensor_grads(inc, rng):
    x = tt.dmatrix("x")
    write = tt.inc_subtensor if inc else tt.set_subtensor
    a = _mat(rng, (4, 3))
    for fn, y, yv in [(lambda t: t[1:3], tt.dvector("y"), _mat(rng, (3,))),
                      (lambda t: t[[0, 2, 0]], tt.dmatrix("y"), _mat(rng, (3, 3))),
                      (lambda t: t[:, [1, 1]], tt.tensor("float64", shape=(None, 1)),
                       _mat(rng, (4, 1)))]:
        out = write(fn(x), y)
        assert isinstance(out.owner.op, (IncSubtensor, AdvancedIncSubtensor))
        check_vjp(out, [x, y], [a, yv], [0, 1], rng)


def test_grad_of_int_input_is_none():
    x = tt.lmatrix()
    node = x[1].owner
    assert node.op.L_op(node.inputs, node.outputs, [node.outputs[0].type()]) == [None]
