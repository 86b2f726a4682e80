"""Theano's ``nlinalg``/``slinalg`` ops and the diagonal ops in JAX.

Each op maps to its ``jax.numpy.linalg`` / ``jax.scipy.linalg`` twin; results are
cast to the node's declared dtype.  The generalized symmetric eigenproblem, which
JAX does not solve directly, is reduced to a standard one through the Cholesky
factor of ``b``.  ``AllocDiag`` needs its sizes when the function is compiled
(constants, or shapes of other values).
"""

from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

from theanine.link.jax.dispatch import _static_ints, jax_funcify
from theanine.tensor.diagonal import AllocDiag, ExtractDiag
from theanine.tensor.nlinalg import SVD, Det, Eig, Eigh, MatrixInverse, MatrixPinv, QRFull
from theanine.tensor.slinalg import Cholesky, Expm, GeneralizedEigh, Solve


def _typed(node, fn):
    dtypes = [o.dtype for o in node.outputs]
    if len(dtypes) == 1:
        return lambda *args: jnp.asarray(fn(*args), dtype=dtypes[0])
    return lambda *args: tuple(jnp.asarray(v, dtype=d) for v, d in zip(fn(*args), dtypes))


@jax_funcify.register(MatrixInverse)
def _inv(op, node):
    return _typed(node, jnp.linalg.inv)


@jax_funcify.register(Det)
def _det(op, node):
    return _typed(node, jnp.linalg.det)


@jax_funcify.register(MatrixPinv)
def _pinv(op, node):
    return _typed(node, jnp.linalg.pinv)


@jax_funcify.register(Eig)
def _eig(op, node):
    def eig(x):
        w, v = jnp.linalg.eig(x)
        return jnp.real(w), jnp.real(v)
    return _typed(node, eig)


def _from_triangle(a, lower):
    """The symmetric matrix LAPACK sees when it reads one triangle of ``a`` (JAX
    would otherwise average both triangles)."""
    if lower:
        return jnp.tril(a) + jnp.tril(a, -1).T
    return jnp.triu(a) + jnp.triu(a, 1).T


@jax_funcify.register(Eigh)
def _eigh(op, node):
    return _typed(node, lambda x: jnp.linalg.eigh(_from_triangle(x, op.UPLO == "L"),
                                                  symmetrize_input=False))


@jax_funcify.register(QRFull)
def _qr(op, node):
    return _typed(node, lambda x: jnp.linalg.qr(x, mode=op.mode))


@jax_funcify.register(SVD)
def _svd(op, node):
    return _typed(node, lambda x: jnp.linalg.svd(x, full_matrices=op.full_matrices,
                                                 compute_uv=op.compute_uv))


@jax_funcify.register(ExtractDiag)
def _extract_diag(op, node):
    return _typed(node, lambda x: jnp.diagonal(x, op.offset, op.axis1, op.axis2))


@jax_funcify.register(AllocDiag)
def _alloc_diag(op, node):
    def alloc_diag(x, *size):
        k = x.shape[-1]
        if size:
            n1, n2 = _static_ints(size, "the size of alloc_diag", node)
        else:
            n1 = n2 = k + abs(op.offset)
        rows = np.arange(k) + max(-op.offset, 0)
        cols = np.arange(k) + max(op.offset, 0)
        out = jnp.zeros(x.shape[:-1] + (n1, n2), dtype=x.dtype).at[..., rows, cols].set(x)
        return jnp.moveaxis(out, (-2, -1), (op.axis1, op.axis2))
    return _typed(node, alloc_diag)


@jax_funcify.register(Cholesky)
def _cholesky(op, node):
    # JAX cannot raise inside a compiled function: a matrix that is not positive
    # definite gives NaNs whatever ``on_error`` says
    return _typed(node, lambda x: jsl.cholesky(x, lower=op.lower))


@jax_funcify.register(Solve)
def _solve(op, node):
    if op.assume_a in ("lower", "upper"):
        return _typed(node, lambda a, b: jsl.solve_triangular(a, b, lower=op.lower))
    return _typed(node, lambda a, b: jsl.solve(
        a if op.assume_a == "gen" else _from_triangle(a, op.lower), b, assume_a=op.assume_a))


@jax_funcify.register(GeneralizedEigh)
def _generalized_eigh(op, node):
    def eigh(a, b):
        # a v = b v w with b = L L^T  <=>  (L^-1 a L^-T) u = u w, v = L^-T u
        sym = _from_triangle(a, op.lower)
        chol = jsl.cholesky(b, lower=op.lower)
        low = chol if op.lower else chol.T
        c = jsl.solve_triangular(low, jsl.solve_triangular(low, sym, lower=True).T,
                                 lower=True)
        w, u = jnp.linalg.eigh(c, symmetrize_input=False)
        return w, jsl.solve_triangular(low.T, u, lower=False)
    return _typed(node, eigh)


@jax_funcify.register(Expm)
def _expm(op, node):
    return _typed(node, jsl.expm)
