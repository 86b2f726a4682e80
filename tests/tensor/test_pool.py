"""``theanine.tensor.signal.pool`` values and shapes against loop references, Theano's
argument handling (defaults, deprecated names, warnings) and its errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from op_checker import check_infer_shape
from pool_reference import distinct, ref_pool, ref_same_size

import theanine as th
import theanine.tensor as tt
import theanine.tensor.signal.pool as pool
from theanine.tensor.signal import Pool, pool_2d, pool_3d
from theanine.tensor.type import TensorType

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")

# (input shape, ws, stride, pad, ignore_border values)
GEOMETRIES_2D = [
    ((5, 5), (2, 2), None, (0, 0), (False, True)),          # partial last window
    ((4, 6), (2, 3), None, (0, 0), (False, True)),          # exact tiling
    ((3, 7, 6), (3, 2), (1, 1), (0, 0), (False, True)),     # window > stride
    ((2, 3, 5, 4), (2, 2), (3, 3), (0, 0), (False, True)),  # stride > window
    ((2, 3, 7, 5), (3, 3), (2, 1), (0, 0), (False, True)),  # overlapping, mixed stride
    ((7, 5), (3, 2), (2, 2), (1, 1), (True,)),              # padding
    ((2, 6, 6), (3, 3), (2, 2), (2, 1), (True,)),           # padding, asymmetric
    ((1, 2, 5, 3), (4, 4), (1, 3), (1, 0), (True,)),        # window larger than input
    ((2, 2), (3, 3), None, (0, 0), (False, True)),          # window larger than input
    ((9, 1), (2, 1), (3, 1), (0, 0), (False, True)),        # size-1 axis
]

GEOMETRIES_3D = [
    ((4, 5, 6), (2, 2, 2), None, (0, 0, 0), (False, True)),
    ((2, 5, 4, 7), (3, 2, 2), (2, 1, 3), (0, 0, 0), (False, True)),
    ((2, 1, 5, 5, 4), (2, 3, 2), (2, 2, 2), (1, 1, 1), (True,)),
]


def _cases(geometries):
    for shape, ws, stride, pad, borders in geometries:
        for ib, mode in itertools.product(borders, MODES):
            yield pytest.param(shape, ws, stride, pad, ib, mode,
                               id=f"{shape}-ws{ws}-st{stride}-pad{pad}-ib{ib}-{mode}")


def _run(fn_builder, x_val, static=False):
    shape = x_val.shape if static else (None,) * x_val.ndim
    x = TensorType(str(x_val.dtype), shape)("x")
    y = fn_builder(x)
    got = th.function([x], y)(x_val)
    return x, y, got


def _check(shape, ws, stride, pad, ib, mode, build, dtype):
    rng = np.random.default_rng(abs(hash((shape, ws, mode))) % 2**32)
    x_val = rng.uniform(-2, 2, size=shape).astype(dtype)
    want = ref_pool(x_val, ws, stride, pad, ib, mode)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    for static in (False, True):
        x, y, got = _run(lambda x: build(x, ws, ignore_border=ib, stride=stride, pad=pad,
                                         mode=mode), x_val, static)
        assert got.dtype == np.dtype(dtype)
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
        if static:   # the static shape is computed from constant ws/stride/pad
            assert y.type.shape == want.shape
        else:
            assert y.type.shape[:-len(ws)] == (None,) * (len(shape) - len(ws))
            check_infer_shape([x], [y], [x_val], "pool")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape,ws,stride,pad,ib,mode", list(_cases(GEOMETRIES_2D)))
def test_pool_2d_values(shape, ws, stride, pad, ib, mode, dtype):
    _check(shape, ws, stride, pad, ib, mode, pool_2d, dtype)


@pytest.mark.parametrize("shape,ws,stride,pad,ib,mode", list(_cases(GEOMETRIES_3D)))
def test_pool_3d_values(shape, ws, stride, pad, ib, mode):
    _check(shape, ws, stride, pad, ib, mode, pool_3d, "float64")


@pytest.mark.parametrize("mode", MODES)
def test_integer_input(mode):
    x_val = np.arange(-12, 18, dtype="int32").reshape(5, 6)
    _, y, got = _run(lambda x: pool_2d(x, (2, 4), ignore_border=False, mode=mode), x_val)
    assert got.dtype == np.int32 and y.dtype == "int32"
    want = ref_pool(x_val.astype("float64"), (2, 4), mode=mode)
    # averages of ints are truncated toward zero, as storing into an int array does
    np.testing.assert_array_equal(got, np.trunc(want).astype("int32"))


def test_padding_is_never_a_max_and_excluded_or_counted_in_averages():
    x_val = -np.ones((1, 3, 3))
    out = {m: _run(lambda x, m=m: pool_2d(x, (2, 2), ignore_border=True, pad=(1, 1), mode=m),
                   x_val)[2] for m in MODES}
    np.testing.assert_array_equal(out["max"], -np.ones((1, 2, 2)))
    np.testing.assert_array_equal(out["sum"], [[[-1, -2], [-2, -4]]])
    np.testing.assert_array_equal(out["average_exc_pad"], -np.ones((1, 2, 2)))
    np.testing.assert_array_equal(out["average_inc_pad"], [[[-0.25, -0.5], [-0.5, -1]]])


def test_overlapping_windows_example():
    x_val = np.arange(16, dtype="float64").reshape(4, 4)
    got = _run(lambda x: pool_2d(x, (3, 3), ignore_border=True, stride=(1, 1)), x_val)[2]
    np.testing.assert_array_equal(got, [[10, 11], [14, 15]])
    got = _run(lambda x: pool_2d(x, (3, 3), ignore_border=False, stride=(2, 2),
                                 mode="average_inc_pad"), x_val)[2]
    # windows rows/cols [0, 3) and [2, 4): the last window is cut to 2 cells
    np.testing.assert_allclose(got, [[5, 6.5], [11, 12.5]])


def test_symbolic_window_size():
    x = tt.dtensor3("x")
    ws, st = tt.lvector("ws"), tt.lvector("st")
    for ib in (False, True):
        y = pool_2d(x, ws, ignore_border=ib, stride=st, mode="sum")
        assert y.type.shape == (None, None, None)
        f = th.function([x, ws, st], [y, y.shape])
        x_val = np.random.default_rng(1).uniform(size=(2, 7, 5))
        for w, s in [((2, 2), (2, 2)), ((3, 2), (1, 3)), ((2, 3), (3, 1))]:
            val, shp = f(x_val, np.array(w), np.array(s))
            np.testing.assert_allclose(val, ref_pool(x_val, w, s, None, ib, "sum"))
            assert tuple(shp) == val.shape
        check_infer_shape([x, ws, st], [y], [x_val, np.array([3, 2]), np.array([1, 2])],
                          "symbolic ws")


def test_out_shape_static_method():
    assert Pool.out_shape((3, 2, 5, 5), (2, 2), ignore_border=False) == [3, 2, 3, 3]
    assert Pool.out_shape((3, 2, 5, 5), (2, 2), ignore_border=True) == [3, 2, 2, 2]
    assert Pool.out_shape((7, 6), (3, 3), True, (2, 2), (1, 1)) == [4, 3]
    assert Pool.out_shape((4, 5, 6), (2, 2, 2), False, ndim=3) == [2, 3, 3]
    with pytest.warns(UserWarning, match="DEPRECATION"):
        assert Pool.out_shape((5, 5), ds=(2, 2), st=(1, 1)) == [4, 4]
    with pytest.raises(TypeError, match="at least 2"):
        Pool.out_shape((5,), (2, 2))


def test_empty_inputs():
    # empty batch axes: empty output
    got = _run(lambda x: pool_2d(x, (2, 2), ignore_border=True), np.zeros((0, 4, 4)))[2]
    assert got.shape == (0, 2, 2)
    # an empty pooled axis: Theano's out_shape may still count one window (with
    # ignore_border=False and stride < ws); windows holding no input cell give 0
    got = _run(lambda x: pool_2d(x, (3, 2), ignore_border=False, stride=(1, 2)),
               np.zeros((0, 4)))[2]
    np.testing.assert_array_equal(got, np.zeros((1, 2)))


# -- max_pool_2d_same_size ------------------------------------------------------------

@pytest.mark.parametrize("shape,patch", [((4, 4), (2, 2)), ((2, 3, 5, 7), (2, 3)),
                                         ((3, 6), (3, 1)), ((1, 5, 5), (5, 5))])
def test_max_pool_2d_same_size(shape, patch):
    x_val = distinct(np.random.default_rng(3), shape, "float64")
    got = _run(lambda x: pool.max_pool_2d_same_size(x, patch), x_val)[2]
    assert got.shape == x_val.shape
    np.testing.assert_array_equal(got, ref_same_size(x_val, patch))


def test_max_pool_2d_same_size_keeps_ties_and_drops_partial_patches():
    x_val = np.array([[1., 3., 3., 0., 9.],
                      [2., 3., 1., 2., 9.],
                      [5., 4., 7., 7., 9.]])
    got = _run(lambda x: pool.max_pool_2d_same_size(x, (2, 2)), x_val)[2]
    np.testing.assert_array_equal(got, [[0, 3, 3, 0, 0],
                                        [0, 3, 0, 0, 0],
                                        [0, 0, 0, 0, 0]])


# -- Theano's documented example (the LeNet tutorial) ---------------------------------

def test_theano_tutorial_example():
    inp = tt.dtensor4("input")
    invals = np.random.RandomState(1).rand(3, 2, 5, 5)
    f = th.function([inp], pool.pool_2d(inp, (2, 2), ignore_border=True))
    out = f(invals)
    assert out.shape == (3, 2, 2, 2)
    np.testing.assert_allclose(out[0, 0], [[0.72032449, 0.39676747],
                                           [0.6852195, 0.87811744]], rtol=1e-7)
    f = th.function([inp], pool.pool_2d(inp, (2, 2), ignore_border=False))
    out = f(invals)
    assert out.shape == (3, 2, 3, 3)
    np.testing.assert_allclose(out[1, 0], [[0.67883553, 0.58930554, 0.69975836],
                                           [0.66379465, 0.94459476, 0.58655504],
                                           [0.90340192, 0.80739129, 0.39767684]], rtol=1e-7)


# -- arguments: defaults, deprecated names, errors ------------------------------------

def test_ignore_border_none_warns_and_means_false():
    x = tt.dmatrix("x")
    with pytest.warns(UserWarning, match="ignore_border") as record:
        y = pool_2d(x, (2, 2))
    assert record[0].filename == __file__
    assert y.owner.op == Pool(ignore_border=False, mode="max", ndim=2)
    with pytest.warns(UserWarning, match="ignore_border"):
        y3 = pool_3d(tt.dtensor3("x3"), (2, 2, 2))
    assert y3.owner.op.ignore_border is False and y3.owner.op.ndim == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool_2d(x, (2, 2), ignore_border=True)   # explicit: no warning


def test_stride_defaults_to_ws_and_pad_to_zero():
    y = pool_2d(tt.dmatrix("x"), (3, 2), ignore_border=True)
    _, ws, stride, pad = y.owner.inputs
    np.testing.assert_array_equal(ws.data, [3, 2])
    np.testing.assert_array_equal(stride.data, [3, 2])
    np.testing.assert_array_equal(pad.data, [0, 0])


def test_deprecated_argument_names():
    x = tt.dmatrix("x")
    with pytest.warns(UserWarning, match="DEPRECATION.*'ds'") as record:
        y = pool_2d(x, ds=(2, 2), ignore_border=True)
    assert record[0].filename == __file__    # reported at the caller's line
    with pytest.warns(UserWarning, match="DEPRECATION.*'st'"):
        y2 = pool_2d(x, (3, 3), st=(1, 1), ignore_border=True)
    with pytest.warns(UserWarning, match="DEPRECATION.*'padding'"):
        y3 = pool_2d(x, (3, 3), padding=(1, 1), ignore_border=True, mode="sum")
    x_val = np.arange(20.0).reshape(4, 5)
    f = th.function([x], [y, y2, y3])
    got = f(x_val)
    np.testing.assert_array_equal(got[0], ref_pool(x_val, (2, 2), None, None, True))
    np.testing.assert_array_equal(got[1], ref_pool(x_val, (3, 3), (1, 1), None, True))
    np.testing.assert_array_equal(got[2], ref_pool(x_val, (3, 3), None, (1, 1), True, "sum"))
    with pytest.raises(ValueError, match="'ws'.*'ds'"):
        pool_2d(x, (2, 2), ds=(2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="'stride'.*'st'"):
        pool_2d(x, (2, 2), stride=(1, 1), st=(1, 1), ignore_border=True)
    with pytest.raises(ValueError, match="'pad'.*'padding'"):
        pool_3d(tt.dtensor3("x"), (2, 2, 2), pad=(1, 1, 1), padding=(1, 1, 1),
                ignore_border=True)
    with pytest.raises(ValueError, match="window size"):
        pool_2d(x, ignore_border=True)


def test_modes():
    x = tt.dmatrix("x")
    assert pool_2d(x, (2, 2), True, mode="max_deterministic").owner.op.mode == "max"
    with pytest.raises(ValueError, match="'average' is spelled 'average_inc_pad'"):
        pool_2d(x, (2, 2), True, mode="average")
    with pytest.raises(ValueError, match="mode must be one of"):
        Pool(True, mode="min")
    with pytest.raises(ValueError, match="mode must be one of"):
        pool.AveragePoolGrad(True, mode="max")
    with pytest.raises(ValueError, match="mode must be one of"):
        pool.MaxPoolGrad(True, mode="sum")
    with pytest.raises(ValueError, match="ndim"):
        Pool(True, ndim=0)


def test_errors():
    x = tt.dmatrix("x")
    with pytest.raises(NotImplementedError, match="pool_2d requires a dimension >= 2"):
        pool_2d(tt.dvector("v"), (2, 2), True)
    with pytest.raises(NotImplementedError, match="pool_3d requires a dimension >= 3"):
        pool_3d(x, (2, 2, 2), True)
    with pytest.raises(TypeError, match="x has 1 dims"):
        Pool(True)(tt.dvector("v"), (2, 2))
    with pytest.raises(TypeError, match="x must be a float or integer tensor"):
        Pool(True)(TensorType("bool", (None, None))("b"), (2, 2))
    with pytest.raises(TypeError, match="ws must be a vector of ints"):
        Pool(True)(x, (2.0, 2.0))
    with pytest.raises(TypeError, match="stride must be a vector of ints"):
        Pool(True)(x, (2, 2), tt.dvector("s"))
    with pytest.raises(TypeError, match="pad must be a vector of ints"):
        Pool(True)(x, (2, 2), (1, 1), tt.lmatrix("p"))
    with pytest.raises(ValueError, match="ws has 3 entries"):
        Pool(True)(x, (2, 2, 2))
    with pytest.raises(ValueError, match="ws must be >= 1"):
        Pool(True)(x, (0, 2))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        Pool(True)(x, (2, 2), (2, 0))
    with pytest.raises(ValueError, match="pad must be >= 0"):
        Pool(True)(x, (2, 2), (2, 2), (-1, 0))
    with pytest.raises(NotImplementedError, match="only with ignore_border=True"):
        pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(NotImplementedError, match="smaller than the window"):
        pool_2d(x, (2, 2), ignore_border=True, pad=(2, 0))
    with pytest.raises(TypeError, match="gz has 3 dims"):
        pool.MaxPoolGrad(True)(x, x, tt.dtensor3("g"), (2, 2))
    with pytest.raises(TypeError, match="maxout has 1 dims"):
        pool.DownsampleFactorMaxGradGrad(True)(x, tt.dvector("m"), x, (2, 2))
    with pytest.raises(TypeError, match="gz must be a float or integer tensor"):
        pool.AveragePoolGrad(True)(x, TensorType("bool", (None, None))("g"), (2, 2))


def test_errors_at_run_time():
    x, ws = tt.dmatrix("x"), tt.lvector("ws")
    f = th.function([x, ws], pool_2d(x, ws, ignore_border=True))
    np.testing.assert_array_equal(f(np.ones((4, 4)), np.array([2, 2])), np.ones((2, 2)))
    with pytest.raises(ValueError, match="ws must be >= 1"):
        f(np.ones((4, 4)), np.array([0, 2]))
    with pytest.raises(ValueError, match="ws has 3 entries"):
        f(np.ones((4, 4)), np.array([2, 2, 2]))
    g = th.function([x, ws], pool.MaxPoolGrad(True)(x, x, x, ws))
    with pytest.raises(ValueError, match="maxout has shape"):
        g(np.ones((4, 4)), np.array([2, 2]))


def test_import_paths():
    import theanine.tensor.signal as signal

    assert signal.pool is pool
    assert signal.pool_2d is pool.pool_2d and signal.Pool is pool.Pool
    assert {"pool_2d", "pool_3d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad",
            "AveragePoolGrad", "DownsampleFactorMaxGradGrad"} <= set(pool.__all__)
    assert Pool(True) == Pool(ignore_border=True, mode="max", ndim=2)
    assert Pool(True) != Pool(False) and hash(Pool(True)) == hash(Pool(True))
