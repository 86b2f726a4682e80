"""Theano's ``nnet.neighbours`` against a loop reference written from Theano's
definition of each mode, through the op checker (every linker, gradients)."""

from __future__ import annotations

import numpy as np
import pytest
from op_checker import OpCase, case_params, check_case

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.tensor.nnet import neighbours
from theanine.tensor.nnet.neighbours import Images2Neibs, images2neibs, neibs2images


def ref_images2neibs(x, shape, step, mode):
    """One row per window, cell by cell (indices outside the image: zero, or wrapped)."""
    (c0, c1), (s0, s1) = shape, step or shape
    h, w = x.shape[2:]

    def axis(n, c, s):
        if mode == "wrap_centered":
            return -(-n // s), -(c // 2)
        pad = {"valid": 0, "ignore_borders": 0, "half": c // 2, "full": c - 1}[mode]
        return (n + 2 * pad - c) // s + 1, -pad

    (g0, o0), (g1, o1) = axis(h, c0, s0), axis(w, c1, s1)
    rows = []
    for b in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for a in range(g0):
                for d in range(g1):
                    row = []
                    for i in range(c0):
                        for j in range(c1):
                            r, c = a * s0 + i + o0, d * s1 + j + o1
                            if mode == "wrap_centered":
                                row.append(x[b, ch, r % h, c % w])
                            elif 0 <= r < h and 0 <= c < w:
                                row.append(x[b, ch, r, c])
                            else:
                                row.append(0.0)
                    rows.append(row)
    return np.array(rows, dtype=x.dtype).reshape(-1, c0 * c1)


GEOMETRIES = [
    ("valid", (2, 2), None, (2, 3, 4, 6)),
    ("valid", (3, 2), (1, 2), (1, 2, 5, 6)),
    ("ignore_borders", (3, 2), (2, 1), (2, 2, 6, 5)),
    ("ignore_borders", (2, 2), None, (1, 1, 5, 3)),
    ("half", (3, 3), (1, 2), (2, 1, 5, 4)),
    ("half", (2, 3), (2, 2), (1, 2, 4, 5)),
    ("full", (2, 3), (2, 1), (1, 2, 4, 3)),
    ("wrap_centered", (3, 3), (1, 1), (1, 2, 4, 5)),
    ("wrap_centered", (3, 1), (2, 3), (2, 1, 5, 7)),
]


@pytest.mark.parametrize("mode,shape,step,xshape", GEOMETRIES)
def test_images2neibs_values_and_gradient(mode, shape, step, xshape):
    rng = np.random.default_rng(len(xshape) + sum(shape))
    x_val = rng.normal(size=xshape)
    x = tt.tensor4()
    got = th.function([x], images2neibs(x, shape, step, mode))(x_val)
    np.testing.assert_array_equal(got, ref_images2neibs(x_val, shape, step, mode))
    static = tt.TensorType("float64", xshape)()
    assert images2neibs(static, shape, step, mode).type.shape == got.shape
    verify_grad(lambda v: images2neibs(v, shape, step, mode), [x_val], rng=rng)


@pytest.mark.parametrize("mode", ["valid", "ignore_borders"])
def test_neibs2images_inverts_non_overlapping_windows(mode):
    x_val = np.arange(2 * 3 * 4 * 6, dtype="float64").reshape(2, 3, 4, 6)
    if mode == "ignore_borders":
        x_val = np.arange(2 * 3 * 5 * 7, dtype="float64").reshape(2, 3, 5, 7)
    x = tt.tensor4()
    neibs = images2neibs(x, (2, 3), mode=mode)
    back = th.function([x], neibs2images(neibs, (2, 3), x.shape, mode))(x_val)
    want = x_val.copy()
    want[:, :, 4:, :] = 0      # rows / cols no window covered (ignore_borders)
    want[:, :, :, 6:] = 0
    np.testing.assert_array_equal(back, want)
    verify_grad(lambda v: neibs2images(v, (2, 3), x_val.shape, mode),
                [np.random.default_rng(0).normal(size=(2 * 3 * 2 * 2, 6))])


def test_theano_tutorial_example():
    images = tt.tensor4("images")
    neibs = images2neibs(images, neib_shape=(5, 5))
    window_function = th.function([images], neibs)
    im_val = np.arange(100.0).reshape((1, 1, 10, 10))
    neibs_val = window_function(im_val)
    assert neibs_val.shape == (4, 25)
    np.testing.assert_array_equal(neibs_val[1], im_val[0, 0, :5, 5:].ravel())
    im_new = neibs2images(neibs, (5, 5), im_val.shape)
    np.testing.assert_array_equal(th.function([images], im_new)(im_val), im_val)


def test_errors():
    x = tt.tensor4()
    with pytest.raises(ValueError, match="mode must be"):
        images2neibs(x, (2, 2), mode="same")
    with pytest.raises(ValueError, match="odd"):
        images2neibs(x, (2, 3), mode="wrap_centered")
    with pytest.raises(TypeError, match="4-d"):
        images2neibs(tt.matrix(), (2, 2))
    with pytest.raises(NotImplementedError, match="known when the graph is built"):
        images2neibs(x, tt.lvector())
    f = th.function([x], images2neibs(x, (2, 2), (2, 2)))
    with pytest.raises(ValueError, match="ignore_borders"):
        f(np.zeros((1, 1, 5, 4)))


CASES = [
    OpCase(f"images2neibs[{mode},{shape},{step}]",
           (lambda m, s, st: lambda x: images2neibs(x, s, st, m))(mode, shape, step),
           (lambda m, s, st: lambda x: ref_images2neibs(x, s, st, m))(mode, shape, step),
           shapes=[(xshape,)])
    for mode, shape, step, xshape in GEOMETRIES[::2]
] + [
    OpCase("neibs2images", lambda n: neibs2images(n, (2, 3), (2, 1, 4, 6), "valid"),
           lambda n: n.reshape(2, 1, 2, 2, 2, 3).transpose(0, 1, 2, 4, 3, 5).reshape(
               2, 1, 4, 6), shapes=[((8, 6),)]),
]


@pytest.mark.parametrize("case,dtype,quick", case_params(CASES))
def test_neighbours_op_checked(case, dtype, quick):
    check_case(case, dtype, quick=quick)


def test_import_paths():
    import theanine.tensor.nnet as nnet
    assert nnet.neighbours is neighbours
    assert nnet.images2neibs is images2neibs and nnet.neibs2images is neibs2images
    assert isinstance(images2neibs(tt.tensor4(), (2, 2)).owner.op, Images2Neibs)
