"""Matrix products for compiled functions: BLAS ``gemm``/``gemv`` with their scale
factors, on operands of any layout BLAS can read.

Numba's ``np.dot`` of matrices compiles its own implementation into every
function that uses it (0.1-0.5 s of a cold compile per product, three of them a
second of an RNN gradient's), allocates its result, and leaves ``alpha``/``beta``
of a ``Gemm`` to a second pass over the result.  The helpers here are compiled
once per signature and kept in Numba's disk cache with the package, and pass the
scale factors to BLAS: NumPy's own CBLAS where ``numpy_blas.py`` found it (one
thread pool with the default engine), else SciPy's through Numba's
``numba_xxgemm``/``numba_xxgemv`` wrappers, the BLAS ``np.dot`` calls.  A
transposed operand is read in place (BLAS's transpose flag); only an operand no
BLAS layout describes (a broadcast or reversed axis, a gap between rows of a
vector) is copied first.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from theanine.link.numba.numpy_blas import cblas_symbol, register_numpy_cblas

_I8 = ir.IntType(8)
_I32 = ir.IntType(32)
_VOID_P = ir.IntType(8).as_pointer()
_KIND = {types.float64: "d", types.float32: "s"}
_N, _T = ord("n"), ord("t")


def _data(context, builder, aty, value):
    return builder.bitcast(context.make_array(aty)(context, builder, value).data, _VOID_P)


def _slot(builder, value):
    """A pointer to a stack copy of ``value`` (BLAS takes the scale factors by address)."""
    return builder.bitcast(cgutils.alloca_once_value(builder, value), _VOID_P)


def _intp(context, builder, ty, value):
    return context.cast(builder, value, ty, types.intp)


@intrinsic
def _xxgemm(typingctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major ``c = alpha * op(a) @ op(b) + beta * c`` (``ta``/``tb``: ``ord('n')``
    or ``ord('t')``); the BLAS status is returned."""
    if not isinstance(a, types.Array) or a.dtype not in _KIND:
        return None
    sig = types.int32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        at = signature.args
        fnty = ir.FunctionType(_I32, [_I8, _I8, _I8, *(3 * [cgutils.intp_t]),
                                      _VOID_P, _VOID_P, cgutils.intp_t,
                                      _VOID_P, cgutils.intp_t, _VOID_P,
                                      _VOID_P, cgutils.intp_t])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        return builder.call(fn, (
            ir.Constant(_I8, ord(_KIND[a.dtype])),
            builder.trunc(_intp(context, builder, at[0], args[0]), _I8),
            builder.trunc(_intp(context, builder, at[1], args[1]), _I8),
            *(_intp(context, builder, at[i], args[i]) for i in (2, 3, 4)),
            _slot(builder, context.cast(builder, args[5], at[5], a.dtype)),
            _data(context, builder, at[6], args[6]), _intp(context, builder, at[7], args[7]),
            _data(context, builder, at[8], args[8]), _intp(context, builder, at[9], args[9]),
            _slot(builder, context.cast(builder, args[10], at[10], a.dtype)),
            _data(context, builder, at[11], args[11]),
            _intp(context, builder, at[12], args[12])))
    return sig, codegen


@intrinsic
def _xxgemv(typingctx, trans, m, n, alpha, a, lda, x, beta, y):
    """Column-major ``y = alpha * op(a) @ x + beta * y`` with contiguous ``x``, ``y``;
    the BLAS status is returned."""
    if not isinstance(a, types.Array) or a.dtype not in _KIND:
        return None
    sig = types.int32(trans, m, n, alpha, a, lda, x, beta, y)

    def codegen(context, builder, signature, args):
        at = signature.args
        fnty = ir.FunctionType(_I32, [_I8, _I8, cgutils.intp_t, cgutils.intp_t,
                                      _VOID_P, _VOID_P, cgutils.intp_t,
                                      _VOID_P, _VOID_P, _VOID_P])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemv")
        return builder.call(fn, (
            ir.Constant(_I8, ord(_KIND[a.dtype])),
            builder.trunc(_intp(context, builder, at[0], args[0]), _I8),
            _intp(context, builder, at[1], args[1]), _intp(context, builder, at[2], args[2]),
            _slot(builder, context.cast(builder, args[3], at[3], a.dtype)),
            _data(context, builder, at[4], args[4]), _intp(context, builder, at[5], args[5]),
            _data(context, builder, at[6], args[6]),
            _slot(builder, context.cast(builder, args[7], at[7], a.dtype)),
            _data(context, builder, at[8], args[8])))
    return sig, codegen


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
#: whether the products call NumPy's BLAS (one thread pool with the default engine)
NUMPY_CBLAS = register_numpy_cblas()


