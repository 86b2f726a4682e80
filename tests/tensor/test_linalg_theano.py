"""Theano's ``tensor.nlinalg`` / ``tensor.slinalg`` and the diagonal ops: the shared op
checker (every linker, shapes, node gradients, ``verify_grad``) against NumPy/SciPy,
plus Theano's argument forms and the gradients the table cannot express."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
from op_checker import OpCase, case_params, check_case

import theanine as th
import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.tensor import nlinalg, slinalg


def general(rng, shape, dtype):
    """A well-conditioned square (or rectangular) matrix."""
    a = rng.uniform(-1, 1, size=shape)
    if len(shape) == 2 and shape[0] == shape[1]:
        a = a + shape[0] * np.eye(shape[0])
    return a


def spd(rng, shape, dtype):
    a = rng.uniform(-1, 1, size=shape)
    return a @ a.T + shape[0] * np.eye(shape[0])


def symmetric(rng, shape, dtype):
    """Symmetric with well separated eigenvalues."""
    q, _ = np.linalg.qr(rng.normal(size=shape))
    return (q * np.arange(1, shape[0] + 1)) @ q.T


def lower(rng, shape, dtype):
    return np.tril(rng.uniform(-1, 1, size=shape)) + 2 * np.eye(shape[0])


def _signs(v):
    """Eigen/singular vectors with their sign fixed by the first row (LAPACKs differ)."""
    return v * tt.sign(v[0])


def _np_signs(v):
    return v * np.sign(v[0:1, :])


SQ = [((3, 3),), ((1, 1),)]
RECT = [((4, 3),), ((2, 5),)]
SQ2 = [((3, 3), (3, 2)), ((1, 1), (1, 1))]
SQV = [((3, 3), (3,))]

CASES = [
    OpCase("matrix_inverse", nlinalg.matrix_inverse, np.linalg.inv, domains=(general,),
           shapes=SQ),
    OpCase("det", nlinalg.det, np.linalg.det, domains=(general,), shapes=SQ),
    OpCase("eig", lambda x: [tt.sort(nlinalg.eig(x)[0])], lambda a: [np.sort(np.linalg.eig(a)[0])],
           domains=(symmetric,), shapes=[((3, 3),)], grad=False, static=False,
           extra={"note": "symmetric input: real eigenvalues, compared sorted"}),
    OpCase("eigh", lambda x: [nlinalg.eigh(x)[0], _signs(nlinalg.eigh(x)[1])],
           lambda a: [np.linalg.eigh(a)[0], _np_signs(np.linalg.eigh(a)[1])],
           domains=(symmetric,), shapes=SQ),
    OpCase("eigh[U]", lambda x: [nlinalg.eigh(x, "U")[0]],
           lambda a: [np.linalg.eigh(a, "U")[0]], domains=((-1, 1),), shapes=SQ),
    OpCase("pinv", nlinalg.pinv, np.linalg.pinv, domains=(general,), shapes=RECT),
    OpCase("qr", lambda x: list(nlinalg.qr(x)), lambda a: list(np.linalg.qr(a)),
           domains=(general,), shapes=RECT, grad=False),
    OpCase("qr[r]", lambda x: nlinalg.qr(x, "r"), lambda a: np.linalg.qr(a, "r"),
           domains=(general,), shapes=RECT, grad=False),
    OpCase("svd[compute_uv=0]", lambda x: nlinalg.svd(x, compute_uv=0),
           lambda a: np.linalg.svd(a, compute_uv=False), domains=(general,), shapes=RECT),
    OpCase("svd", lambda x: [abs(o) for o in nlinalg.svd(x, full_matrices=0)],
           lambda a: [abs(o) for o in np.linalg.svd(a, full_matrices=False)],
           domains=(general,), shapes=RECT, grad=False),
    OpCase("extract_diag", lambda x: nlinalg.extract_diag(x, 1), lambda a: np.diagonal(a, 1),
           shapes=[((3, 4),), ((4, 2),), ((1, 1),), ((0, 3),)]),
    OpCase("extract_diag[3d,axes]", lambda x: nlinalg.extract_diag(x, -1, 2, 0),
           lambda a: np.diagonal(a, -1, 2, 0).copy(), shapes=[((3, 2, 4),)]),
    OpCase("alloc_diag", lambda x: nlinalg.alloc_diag(x, -1), lambda a: np.diag(a, -1),
           shapes=[((3,),), ((1,),), ((0,),)]),
    OpCase("diag", tt.diag, np.diag, shapes=[((3,),), ((3, 4),)]),
    OpCase("trace", nlinalg.trace, np.trace, shapes=[((3, 3),), ((2, 4),)]),
    OpCase("tril", lambda x: tt.tril(x, 1), lambda a: np.tril(a, 1), shapes=[((3, 4),)]),
    OpCase("triu", lambda x: tt.triu(x, -1), lambda a: np.triu(a, -1), shapes=[((4, 3),)]),
    OpCase("matrix_dot", nlinalg.matrix_dot, lambda *a: np.linalg.multi_dot(a), nin=3,
           shapes=[((2, 3), (3, 4), (4, 2))]),
    OpCase("matrix_power", lambda x: nlinalg.matrix_power(x, 5),
           lambda a: np.linalg.matrix_power(a, 5), domains=((-0.5, 0.5),), shapes=SQ),
    OpCase("norm[fro]", lambda x: nlinalg.norm(x, None), np.linalg.norm, shapes=RECT),
    OpCase("norm[inf]", lambda x: nlinalg.norm(x, "inf"),
           lambda a: np.linalg.norm(a, np.inf), domains=(general,), shapes=[((3, 4),)]),
    OpCase("norm[vector,3]", lambda x: nlinalg.norm(x, 3), lambda a: np.linalg.norm(a, 3),
           domains=((0.5, 2),), shapes=[((5,),)]),
    OpCase("tensorinv", lambda x: nlinalg.tensorinv(x, 1),
           lambda a: np.linalg.tensorinv(a, 1), domains=(general,), shapes=[((4, 2, 2),)],
           static=False),
    OpCase("cholesky", slinalg.cholesky, lambda a: sl.cholesky(a, lower=True),
           domains=(spd,), shapes=SQ),
    OpCase("cholesky[upper]", lambda x: slinalg.cholesky(x, lower=False),
           lambda a: sl.cholesky(a, lower=False), domains=(spd,), shapes=SQ),
    OpCase("solve", slinalg.solve, sl.solve, nin=2, domains=(general, (-1, 1)),
           shapes=SQ2 + SQV),
    OpCase("solve[sym]", lambda a, b: slinalg.solve(a, b, assume_a="sym"),
           lambda a, b: sl.solve(a, b, assume_a="sym"), nin=2, domains=(general, (-1, 1)),
           shapes=SQ2),
    OpCase("solve[pos,lower]", lambda a, b: slinalg.solve(a, b, assume_a="pos", lower=True),
           lambda a, b: sl.solve(a, b, assume_a="pos", lower=True), nin=2,
           domains=(spd, (-1, 1)), shapes=SQ2),
    OpCase("solve_triangular", lambda a, b: slinalg.solve_triangular(a, b, lower=True),
           lambda a, b: sl.solve_triangular(a, b, lower=True), nin=2,
           domains=(lower, (-1, 1)), shapes=SQ2 + SQV),
    OpCase("solve_triangular[trans,unit]",
           lambda a, b: slinalg.solve_triangular(a, b, trans=1, unit_diagonal=True),
           lambda a, b: sl.solve_triangular(a, b, trans=1, unit_diagonal=True), nin=2,
           domains=(lambda r, s, d: lower(r, s, d).T, (-1, 1)), shapes=SQ2),
    OpCase("eigvalsh", slinalg.eigvalsh, lambda a: sl.eigvalsh(a), domains=(symmetric,),
           shapes=SQ),
    OpCase("eigvalsh[generalized]", slinalg.eigvalsh, lambda a, b: sl.eigvalsh(a, b), nin=2,
           domains=(symmetric, spd), shapes=[((3, 3), (3, 3))], grad=False),
    OpCase("expm", slinalg.expm, sl.expm, domains=((-0.5, 0.5),), shapes=SQ),
    OpCase("kron", slinalg.kron, np.kron, nin=2,
           shapes=[((2, 3), (3, 2)), ((3,), (2, 2)), ((2, 1, 2), (2, 3))]),
]


@pytest.mark.parametrize("case,dtype,quick", case_params(CASES))
def test_linalg_op_checked(case, dtype, quick):
    check_case(case, dtype, quick=quick)


RNG = np.random.default_rng(42)


def test_svd_singular_value_gradient_through_full_svd():
    a = general(RNG, (4, 3), "float64")
    verify_grad(lambda x: nlinalg.svd(x)[1], [a], rng=RNG)
    x = tt.matrix()
    with pytest.raises(Exception, match="through u or vt"):
        th.grad(nlinalg.svd(x)[0].sum(), x)


def test_generalized_eigvalsh_gradient():
    a, b = symmetric(RNG, (3, 3), "float64"), spd(RNG, (3, 3), "float64")
    verify_grad(slinalg.eigvalsh, [a, b], rng=RNG)


def test_theano_solve_forms():
    a, b = lower(RNG, (3, 3), "float64"), RNG.normal(size=(3, 2))
    A, B = tt.matrix(), tt.matrix()
    for op, want in [(slinalg.solve_lower_triangular, sl.solve_triangular(a, b, lower=True)),
                     (slinalg.Solve(A_structure="lower_triangular", lower=True),
                      sl.solve_triangular(a, b, lower=True)),
                     (slinalg.Solve(), np.linalg.solve(a, b)),
                     (slinalg.solve_upper_triangular,
                      sl.solve_triangular(a.T, b, lower=False))]:
        arg = a.T if op is slinalg.solve_upper_triangular else a
        np.testing.assert_allclose(th.function([A, B], op(A, B))(arg, b), want, rtol=1e-10)
    with pytest.raises(ValueError, match="A_structure"):
        slinalg.Solve(A_structure="banded")


def test_cholesky_not_positive_definite():
    x = tt.matrix()
    with pytest.raises(np.linalg.LinAlgError):
        th.function([x], slinalg.cholesky(x))(-np.eye(2))
    got = th.function([x], slinalg.Cholesky(on_error="nan")(x))(-np.eye(2))
    assert np.isnan(got).all()


def test_eig_refuses_complex_eigenvalues():
    x = tt.matrix()
    with pytest.raises(ValueError, match="complex eigenvalues"):
        th.function([x], nlinalg.eig(x)[0])(np.array([[0.0, -1.0], [1.0, 0.0]]))


def test_errors_name_the_function():
    with pytest.raises(TypeError, match="matrix_inverse.*takes a matrix"):
        nlinalg.matrix_inverse(tt.vector())
    with pytest.raises(ValueError, match="square"):
        nlinalg.det(tt.TensorType("float64", (2, 3))())
    with pytest.raises(ValueError, match="matrix_power"):
        nlinalg.matrix_power(tt.matrix(), -1)
    with pytest.raises(TypeError, match="kron"):
        slinalg.kron(tt.vector(), tt.vector())


def test_theano_attribute_paths():
    import theanine.tensor.nlinalg as nl
    import theanine.tensor.slinalg as sll
    assert tt.nlinalg is nl and tt.slinalg is sll
    for name in ("matrix_inverse", "det", "eig", "eigh", "pinv", "qr", "svd", "trace", "diag",
                 "extract_diag", "alloc_diag", "matrix_dot", "norm", "MatrixInverse"):
        assert hasattr(nl, name), name
    for name in ("cholesky", "solve", "solve_triangular", "eigvalsh", "expm", "kron",
                 "Cholesky", "Solve", "Expm", "Eigvalsh"):
        assert hasattr(sll, name), name
