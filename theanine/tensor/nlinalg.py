"""Theano's ``tensor.nlinalg``: dense linear algebra with NumPy's ``linalg`` meaning.

Every op takes one matrix (Theano's ops were not batched); integer inputs give
float64 results, as ``np.linalg`` does.  Gradients are compositions of ops, so they
run on every backend and can be differentiated again.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.null_type import grad_not_implemented
from theanine.graph.op import Op
from theanine.scalar.arithmetic import Second
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.construct import identity_like
from theanine.tensor.diagonal import (  # noqa: F401  (Theano's nlinalg names)
    AllocDiag,
    ExtractDiag,
    alloc_diag,
    diag,
    extract_diag,
    trace,
    tril,
    triu,
)
from theanine.tensor.elemwise import DimShuffle, Elemwise, dimshuffle
from theanine.tensor.linalg import matmul
from theanine.tensor.shape import reshape, shape_i
from theanine.tensor.type import TensorType


def float_dtype(dtype: str) -> str:
    """The dtype ``np.linalg`` returns for an input of ``dtype``."""
    return dtype if dtype in ("float32", "float64", "complex64", "complex128") else "float64"


def as_matrix(x, what: str):
    """``x`` as a tensor, refused unless it is a matrix."""
    x = tb.as_tensor_variable(x)
    if x.ndim != 2:
        raise TypeError(f"{what}: {x} has {x.ndim} dims; it takes a matrix")
    return x


def square_size(x):
    """The static size of a square matrix (None if unknown); refuses non-square."""
    n, m = x.type.shape
    if n is not None and m is not None and n != m:
        raise ValueError(f"{x} is {n}x{m}; a square matrix is needed")
    return n if n is not None else m


def is_zero_gradient(g) -> bool:
    """Whether ``g`` is the zeros ``grad`` passes for an output that is not used."""
    owner = g.owner
    if owner is None or not isinstance(owner.op, Elemwise) or \
            not isinstance(owner.op.scalar_op, Second):
        return False
    fill = owner.inputs[1]
    while fill.owner is not None and isinstance(fill.owner.op, DimShuffle):
        fill = fill.owner.inputs[0]
    try:
        return tb.get_scalar_constant_value(fill) == 0
    except tb.NotScalarConstantError:
        return False


def T(x):
    return dimshuffle(x, 1, 0)


def dot(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = matmul(out, x)
    return out


class _MatrixFunction(Op):
    """One matrix in, ``np.linalg``-style results out (shared checks and dtypes)."""

    __props__ = ()
    name = "matrix op"
    square = True

    def make_node(self, x):
        x = as_matrix(x, self.name)
        if self.square:
            square_size(x)
        return Apply(self, [x], [TensorType(dtype, shape)()
                                 for dtype, shape in self.output_types(x)])

    def output_types(self, x):
        return [(float_dtype(x.dtype), x.type.shape)]

    def compute(self, x):
        raise NotImplementedError

    def perform(self, node, inputs, output_storage):
        outs = self.compute(inputs[0])
        outs = outs if isinstance(outs, tuple) else (outs,)
        for cell, value, var in zip(output_storage, outs, node.outputs):
            cell[0] = np.asarray(value, dtype=var.dtype)


class MatrixInverse(_MatrixFunction):
    """``np.linalg.inv``."""

    name = "matrix_inverse"

    def compute(self, x):
        return np.linalg.inv(x)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (xi,), (gz,) = outputs, output_grads
        return [-dot(T(xi), gz, T(xi))]


class Det(_MatrixFunction):
    """``np.linalg.det``."""

    name = "det"

    def output_types(self, x):
        return [(float_dtype(x.dtype), ())]

    def compute(self, x):
        return np.linalg.det(x)

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (d,), (gz,) = inputs, outputs, output_grads
        return [gz * d * T(matrix_inverse(x))]


class Eig(_MatrixFunction):
    """``np.linalg.eig`` -> ``(w, v)`` for matrices with real eigenvalues (Theano's
    outputs had the input's real dtype); complex eigenvalues are an error."""

    name = "eig"

    def output_types(self, x):
        dtype = float_dtype(x.dtype)
        return [(dtype, x.type.shape[:1]), (dtype, x.type.shape)]

    def compute(self, x):
        w, v = np.linalg.eig(x)
        if np.iscomplexobj(w) and np.any(w.imag != 0):
            raise ValueError("eig: the matrix has complex eigenvalues, which theanine's "
                             "real-valued eig cannot return; use eigh for symmetric "
                             "matrices or compute it with numpy.linalg.eig")
        return np.real(w), np.real(v)

    def infer_shape(self, fgraph, node, input_shapes):
        (s,) = input_shapes
        return [s[:1], s]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, 0, inputs[0], "eig has no gradient (as in "
                                     "Theano); use eigh for symmetric matrices")]


