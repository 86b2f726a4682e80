"""Theano's ``nnet.bn`` against a NumPy reference: every axes form, both parameter
layouts, running averages, and gradients through the batch statistics."""

from __future__ import annotations

import numpy as np
import pytest
from op_checker import OpCase, case_params, check_case

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.tensor.nnet import bn

RNG = np.random.default_rng(3)


def ref_train(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    return (x - mean) * invstd * gamma + beta, mean, invstd, var


AXES = [("per-activation", (0,)), ("spatial", (0, 2, 3)), ((0, 2), (0, 2)), ((1,), (1,))]


@pytest.mark.parametrize("axes,np_axes", AXES)
@pytest.mark.parametrize("keepdims", [True, False])
def test_train_and_test_values(axes, np_axes, keepdims):
    x_val = RNG.normal(size=(5, 3, 4, 2)) * 3 + 1
    pshape = tuple(1 if i in np_axes else n for i, n in enumerate(x_val.shape))
    g_val, b_val = RNG.uniform(0.5, 2, pshape), RNG.normal(size=pshape)
    rm_val, rv_val = RNG.normal(size=pshape), RNG.uniform(0.5, 2, pshape)
    squeeze = (lambda a: a) if keepdims else (lambda a: a.squeeze(np_axes))
    params = [tt.TensorType("float64", tuple(1 if s == 1 else None for s in squeeze(
        np.zeros(pshape)).shape))() for _ in range(4)]
    x = tt.tensor4()
    g, b, rm, rv = params
    outs = bn.batch_normalization_train(x, g, b, axes, 1e-3, 0.3, rm, rv)
    f = th.function([x, g, b, rm, rv], list(outs))
    got = f(x_val, *[squeeze(v) for v in (g_val, b_val, rm_val, rv_val)])
    out, mean, invstd, var = ref_train(x_val, g_val, b_val, np_axes, 1e-3)
    m = x_val.size / mean.size
    want = [out, squeeze(mean), squeeze(invstd), squeeze(rm_val * 0.7 + mean * 0.3),
            squeeze(rv_val * 0.7 + var * m / (m - 1) * 0.3)]
    for k, (a, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, w, rtol=1e-10, atol=1e-12, err_msg=str(k))
    test_out = bn.batch_normalization_test(x, g, b, rm, rv, axes, 1e-3)
    got_test = th.function([x, g, b, rm, rv], test_out)(
        x_val, *[squeeze(v) for v in (g_val, b_val, rm_val, rv_val)])
    np.testing.assert_allclose(got_test, (x_val - rm_val) * g_val / np.sqrt(rv_val + 1e-3) +
                               b_val, rtol=1e-10)


@pytest.mark.parametrize("axes", ["per-activation", "spatial"])
def test_train_gradient_through_batch_statistics(axes):
    x_val = RNG.normal(size=(4, 2, 3, 2))
    pshape = (1, 2, 3, 2) if axes == "per-activation" else (1, 2, 1, 1)
    g_val, b_val = RNG.uniform(0.5, 2, pshape), RNG.normal(size=pshape)

    def fn(x, g, b):
        out, mean, invstd = bn.batch_normalization_train(x, g, b, axes)
        return (out ** 3).sum() + mean.sum() + invstd.sum()

    verify_grad(fn, [x_val, g_val, b_val], rng=RNG)


def test_batch_normalization_modes_agree():
    x_val = RNG.normal(size=(6, 4))
    g_val, b_val, m_val, s_val = (RNG.uniform(0.5, 2, (4,)) for _ in range(4))
    want = (x_val - m_val) * (g_val / s_val) + b_val
    x = tt.matrix()
    vs = [tt.vector() for _ in range(4)]
    for mode in ("low_mem", "high_mem"):
        out = bn.batch_normalization(x, *vs, mode=mode)
        np.testing.assert_allclose(th.function([x, *vs], out)(x_val, g_val, b_val, m_val,
                                                               s_val), want, rtol=1e-12)
    verify_grad(lambda *a: bn.batch_normalization(*a), [x_val, g_val, b_val, m_val, s_val],
                rng=RNG)


def test_errors():
    x = tt.tensor4()
    with pytest.raises(ValueError, match="axes"):
        bn.batch_normalization_train(x, tt.vector(), tt.vector(), axes="channels")
    with pytest.raises(ValueError, match="gamma has 2 dims"):
        bn.batch_normalization_train(x, tt.matrix(), tt.matrix(), axes="spatial")
    with pytest.raises(ValueError, match="both"):
        bn.batch_normalization_train(x, tt.tensor4(), tt.tensor4(), running_mean=tt.tensor4())
    with pytest.raises(ValueError, match="mode"):
        bn.batch_normalization(x, x, x, x, x, mode="fast")


CASES = [
    OpCase("batch_normalization_train[spatial]",
           lambda x, g, b: list(bn.batch_normalization_train(x, g, b, "spatial")),
           lambda x, g, b: list(ref_train(x, g, b, (0, 2, 3), 1e-4)[:3]), nin=3,
           domains=((-2, 2), (0.5, 2), (-1, 1)),
           shapes=[((3, 2, 2, 2), (1, 2, 1, 1), (1, 2, 1, 1))],
           static=False, extra={"composite": True}),
]


@pytest.mark.parametrize("case,dtype,quick", case_params(CASES))
def test_bn_op_checked(case, dtype, quick):
    check_case(case, dtype, quick=quick)
