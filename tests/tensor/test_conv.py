"""``theanine.tensor.nnet`` convolution: every border mode, stride, dilation, groups
and flip against loop references and SciPy, through the shared op checker (every
linker, JAX included; shapes; gradients); shape hints; Theano's helpers."""

from __future__ import annotations

import warnings

import conv_reference as ref
import numpy as np
import pytest
import scipy.signal
from op_checker import FLOATS, OpCase, case_params, check_case, check_infer_shape

import theanine as th
import theanine.tensor as tt
from theanine.tensor.nnet import abstract_conv as ac
from theanine.tensor.nnet import conv as legacy
from theanine.tensor.nnet import conv2d, conv2d_transpose, conv3d
from theanine.tensor.nnet import conv_kernels as ck
from theanine.tensor.type import TensorType

X2, W2 = (2, 4, 7, 6), (6, 4, 3, 2)          # image, filters (one group)


def _conv_case(name, border="valid", stride=(1, 1), dilation=(1, 1), groups=1, flip=True,
               shapes=None, dtypes=("float64",)):
    kw = dict(border_mode=border, subsample=stride, filter_dilation=dilation,
              num_groups=groups, filter_flip=flip)
    shapes = shapes or [(X2, (6, 4 // groups, 3, 2))]
    return OpCase(f"conv2d[{name}]", lambda x, w: conv2d(x, w, **kw),
                  lambda x, w: ref.conv(x, w, border, stride, dilation, groups, flip),
                  nin=2, shapes=shapes, domains=((-1.0, 1.0),), dtypes=dtypes)


CONV_CASES = [
    _conv_case("valid", shapes=[(X2, W2), ((1, 1, 5, 5), (1, 1, 5, 5)), ((3, 2, 4, 9),
                                                                         (1, 2, 1, 4))],
               dtypes=FLOATS),
    _conv_case("valid,no flip", flip=False),
    _conv_case("full", "full"),
    _conv_case("half", "half", shapes=[(X2, W2), ((1, 2, 5, 6), (3, 2, 3, 3))], dtypes=FLOATS),
    _conv_case("int pad,stride", 1, stride=(2, 3)),
    _conv_case("tuple pad,no flip", (2, 0), flip=False),
    _conv_case("pairs pad,stride", ((1, 2), (0, 3)), stride=(2, 1)),
    _conv_case("dilation", "valid", dilation=(2, 2)),
    _conv_case("half,dilation,stride", "half", stride=(2, 2), dilation=(1, 2)),
    _conv_case("groups", "valid", groups=2),
    _conv_case("groups,full,stride,no flip", "full", stride=(1, 2), groups=4, flip=False,
               shapes=[(X2, (8, 1, 3, 2))], dtypes=FLOATS),
    OpCase("conv2d[unshared]", lambda x, w: conv2d(x, w, unshared=True),
           lambda x, w: ref.conv_unshared(x, w), nin=2, domains=((-1.0, 1.0),),
           shapes=[((2, 3, 5, 4), (2, 3, 3, 3, 3, 2))]),
    OpCase("conv2d[unshared,half,stride,dilation,groups,no flip]",
           lambda x, w: conv2d(x, w, border_mode="half", subsample=(2, 1),
                               filter_dilation=(1, 2), num_groups=2, filter_flip=False,
                               unshared=True),
           lambda x, w: ref.conv_unshared(x, w, "half", (2, 1), (1, 2), 2, False),
           nin=2, shapes=[((2, 4, 6, 5), (4, 3, 5, 2, 3, 2))], dtypes=("float64",)),
    OpCase("conv3d[half,stride,dilation]",
           lambda x, w: conv3d(x, w, border_mode="half", subsample=(1, 2, 1),
                               filter_dilation=(1, 1, 2)),
           lambda x, w: ref.conv(x, w, "half", (1, 2, 1), (1, 1, 2)),
           nin=2, shapes=[((2, 2, 4, 5, 5), (3, 2, 2, 3, 2))], dtypes=("float64",)),
    OpCase("conv3d[valid,groups,no flip]",
           lambda x, w: conv3d(x, w, num_groups=2, filter_flip=False),
           lambda x, w: ref.conv(x, w, groups=2, flip=False),
           nin=2, shapes=[((1, 4, 3, 4, 5), (2, 2, 2, 2, 3))], dtypes=("float64",)),
]


def _grad_inputs_case(name, in_shape, border, stride, groups=1, flip=True, top=None):
    kw = dict(border_mode=border, subsample=stride, num_groups=groups, filter_flip=flip)
    w = (6, 4 // groups, 3, 2)
    top = top or ref.conv(np.zeros(in_shape), np.zeros(w), border, stride, None, groups).shape
    return OpCase(f"conv2d_grad_wrt_inputs[{name}]",
                  lambda w_, gy: ac.conv2d_grad_wrt_inputs(gy, w_, in_shape, **kw),
                  lambda w_, gy: ref.grad_inputs(w_, gy, in_shape[2:], border, stride, None,
                                                 groups, flip),
                  nin=2, shapes=[(w, top)])


def _grad_weights_case(name, in_shape, border, stride, dilation=(1, 1), groups=1, flip=True):
    kw = dict(border_mode=border, subsample=stride, filter_dilation=dilation,
              num_groups=groups, filter_flip=flip)
    w = (6, 4 // groups, 3, 2)
    top = ref.conv(np.zeros(in_shape), np.zeros(w), border, stride, dilation, groups).shape
    return OpCase(f"conv2d_grad_wrt_weights[{name}]",
                  lambda x, gy: ac.conv2d_grad_wrt_weights(x, gy, w, **kw),
                  lambda x, gy: ref.grad_weights(x, gy, w[2:], border, stride, dilation,
                                                 groups, flip),
                  nin=2, shapes=[(in_shape, top)])


GRAD_CASES = [
    _grad_inputs_case("valid", X2, "valid", (1, 1)),
    # stride 2 on 7 rows: the last row is in no window and gets a zero gradient
    _grad_inputs_case("half,stride,groups,no flip", X2, "half", (2, 2), groups=2, flip=False),
    _grad_weights_case("full,stride", X2, "full", (2, 1)),
    _grad_weights_case("pad,dilation,groups", X2, (1, 1), (1, 2), (2, 1), groups=2),
    OpCase("conv2d_grad_wrt_weights[unshared,stride]",
           lambda x, gy: ac.conv2d_grad_wrt_weights(x, gy, (2, 2, 2, 2, 2, 2), subsample=(2, 2),
                                                    unshared=True),
           lambda x, gy: _unshared_grad_weights(x, gy, (2, 2, 2, 2, 2, 2), (2, 2)),
           nin=2, shapes=[((1, 2, 5, 4), (1, 2, 2, 2))], dtypes=("float64",)),
    OpCase("conv2d_transpose[stride 2]",
           lambda x, w: conv2d_transpose(x, w, (2, 6, 8, 7), input_dilation=(2, 2)),
           lambda x, w: ref.grad_inputs(w, x, (8, 7), "valid", (2, 2)),
           nin=2, shapes=[((2, 3, 3, 3), (3, 6, 3, 2))], dtypes=("float64",)),
]


def _unshared_grad_weights(x, gy, wshape, stride):
    """The weight gradient of the unshared convolution by linearity: the reference
    convolution applied to each basis filter, contracted with ``gy``."""
    gw = np.zeros(wshape)
    for idx in np.ndindex(*wshape):
        basis = np.zeros(wshape)
        basis[idx] = 1
        gw[idx] = (ref.conv_unshared(x, basis, stride=stride) * gy).sum()
    return gw


@pytest.mark.parametrize("case,dtype,quick", case_params(CONV_CASES + GRAD_CASES))
def test_conv_op_checked(case, dtype, quick):
    counts = check_case(case, dtype, quick=quick)
    assert counts["values"] > 0
    if not quick:
        assert counts["node_grads"] > 0 and counts["verify_grad"] > 0
    assert dtype in FLOATS


def _run(build, *arrays):
    ins = [TensorType(str(a.dtype), (None,) * a.ndim)() for a in arrays]
    return th.function(ins, build(*ins))(*arrays)


def test_matches_scipy_convolve_and_correlate():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 1, 9, 7)), rng.normal(size=(1, 1, 4, 3))
    for border in ("valid", "full"):
        got = _run(lambda a, b, border=border: conv2d(a, b, border_mode=border), x, w)
        np.testing.assert_allclose(got[0, 0], scipy.signal.convolve2d(x[0, 0], w[0, 0], border))
        got = _run(lambda a, b, border=border: conv2d(a, b, border_mode=border,
                                                      filter_flip=False), x, w)
        np.testing.assert_allclose(got[0, 0],
                                   scipy.signal.correlate2d(x[0, 0], w[0, 0], border))
        got = _run(lambda a, b, border=border: legacy.conv2d(a, b, border_mode=border), x, w)
        np.testing.assert_allclose(got[0, 0], scipy.signal.convolve2d(x[0, 0], w[0, 0], border))


def test_half_keeps_the_size_for_odd_kernels_and_adds_one_for_even():
    x = TensorType("float64", (5, 3, 8, 8))("x")
    assert conv2d(x, TensorType("float64", (2, 3, 3, 5))(), (5, 3, 8, 8),
                  border_mode="half").type.shape == (5, 2, 8, 8)
    out = _run(lambda a, b: conv2d(a, b, border_mode="half"), np.ones((1, 1, 6, 6)),
               np.ones((1, 1, 2, 4)))
    assert out.shape == (1, 1, 7, 7)


def test_static_shape_and_infer_shape_with_unknown_sizes():
    x = TensorType("float32", (None, 3, None, 9))("x")
    w = TensorType("float32", (4, 3, 2, 3))("w")
    y = conv2d(x, w, border_mode=(1, 0), subsample=(2, 2))
    assert y.type.shape == (None, 4, None, 4) and y.dtype == "float32"
    gx, gw = th.grad(y.sum(), [x, w])
    xv = np.ones((2, 3, 7, 9), "float32")
    wv = np.ones((4, 3, 2, 3), "float32")
    check_infer_shape([x, w], [y, gx, gw], [xv, wv], "conv2d")
    assert gw.type.shape == (4, 3, 2, 3) and gx.type.shape == (None, 3, None, None)


def test_mixed_dtypes_upcast_and_integers_are_refused():
    y = conv2d(tt.ftensor4(), tt.dtensor4())
    assert y.dtype == "float64"
    with pytest.raises(TypeError, match="float"):
        conv2d(tt.itensor4(), tt.itensor4())
    with pytest.raises(TypeError, match="4-d"):
        conv2d(tt.dmatrix(), tt.dtensor4())


def test_shape_hints_are_checked_when_built_and_when_run():
    with pytest.raises(ValueError, match="shape hint"):
        conv2d(TensorType("float64", (2, 3, 5, 5))(), tt.dtensor4(),
               input_shape=(2, 4, 5, 5))
    x, w = tt.dtensor4("x"), tt.dtensor4("w")
    f = th.function([x, w], conv2d(x, w, input_shape=(None, 3, 5, None),
                                   filter_shape=(2, 3, 3, 3)))
    assert f(np.ones((1, 3, 5, 4)), np.ones((2, 3, 3, 3))).shape == (1, 2, 3, 2)
    with pytest.raises(ValueError, match=r"image shape \(1, 3, 6, 4\).*hint"):
        f(np.ones((1, 3, 6, 4)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"filter shape \(2, 3, 3, 2\).*hint"):
        f(np.ones((1, 3, 5, 4)), np.ones((2, 3, 3, 2)))
    with pytest.raises(ValueError, match="imshp must have 4 entries"):
        conv2d(x, w, input_shape=(3, 5, 5))
    # symbolic entries (Theano allowed them) are unknown sizes
    assert conv2d(x, w, input_shape=(tt.lscalar(), 3, 5, 4)).owner.op.imshp == (None, 3, 5, 4)


def test_channel_and_group_mismatches_are_clear_errors():
    x, w = tt.dtensor4("x"), tt.dtensor4("w")
    f = th.function([x, w], conv2d(x, w, num_groups=2))
    with pytest.raises(ValueError, match="channels"):
        f(np.ones((1, 4, 5, 5)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="groups"):
        f(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)))
    with pytest.raises(ValueError, match="output gradient has shape"):
        _run(lambda a, g: ac.conv2d_grad_wrt_weights(a, g, (2, 3, 3, 3)),
             np.ones((1, 3, 5, 5)), np.ones((1, 2, 4, 3)))


def test_bad_arguments():
    x, w = tt.dtensor4("x"), tt.dtensor4("w")
    for bad in ("same", -1, (1,), (1, 2, 3)):
        with pytest.raises(ValueError, match="border_mode"):
            conv2d(x, w, border_mode=bad)
    with pytest.raises(ValueError, match="subsample"):
        conv2d(x, w, subsample=(0, 1))
    with pytest.raises(TypeError, match="6-d tensor"):
        conv2d(x, w, unshared=True)
    with pytest.raises(ValueError, match="one filter per output pixel"):
        conv2d(TensorType("float64", (1, 2, 5, 5))(), TensorType("float64", (3, 3, 2, 2, 3, 3))(),
               unshared=True)
    with pytest.raises(ValueError, match="'valid' or 'full'"):
        legacy.conv2d(x, w, border_mode="half")
    with pytest.raises(TypeError, match="legacy"):
        conv2d(x, w, unroll_batch=2)
    legacy.conv2d(x, w, unroll_batch=2, unroll_kern=4)       # tuning keywords: ignored


def test_border_mode_normalised_like_theano():
    assert ac.AbstractConv2d(border_mode=0).border_mode == "valid"
    assert ac.AbstractConv2d(border_mode=(0, 0)).border_mode == "valid"
    assert ac.AbstractConv2d(border_mode=2).border_mode == (2, 2)
    assert ac.AbstractConv2d(border_mode=((1, 1), (0, 2))).border_mode == (1, (0, 2))
    assert ac.AbstractConv2d(border_mode=1) == ac.AbstractConv2d(border_mode=(1, 1))


def test_image_shape_is_the_deprecated_name_of_input_shape():
    x, w = tt.dtensor4("x"), tt.dtensor4("w")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = conv2d(x, w, image_shape=(1, 2, 5, 5))
    assert "DEPRECATION" in str(caught[0].message)
    assert y.owner.op.imshp == (1, 2, 5, 5)
    with pytest.raises(ValueError, match="not both"):
        conv2d(x, w, input_shape=(1, 2, 5, 5), image_shape=(1, 2, 5, 5))


def test_get_conv_output_shape():
    assert ac.get_conv_output_shape((8, 3, 28, 28), (20, 3, 5, 5), "valid", (1, 1)) == \
        (8, 20, 24, 24)
    assert ac.get_conv_output_shape((8, 3, 28, 27), (20, 3, 5, 4), "half", (2, 2)) == \
        (8, 20, 14, 14)
    assert ac.get_conv_output_shape((None, 3, 10, None), (4, 3, 3, 3), "full", (1, 1),
                                    (2, 2)) == (None, 4, 14, None)
    assert ac.get_conv_output_shape((1, 1, 9, 9), (1, 1, 3, 3), (1, 2), (3, 1)) == \
        (1, 1, 3, 11)
    assert ac.get_conv_shape_1axis(10, 3, ((2, 0)), 1) == 10


def test_symbolic_input_shape_for_the_gradient_functions():
    gy, w = tt.dtensor4("gy"), tt.dtensor4("w")
    rows, cols = tt.lscalar("rows"), tt.lscalar("cols")
    gx = ac.conv2d_grad_wrt_inputs(gy, w, (None, None, rows, cols), subsample=(2, 2))
    rng = np.random.default_rng(0)
    wv, gyv = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=(1, 3, 2, 2))
    f = th.function([gy, w, rows, cols], gx)
    for r in (5, 6):   # both image sizes give a 2x2 output with stride 2
        np.testing.assert_allclose(f(gyv, wv, r, r),
                                   ref.grad_inputs(wv, gyv, (r, r), stride=(2, 2)))


def test_second_derivatives_exist():
    rng = np.random.default_rng(1)
    xv, wv = rng.normal(size=(1, 2, 5, 4)), rng.normal(size=(2, 2, 2, 2))
    th.gradient.verify_grad(lambda x, w: (th.grad((conv2d(x, w, subsample=(2, 1)) ** 2).sum(),
                                                  w) ** 2).sum(), [xv, wv], rng=rng)


@pytest.mark.parametrize("groups", [1, 2])
def test_batches_split_into_slices_give_the_same_values(monkeypatch, groups):
    """The kernels build im2col for a slice of the batch at a time; a tiny budget
    makes every slice one image; 2 * 360 (360 = 15 output pixels x 4 channels x 6
    kernel cells) two images, the last slice one."""
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(7, 4, 6, 5)), rng.normal(size=(6, 4 // groups, 3, 2))
    args = ("half", (2, 1), (1, 2), groups)
    y = ref.conv(x, w, *args)
    gy = rng.normal(size=y.shape)
    want = [y, ref.grad_weights(x, gy, (3, 2), *args), ref.grad_inputs(w, gy, (6, 5), *args)]
    xs, ws, gys = tt.dtensor4("x"), tt.dtensor4("w"), tt.dtensor4("gy")
    kw = dict(border_mode="half", subsample=(2, 1), filter_dilation=(1, 2), num_groups=groups)
    f = th.function([xs, ws, gys], [conv2d(xs, ws, **kw),
                                    ac.conv2d_grad_wrt_weights(xs, gys, w.shape, **kw),
                                    ac.conv2d_grad_wrt_inputs(gys, ws, x.shape, **kw)])
    for budget in (1, 2 * 360, 1 << 20):
        monkeypatch.setattr(ck, "_COLS_BUDGET", budget)
        for got, expected in zip(f(x, w, gy), want):
            np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("border", ["valid", "full", 2, ((1, 0), (2, 3))])
def test_gradient_shape_helpers_invert_the_output_shape(border):
    image, kern = (3, 4, 11, 9), (6, 2, 3, 4)
    top = ac.get_conv_output_shape(image, kern, border, (1, 1), (2, 1))
    assert ac.get_conv_gradinputs_shape(kern, top, border, (1, 1), (2, 1), num_groups=2) == \
        image
    assert ac.get_conv_gradweights_shape(image, top, border, (1, 1), (2, 1), num_groups=2) == \
        kern
    assert ac.get_conv_gradweights_shape(image, top, border, (1, 1), (2, 1), 2, True) == \
        (6,) + top[2:] + (2, 3, 4)


def test_gradient_shape_helpers_say_none_when_ambiguous():
    assert ac.get_conv_gradinputs_shape((2, 3, 3, 3), (1, 2, 4, 4), "valid", (2, 1)) == \
        (1, 3, None, 6)
    assert ac.get_conv_gradweights_shape((1, 3, 8, 8), (1, 2, 8, 8), "half", (1, 1)) == \
        (2, 3, None, None)
