"""Theano's ``tensor.slinalg``: linear algebra with SciPy's ``linalg`` meaning.

``cholesky``, ``solve`` (Theano's ``A_structure`` and SciPy's ``assume_a``),
``solve_triangular``, ``eigvalsh`` (also generalized), ``expm`` and ``kron``.
Gradients are compositions of these ops; where SciPy reads only one triangle of a
matrix, the gradient is with respect to that triangle (the other is zero), so it
agrees with finite differences on any input.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.null_type import grad_not_implemented
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.alloc import ones_like, zeros_like
from theanine.tensor.diagonal import alloc_diag, extract_diag, tril, triu
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.join import concatenate
from theanine.tensor.nlinalg import (
    Eigh,
    T,
    as_matrix,
    dot,
    float_dtype,
    is_zero_gradient,
    read_triangle,
    square_size,
)
from theanine.tensor.shape import reshape, shape_i
from theanine.tensor.type import TensorType

# -- cholesky -------------------------------------------------------------------------


def _scipy_linalg():
    """``scipy.linalg``, imported on first use (0.2 s of ``import theanine`` otherwise)."""
    import scipy.linalg

    return scipy.linalg


class Cholesky(Op):
    """``scipy.linalg.cholesky(x, lower)``: reads the ``lower`` (or upper) triangle.

    ``on_error='raise'`` raises for a matrix that is not positive definite;
    ``'nan'`` returns a matrix of NaNs instead.
    """

    __props__ = ("lower", "on_error")

    def __init__(self, lower=True, on_error="raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
        self.lower, self.on_error = bool(lower), on_error

    def make_node(self, x):
        x = as_matrix(x, "cholesky")
        square_size(x)
        return Apply(self, [x], [TensorType(float_dtype(x.dtype), x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        try:
            out = _scipy_linalg().cholesky(inputs[0], lower=self.lower)
        except np.linalg.LinAlgError:
            if self.on_error == "raise":
                raise
            out = np.full(inputs[0].shape, np.nan)
        output_storage[0][0] = np.asarray(out, dtype=dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (chol,), (gz,) = outputs, output_grads
        low = chol if self.lower else T(chol)
        g_low = gz if self.lower else T(gz)
        # Murray (2016): with Phi = lower triangle, diagonal halved,
        # S = L^-T Phi(L^T L-bar) L^-1; the gradient of the read triangle is
        # that triangle of S + S^T with the diagonal counted once
        prod = dot(T(low), g_low)
        phi = tril(prod) - alloc_diag(extract_diag(prod) / 2)
        inner = solve_triangular(T(low), phi, lower=False)
        s = T(solve_triangular(T(low), T(inner), lower=False))
        sym = s + T(s)
        g = tril(sym) - alloc_diag(extract_diag(s))
        return [g if self.lower else T(g)]


def cholesky(x, lower=True):
    """The Cholesky factor of a symmetric positive-definite matrix (lower by default)."""
    return Cholesky(lower)(x)


# -- solve ----------------------------------------------------------------------------

_STRUCTURES = {"general": "gen", "symmetric": "sym", "lower_triangular": "lower",
               "upper_triangular": "upper"}
_ASSUME = ("gen", "sym", "her", "pos", "lower", "upper")


class Solve(Op):
    """``x`` with ``a @ x == b``; ``assume_a`` as in ``scipy.linalg.solve`` (``'gen'``,
    ``'sym'``, ``'pos'``) or ``'lower'``/``'upper'`` for triangular ``a``.

    Theano's ``A_structure`` names (``'general'``, ``'symmetric'``,
    ``'lower_triangular'``, ``'upper_triangular'``) are accepted.
    """

    __props__ = ("assume_a", "lower")

    def __init__(self, A_structure=None, lower=False, overwrite_A=False,
                 overwrite_b=False, assume_a=None):
        if A_structure is not None and assume_a is not None:
            raise ValueError("Solve: give A_structure or assume_a, not both")
        if A_structure is not None:
            if A_structure not in _STRUCTURES:
                raise ValueError(f"Solve: A_structure must be one of {sorted(_STRUCTURES)}, "
                                 f"got {A_structure!r}")
            assume_a = _STRUCTURES[A_structure]
        assume_a = assume_a or "gen"
        if assume_a == "her":
            assume_a = "sym"       # real matrices: Hermitian is symmetric
        if assume_a not in _ASSUME:
            raise ValueError(f"Solve: assume_a must be one of {_ASSUME}, got {assume_a!r}")
        if assume_a in ("lower", "upper"):
            lower = assume_a == "lower"
        self.assume_a, self.lower = assume_a, bool(lower)

    def __str__(self):
        return f"Solve{{{self.assume_a}, lower={self.lower}}}"

    def make_node(self, a, b):
        a = as_matrix(a, "solve")
        b = tb.as_tensor_variable(b)
        square_size(a)
        if b.ndim not in (1, 2):
            raise TypeError(f"solve: b ({b}) has {b.ndim} dims; it must be a vector or a "
                            "matrix")
        dtype = float_dtype(str(np.result_type(a.dtype, b.dtype)))
        shape = (a.type.shape[1],) + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(dtype, shape)()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        if self.assume_a in ("lower", "upper"):
            out = _scipy_linalg().solve_triangular(a, b, lower=self.lower)
        else:
            out = _scipy_linalg().solve(a, b, assume_a=self.assume_a, lower=self.lower)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        sa, sb = input_shapes
        return [(sa[1],) + tuple(sb[1:])]

    def L_op(self, inputs, outputs, output_grads):
        (a, b), (x,), (gx,) = inputs, outputs, output_grads
        if self.assume_a in ("sym", "pos"):      # the matrix solved with is symmetric
            gb = Solve(assume_a=self.assume_a, lower=self.lower)(a, gx)
        elif self.assume_a == "gen":
            gb = Solve(assume_a="gen")(T(a), gx)
        else:                                    # a^T is triangular the other way
            gb = Solve(assume_a="upper" if self.lower else "lower")(T(a), gx)
        if b.ndim == 1:
            ga = -dimshuffle(gb, 0, "x") * dimshuffle(x, "x", 0)
        else:
            ga = -dot(gb, T(x))
        if self.assume_a == "lower":
            ga = tril(ga)
        elif self.assume_a == "upper":
            ga = triu(ga)
        elif self.assume_a in ("sym", "pos"):
            ga = read_triangle(ga, lower=self.lower)
        return [ga, gb]


def solve(a, b, assume_a="gen", lower=False, overwrite_a=False, overwrite_b=False,
          check_finite=True, transposed=False):
    """``scipy.linalg.solve(a, b, assume_a=..., lower=...)``."""
    if transposed:
        a = T(as_matrix(a, "solve"))
        lower = not lower
    return Solve(assume_a=assume_a, lower=lower)(a, b)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False,
                     overwrite_b=False, check_finite=True):
    """``scipy.linalg.solve_triangular`` (``trans`` 0/'N', 1/'T'; the other triangle
    of ``a`` is not read)."""
    a = as_matrix(a, "solve_triangular")
    if trans in (1, "T", "C", 2):
        a, lower = T(a), not lower
    elif trans not in (0, "N"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got "
                         f"{trans!r}")
    if unit_diagonal:
        a = (tril(a, -1) if lower else triu(a, 1)) + alloc_diag(
            ones_like(extract_diag(a)))
    return Solve(assume_a="lower" if lower else "upper")(a, b)


solve_lower_triangular = Solve(A_structure="lower_triangular", lower=True)
solve_upper_triangular = Solve(A_structure="upper_triangular", lower=False)
solve_symmetric = Solve(A_structure="symmetric")


# -- eigvalsh -------------------------------------------------------------------------


class GeneralizedEigh(Op):
    """``scipy.linalg.eigh(a, b, lower)`` -> ``(w, v)`` with ``a v = b v diag(w)``."""

    __props__ = ("lower",)

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def make_node(self, a, b):
        a, b = as_matrix(a, "eigvalsh"), as_matrix(b, "eigvalsh")
        n = square_size(a)
        dtype = float_dtype(str(np.result_type(a.dtype, b.dtype)))
        return Apply(self, [a, b], [TensorType(dtype, (n,))(), TensorType(dtype, (n, n))()])

    def perform(self, node, inputs, output_storage):
        w, v = _scipy_linalg().eigh(inputs[0], inputs[1], lower=self.lower)
        for cell, value, var in zip(output_storage, (w, v), node.outputs):
            cell[0] = np.asarray(value, dtype=var.dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        n = input_shapes[0][0]
        return [(n,), (n, n)]

    def L_op(self, inputs, outputs, output_grads):
        (w, v), (gw, gv) = outputs, output_grads
        if not is_zero_gradient(gv):
            return [grad_not_implemented(self, i, inputs[i], "only the eigenvalues of the "
                                         "generalized eigh have a gradient")
                    for i in range(2)]
        ga = dot(v * dimshuffle(gw, "x", 0), T(v))
        gb = -dot(v * dimshuffle(gw * w, "x", 0), T(v))
        return [read_triangle(ga, self.lower), read_triangle(gb, self.lower)]


class Eigvalsh:
    """Theano's ``Eigvalsh(lower=True)``: called as ``Eigvalsh()(a, b=None)``."""

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def __call__(self, a, b=None):
        if b is None:
            return Eigh("L" if self.lower else "U")(a)[0]
        return GeneralizedEigh(self.lower)(a, b)[0]