class Eigh(_MatrixFunction):
    """``np.linalg.eigh(x, UPLO)``: only the ``UPLO`` triangle of ``x`` is read."""

    __props__ = ("UPLO",)
    name = "eigh"

    def __init__(self, UPLO="L"):
        if UPLO not in ("L", "U"):
            raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    output_types = Eig.output_types
    infer_shape = Eig.infer_shape

    def compute(self, x):
        return np.linalg.eigh(x, self.UPLO)

    def L_op(self, inputs, outputs, output_grads):
        (w, v), (gw, gv) = outputs, output_grads
        # symmetric A = V diag(w) V^T: dA-bar = V (diag(gw) + F o (V^T gV)) V^T with
        # F[i, j] = 1 / (w[j] - w[i]) off the diagonal
        gap = dimshuffle(w, "x", 0) - dimshuffle(w, 0, "x")
        off = tm.neq(gap, 0)
        f = tm.switch(off, 1 / tm.switch(off, gap, 1), 0)
        inner = alloc_diag(gw) + f * dot(T(v), gv)
        return [read_triangle(dot(v, inner, T(v)), lower=self.UPLO == "L")]


def read_triangle(g, lower: bool):
    """The gradient of a function that reads only one triangle of its symmetric
    argument, from ``g``, its gradient as a function of every entry."""
    if lower:
        return tril(g) + T(triu(g, 1))
    return triu(g) + T(tril(g, -1))


class MatrixPinv(_MatrixFunction):
    """``np.linalg.pinv``: the Moore-Penrose pseudo-inverse."""

    name = "pinv"
    square = False

    def output_types(self, x):
        return [(float_dtype(x.dtype), x.type.shape[::-1])]

    def compute(self, x):
        return np.linalg.pinv(x)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0][::-1]]

    def L_op(self, inputs, outputs, output_grads):
        (a,), (p,), (gz,) = inputs, outputs, output_grads
        # d(A+) = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+
        left = identity_like(dot(a, p)) - dot(a, p)
        right = identity_like(dot(p, a)) - dot(p, a)
        return [-dot(T(p), gz, T(p)) + dot(left, T(gz), p, T(p)) +
                dot(T(p), p, T(gz), right)]


class QRFull(_MatrixFunction):
    """``np.linalg.qr(x, mode)`` for modes ``'reduced'``, ``'complete'`` (``q, r``) and
    ``'r'`` (``r`` alone)."""

    __props__ = ("mode",)
    name = "qr"
    square = False

    def __init__(self, mode="reduced"):
        if mode not in ("reduced", "complete", "r"):
            raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
        self.mode = mode

    def output_types(self, x):
        dtype = float_dtype(x.dtype)
        m, n = x.type.shape
        k = None if m is None or n is None else min(m, n)
        q = (m, m if self.mode == "complete" else k)
        r = (m if self.mode == "complete" else k, n)
        return [(dtype, r)] if self.mode == "r" else [(dtype, q), (dtype, r)]

    def compute(self, x):
        return np.linalg.qr(x, self.mode)

    def infer_shape(self, fgraph, node, input_shapes):
        m, n = input_shapes[0]
        k = m if self.mode == "complete" else tm.minimum(m, n)
        r = (k, n)
        return [r] if self.mode == "r" else [(m, k), r]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, 0, inputs[0], "qr has no gradient (as in "
                                     "Theano)")]