def _cblas_call(builder, name, argtypes, args):
    """Call NumPy's CBLAS routine ``name``; where it was not found, code that is never
    run (``NUMPY_CBLAS`` steers around it) and names no missing symbol."""
    if not NUMPY_CBLAS:
        builder.unreachable()
        builder.position_at_end(builder.append_basic_block("unreachable.after"))
        return
    fn = cgutils.get_or_insert_function(builder.module,
                                        ir.FunctionType(ir.VoidType(), argtypes), name)
    builder.call(fn, args)


def _trans(builder, context, ty, flag):
    """CBLAS's transpose code for ``ord('n')``/``ord('t')``."""
    is_n = builder.icmp_signed("==", _intp(context, builder, ty, flag),
                               ir.Constant(cgutils.intp_t, _N))
    return builder.select(is_n, ir.Constant(_I32, _NO_TRANS), ir.Constant(_I32, _TRANS))


@intrinsic
def _cblas_gemm(typingctx, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Row-major ``c = alpha * op(a) @ op(b) + beta * c`` on NumPy's CBLAS (64-bit
    integers); ``ta``/``tb``: ``ord('n')`` or ``ord('t')``."""
    if not isinstance(a, types.Array) or a.dtype not in _KIND:
        return None
    sig = types.void(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        at = signature.args
        dt = context.get_value_type(a.dtype)
        i64 = cgutils.intp_t
        values = [ir.Constant(_I32, _ROW_MAJOR), _trans(builder, context, at[0], args[0]),
                  _trans(builder, context, at[1], args[1]),
                  *(_intp(context, builder, at[i], args[i]) for i in (2, 3, 4)),
                  context.cast(builder, args[5], at[5], a.dtype),
                  _data(context, builder, at[6], args[6]), _intp(context, builder, at[7], args[7]),
                  _data(context, builder, at[8], args[8]), _intp(context, builder, at[9], args[9]),
                  context.cast(builder, args[10], at[10], a.dtype),
                  _data(context, builder, at[11], args[11]),
                  _intp(context, builder, at[12], args[12])]
        _cblas_call(builder, cblas_symbol(_KIND[a.dtype] + "gemm"),
                    [_I32, _I32, _I32, i64, i64, i64, dt, _VOID_P, i64, _VOID_P, i64, dt,
                     _VOID_P, i64], values)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def _cblas_gemv(typingctx, trans, m, n, alpha, a, lda, x, incx, beta, y):
    """Row-major ``y = alpha * op(a) @ x + beta * y`` on NumPy's CBLAS, ``x`` read
    every ``incx`` elements, ``y`` contiguous."""
    if not isinstance(a, types.Array) or a.dtype not in _KIND:
        return None
    sig = types.void(trans, m, n, alpha, a, lda, x, incx, beta, y)

    def codegen(context, builder, signature, args):
        at = signature.args
        dt = context.get_value_type(a.dtype)
        i64 = cgutils.intp_t
        values = [ir.Constant(_I32, _ROW_MAJOR), _trans(builder, context, at[0], args[0]),
                  _intp(context, builder, at[1], args[1]), _intp(context, builder, at[2], args[2]),
                  context.cast(builder, args[3], at[3], a.dtype),
                  _data(context, builder, at[4], args[4]), _intp(context, builder, at[5], args[5]),
                  _data(context, builder, at[6], args[6]), _intp(context, builder, at[7], args[7]),
                  context.cast(builder, args[8], at[8], a.dtype),
                  _data(context, builder, at[9], args[9]), ir.Constant(i64, 1)]
        _cblas_call(builder, cblas_symbol(_KIND[a.dtype] + "gemv"),
                    [_I32, _I32, i64, i64, dt, _VOID_P, i64, _VOID_P, i64, dt, _VOID_P, i64],
                    values)
        return context.get_dummy_value()
    return sig, codegen


_jit = numba.njit(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)


def _cached_per_blas(fn):
    """``_jit`` of ``fn`` under a name saying which BLAS it calls: Numba's disk cache
    is keyed by name, so machine code calling NumPy's CBLAS is never loaded where it
    was not found (another NumPy build in the same place)."""
    fn.__qualname__ = f"{fn.__name__}_{'numpy' if NUMPY_CBLAS else 'scipy'}_blas"
    return _jit(fn)


@_jit
def _layout(X):
    """How BLAS reads the row-major matrix ``X`` in place: ``(flag, ld)`` where flag
    is ``ord('n')`` for rows of unit stride (its transpose, column-major, as stored)
    and ``ord('t')`` for columns of unit stride; ``(0, 0)`` when neither holds."""
    isz = X.itemsize
    r, c = X.shape
    s0, s1 = X.strides
    if c <= 1 or s1 == isz:
        if r <= 1:
            return _N, max(c, 1)
        if s0 > 0 and s0 % isz == 0 and s0 // isz >= max(c, 1):
            return _N, s0 // isz
    if r <= 1 or s0 == isz:
        if c <= 1:
            return _T, max(r, 1)
        if s1 > 0 and s1 % isz == 0 and s1 // isz >= max(r, 1):
            return _T, s1 // isz
    return 0, 0


@_jit
def _operand(X):
    """``(X, flag, ld)`` for BLAS (``_layout``), ``X`` copied C-contiguous first where
    no BLAS layout describes it."""
    flag, ld = _layout(X)
    if flag == 0:
        return np.ascontiguousarray(X), _N, max(X.shape[1], 1)
    return X, flag, ld


@_jit
def _empty_product(beta, out):
    """``beta * out`` written into ``out``, for a product summing nothing (``out``
    unread when ``beta == 0``)."""
    if beta == 0:
        out[...] = 0
    else:
        out *= beta
    return out


@_cached_per_blas
def gemm_into(alpha, A, B, beta, C):
    """``C[...] = alpha * A @ B + beta * C`` for matrices of one float dtype, ``C``
    C-contiguous (``C`` unread when ``beta == 0``); returns ``C``."""
    m, k = A.shape
    if B.shape[0] != k or B.shape[1] != C.shape[1] or C.shape[0] != m:
        raise ValueError("matrix product: shapes do not match")
    n = B.shape[1]
    if m == 0 or n == 0:
        return C
    if (n > 1 and C.strides[1] != C.itemsize) or (m > 1 and C.strides[0] != n * C.itemsize):
        raise ValueError("gemm_into: the result must be C-contiguous")
    if k == 0:
        return _empty_product(beta, C)
    A, ta, lda = _operand(A)
    B, tb, ldb = _operand(B)
    if NUMPY_CBLAS:
        _cblas_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, max(n, 1))
        return C
    # row-major C = A @ B is column-major C^T = B^T @ A^T
    status = _xxgemm(tb, ta, n, m, k, alpha, B, ldb, A, lda, beta, C, max(n, 1))
    if status != 0:
        raise RuntimeError("BLAS gemm failed")
    return C


@_cached_per_blas
def gemv_into(alpha, A, x, beta, y):
    """``y[...] = alpha * A @ x + beta * y`` for a matrix and vectors of one float
    dtype, ``y`` contiguous (unread when ``beta == 0``); returns ``y``."""
    m, n = A.shape
    if x.shape[0] != n or y.shape[0] != m:
        raise ValueError("matrix-vector product: shapes do not match")
    if m == 0:
        return y
    if m > 1 and y.strides[0] != y.itemsize:
        raise ValueError("gemv_into: the result must be contiguous")
    if n == 0:
        return _empty_product(beta, y)
    A, flag, ld = _operand(A)
    if NUMPY_CBLAS:
        inc = x.strides[0] // x.itemsize if n > 1 else 1
        if inc <= 0 or inc * x.itemsize != x.strides[0]:
            x = np.ascontiguousarray(x)
            inc = 1
        if flag == _N:
            _cblas_gemv(_N, m, n, alpha, A, ld, x, inc, beta, y)
        else:                   # A^T is stored row-major (n x m)
            _cblas_gemv(_T, n, m, alpha, A, ld, x, inc, beta, y)
        return y
    if x.strides[0] != x.itemsize and n > 1:
        x = np.ascontiguousarray(x)
    # rows of unit stride: A is its column-major transpose (n x m), read transposed
    if flag == _N:
        status = _xxgemv(_T, n, m, alpha, A, ld, x, beta, y)
    else:
        status = _xxgemv(_N, m, n, alpha, A, ld, x, beta, y)
    if status != 0:
        raise RuntimeError("BLAS gemv failed")
    return y


__all__ = ["gemm_into", "gemv_into"]