def eigvalsh(a, b=None, lower=True):
    """The eigenvalues (ascending) of symmetric ``a``, or of the pencil ``(a, b)`` with
    ``b`` positive definite."""
    return Eigvalsh(lower)(a, b)


# -- expm -----------------------------------------------------------------------------


class Expm(Op):
    """``scipy.linalg.expm``: the matrix exponential."""

    __props__ = ()

    def make_node(self, x):
        x = as_matrix(x, "expm")
        square_size(x)
        return Apply(self, [x], [TensorType(float_dtype(x.dtype), x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(_scipy_linalg().expm(inputs[0]),
                                          dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        # the Frechet derivative of expm at x^T in direction gz is the upper right
        # block of expm([[x^T, gz], [0, x^T]]) (exact, no diagonalisability needed)
        n = shape_i(x, 0)
        xt = T(x)
        zero = zeros_like(xt)
        block = concatenate([concatenate([xt, gz], axis=1),
                             concatenate([zero, xt], axis=1)], axis=0)
        big = expm(block)
        return [big[:n, n:]]


def expm(A):
    """The matrix exponential of a square matrix."""
    return Expm()(A)


# -- kron -----------------------------------------------------------------------------


def kron(a, b):
    """``np.kron``: the Kronecker product (the operand with fewer dims gets leading
    size-1 axes)."""
    a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
    if a.ndim + b.ndim <= 2:
        raise TypeError(f"kron: operands of {a.ndim} and {b.ndim} dims; their dims must "
                        "add up to more than 2 (use outer for two vectors)")
    nd = max(a.ndim, b.ndim)
    a = dimshuffle(a, *(["x"] * (nd - a.ndim) + list(range(a.ndim))))
    b = dimshuffle(b, *(["x"] * (nd - b.ndim) + list(range(b.ndim))))
    # a's axis i at position 2i, b's at 2i + 1, then each pair merged
    prod = dimshuffle(a, *[p for i in range(nd) for p in (i, "x")]) * \
        dimshuffle(b, *[p for i in range(nd) for p in ("x", i)])
    return reshape(prod, [shape_i(a, i) * shape_i(b, i) for i in range(nd)])


__all__ = ["Cholesky", "cholesky", "Solve", "solve", "solve_triangular",
           "solve_lower_triangular", "solve_upper_triangular", "solve_symmetric",
           "GeneralizedEigh", "Eigvalsh", "eigvalsh", "Expm", "expm", "kron"]