class SVD(_MatrixFunction):
    """``np.linalg.svd(x, full_matrices, compute_uv)``: ``(u, s, vt)`` or ``s``.

    The gradient covers the singular values (``u diag(gs) vt``); gradients through
    ``u`` or ``vt`` are not implemented.
    """

    __props__ = ("full_matrices", "compute_uv")
    name = "svd"
    square = False

    def __init__(self, full_matrices=True, compute_uv=True):
        self.full_matrices, self.compute_uv = bool(full_matrices), bool(compute_uv)

    def output_types(self, x):
        dtype = float_dtype(x.dtype)
        m, n = x.type.shape
        k = None if m is None or n is None else min(m, n)
        s = (dtype, (k,))
        if not self.compute_uv:
            return [s]
        if self.full_matrices:
            return [(dtype, (m, m)), s, (dtype, (n, n))]
        return [(dtype, (m, k)), s, (dtype, (k, n))]

    def compute(self, x):
        out = np.linalg.svd(x, self.full_matrices, self.compute_uv)
        return tuple(out) if self.compute_uv else out

    def infer_shape(self, fgraph, node, input_shapes):
        m, n = input_shapes[0]
        k = tm.minimum(m, n)
        if not self.compute_uv:
            return [(k,)]
        if self.full_matrices:
            return [(m, m), (k,), (n, n)]
        return [(m, k), (k,), (k, n)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        if self.compute_uv:
            gu, gs, gvt = output_grads
            if not (is_zero_gradient(gu) and is_zero_gradient(gvt)):
                return [grad_not_implemented(self, 0, x, "the gradient of svd through u "
                                             "or vt is not implemented; only through s")]
        else:
            (gs,) = output_grads
        u, _, vt = SVD(full_matrices=False, compute_uv=True)(x)
        return [dot(u * dimshuffle(gs, "x", 0), vt)]


matrix_inverse = MatrixInverse()
det = Det()
pinv = MatrixPinv()


def eig(a):
    """``(w, v)``: eigenvalues and right eigenvectors (real eigenvalues only)."""
    return Eig()(a)


def eigh(a, UPLO="L"):
    """``(w, v)`` of a symmetric matrix (``w`` ascending), reading its ``UPLO`` triangle."""
    return Eigh(UPLO)(a)


def qr(a, mode="reduced"):
    """``np.linalg.qr``: ``(q, r)``, or ``r`` alone for ``mode='r'``."""
    return QRFull(mode)(a)


def svd(a, full_matrices=1, compute_uv=1):
    """``np.linalg.svd``: ``(u, s, vt)``, or ``s`` alone with ``compute_uv=0``."""
    return SVD(full_matrices, compute_uv)(a)


def matrix_dot(*args):
    """``dot(args[0], args[1], ...)``, left to right."""
    if not args:
        raise TypeError("matrix_dot: needs at least one matrix")
    out = tb.as_tensor_variable(args[0])
    for a in args[1:]:
        out = tm.dot(out, a)
    return out


def matrix_power(M, n):
    """``M`` multiplied by itself ``n`` times (``n`` a non-negative Python int)."""
    n = int(n)
    if n < 0:
        raise ValueError(f"matrix_power: n must be >= 0, got {n} (invert first with "
                         "matrix_inverse)")
    M = as_matrix(M, "matrix_power")
    if n == 0:
        return identity_like(M)
    return tm.power_by_squaring(M, n, tm.dot, lambda m: tm.dot(m, m))


def norm(x, ord):
    """Theano's ``norm(x, ord)``: vector norms (``None``/2, ``'inf'``, ``'-inf'``, 0,
    any p) and matrix norms (``None``/``'fro'``, ``'inf'``, ``'-inf'``, 1, -1)."""
    x = tb.as_tensor_variable(x)
    ax = abs(x)
    if x.ndim == 1:
        if ord is None or ord == 2:
            return tm.sqrt(tm.sum(x * x))
        if ord == "inf":
            return tm.max(ax)
        if ord == "-inf":
            return tm.min(ax)
        if ord == 0:
            return tm.sum(tm.neq(x, 0)).astype(float_dtype(x.dtype))
        return tm.sum(ax ** ord) ** (1.0 / ord)
    if x.ndim == 2:
        if ord is None or ord == "fro":
            return tm.sqrt(tm.sum(x * x))
        if ord in ("inf", "-inf"):
            rows = tm.sum(ax, axis=1)
            return tm.max(rows) if ord == "inf" else tm.min(rows)
        if ord in (1, -1):
            cols = tm.sum(ax, axis=0)
            return tm.max(cols) if ord == 1 else tm.min(cols)
        raise ValueError(f"norm: matrix norm ord={ord!r} is not supported (use None, "
                         "'fro', 'inf', '-inf', 1 or -1)")
    raise ValueError(f"norm: {x} has {x.ndim} dims; it takes a vector or a matrix")


def tensorinv(a, ind=2):
    """``np.linalg.tensorinv``: the inverse of ``a`` seen as a matrix whose rows are
    its first ``ind`` axes."""
    a = tb.as_tensor_variable(a)
    rows = [shape_i(a, i) for i in range(ind)]
    cols = [shape_i(a, i) for i in range(ind, a.ndim)]
    inv = matrix_inverse(reshape(a, (tm.prod(tb.as_tensor_variable(rows)), -1)))
    return reshape(inv, cols + rows)


def tensorsolve(a, b, axes=None):
    """``np.linalg.tensorsolve``: ``x`` with ``tensordot(a, x, x.ndim) == b``."""
    a, b = tb.as_tensor_variable(a), tb.as_tensor_variable(b)
    if axes is not None:
        rest = [i for i in range(a.ndim) if i not in axes]
        a = dimshuffle(a, *(rest + list(axes)))
    xshape = [shape_i(a, i) for i in range(b.ndim, a.ndim)]
    mat = reshape(a, (-1, tm.prod(tb.as_tensor_variable(xshape))))
    return reshape(dot(matrix_inverse(mat), reshape(b, (-1,))), xshape)


__all__ = ["MatrixInverse", "Det", "Eig", "Eigh", "MatrixPinv", "QRFull", "SVD",
           "ExtractDiag", "AllocDiag", "matrix_inverse", "det", "eig", "eigh", "pinv", "qr",
           "svd", "matrix_dot", "matrix_power", "norm", "trace", "diag", "extract_diag",
           "alloc_diag", "tensorinv", "tensorsolve", "read_triangle"]
