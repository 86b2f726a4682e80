"""Numba forms of the matrix ops that match the default engine on every input.

``matrix_inverse``, ``det``, ``cholesky`` and ``solve`` (general, symmetric,
positive definite, triangular) go through Numba's LAPACK calls or short
substitution loops; the diagonal of a matrix (``ExtractDiag``) and a matrix
from a diagonal (``AllocDiag``) are loops.  Inputs are made contiguous and of the
float dtype the default engine returns; an empty matrix gives its answers.  A failure (a
singular or not positive definite matrix, a non-finite entry, which SciPy's
``check_finite`` rejects) raises inside the compiled code, and the linker
re-raises it with the default engine's message.

``eigh``, ``pinv``, ``svd``, ``qr`` and ``eig`` stay call-outs: NumPy answers a
non-finite matrix with NaNs (or garbage) where Numba's versions raise, and
eigenvector signs may differ between the two LAPACK builds.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, float_output, njit_source, npname
from theanine.tensor.diagonal import AllocDiag, ExtractDiag
from theanine.tensor.nlinalg import Det, MatrixInverse
from theanine.tensor.slinalg import Cholesky, Solve


def _source(name: str, call: str, empty: str, dtype: str) -> str:
    dt = npname(dtype)
    return "\n".join([
        f"def {name}(x):",
        f"    a = _ascontiguous(x).astype({dt})",
        "    if a.shape[0] == 0:",
        f"        return {empty}",
        f"    return {call}",
    ]) + "\n"


def _inverse(op, node):
    dtype = float_output(op, node)
    return njit_source(_source("inverse", "np.linalg.inv(a)", "a.copy()", dtype), "inverse")


def _det(op, node):
    dtype = float_output(op, node)
    dt = npname(dtype)
    return njit_source(_source("det", f"{dt}(np.linalg.det(a))", f"{dt}(1)", dtype), "det")


_FINITE = ("    if not np.all(np.isfinite({0})):\n"
           "        raise ValueError('array must not contain infs or NaNs')\n")


def cholesky_source(lower: bool, nan_on_error: bool, dtype: str) -> str:
    """``chol(x)``: the factor from the ``lower`` (else upper) triangle of ``x``."""
    dt = npname(dtype)
    src = (f"def chol(x):\n"
           f"    a = _ascontiguous(x{'' if lower else '.T'}).astype({dt})\n"
           + _FINITE.format("a") +
           "    if a.shape[0] == 0:\n"
           "        return a\n")
    back = "f" if lower else "_ascontiguous(f.T)"
    if nan_on_error:
        src += ("    try:\n"
                "        f = np.linalg.cholesky(a)\n"
                "    except Exception:\n"
                f"        return np.full(a.shape, np.nan, {dt})\n")
    else:
        src += "    f = np.linalg.cholesky(a)\n"
    return src + f"    return {back}\n"


def _cholesky(op, node):
    dtype = float_output(op, node)
    return njit_source(cholesky_source(op.lower, op.on_error == "nan", dtype), "chol")


# Forward (lower) or back (upper) substitution on a 2-d right-hand side, in place.
_SUBSTITUTE = """
@numba.njit(cache=True, no_cpython_wrapper=True, error_model="numpy")
def {name}(t, x):
    n, k = x.shape
    for s in range(n):
        i = {row}
        d = t[i, i]
        if d == 0:
            raise ValueError('singular matrix')
        for j in {others}:
            f = t[i, j]
            for c in range(k):
                x[i, c] -= f * x[j, c]
        for c in range(k):
            x[i, c] /= d
"""


def solve_source(assume_a: str, lower: bool, b_ndim: int, dtype: str) -> str:
    """``solve(a, b)``: ``x`` with ``a @ x == b`` for ``scipy.linalg.solve``'s
    ``assume_a`` (reading only the ``lower`` or upper triangle where SciPy does)."""
    dt = npname(dtype)
    lines = [
        _SUBSTITUTE.format(name="fwd", row="s", others="range(i)"),
        _SUBSTITUTE.format(name="bwd", row="n - 1 - s", others="range(i + 1, n)"),
        "def solve(a_in, b_in):",
        f"    a = _ascontiguous(a_in).astype({dt})",
        f"    b = _ascontiguous(b_in).astype({dt})",
        _FINITE.format("a") + _FINITE.format("b").rstrip("\n"),
        "    n = a.shape[0]",
        "    if a.shape[1] != n or b.shape[0] != n:",
        "        raise ValueError('solve: incompatible shapes')",
        "    if n == 0:",
        "        return b",
    ]
    if assume_a == "gen":
        lines.append("    return np.linalg.solve(a, b)")
        return "\n".join(lines) + "\n"
    x2 = "b.reshape((n, 1))" if b_ndim == 1 else "b"
    if assume_a in ("lower", "upper"):
        lines += [f"    x = {x2}", f"    {'fwd' if lower else 'bwd'}(a, x)"]
    else:
        # symmetric from the triangle SciPy reads
        tri = "np.tril(a)" if lower else "np.triu(a)"
        other = "np.tril(a, -1)" if lower else "np.triu(a, 1)"
        lines.append(f"    s = {tri} + {other}.T")
        if assume_a == "sym":
            return "\n".join(lines + ["    return np.linalg.solve(s, b)"]) + "\n"
        lines += ["    f = np.linalg.cholesky(s)",        # raises if not positive definite
                  f"    x = {x2}", "    fwd(f, x)", "    bwd(_ascontiguous(f.T), x)"]
    lines.append("    return b")
    return "\n".join(lines) + "\n"


def _solve(op, node):
    dtype = float_output(op, node)
    return njit_source(solve_source(op.assume_a, op.lower, node.inputs[1].ndim, dtype),
                       "solve")


def _diagonal_walk(offset: int) -> tuple[str, str]:
    """The diagonal's length from ``n1, n2`` and its entry ``i`` as ``[row, col]``."""
    length = (f"    k = max(0, min(n1 + {min(offset, 0)}, n2 - {max(offset, 0)}))")
    return length, f"[i + {max(-offset, 0)}, i + {max(offset, 0)}]"


def extract_diag_source(offset: int, swapped: bool, dtype: str) -> str:
    """``xdiag(x)``: ``np.diagonal`` of a matrix, as a new array."""
    length, at = _diagonal_walk(offset)
    return "\n".join([
        "def xdiag(x):",
        f"    a = x{'.T' if swapped else ''}",
        "    n1, n2 = a.shape",
        length,
        f"    out = _empty(k, {npname(dtype)})",
        "    for i in range(k):",
        f"        out[i] = a{at}",
        "    return out",
    ]) + "\n"


def alloc_diag_source(offset: int, swapped: bool, sized: bool, dtype: str) -> str:
    """``adiag(x[, rows, cols])``: zeros with vector ``x`` on diagonal ``offset``."""
    length, at = _diagonal_walk(offset)
    head = (["def adiag(x, rows, cols):", "    n1, n2 = int(rows), int(cols)"] if sized else
            ["def adiag(x):", f"    n1 = n2 = x.shape[0] + {abs(offset)}"])
    return "\n".join(head + [
        length,
        "    if k != x.shape[0]:",
        "        raise ValueError('alloc_diag: the diagonal does not fit')",
        f"    out = np.zeros((n1, n2), {npname(dtype)})",
        "    for i in range(k):",
        f"        out{at} = x[i]",
        f"    return out{'.T' if swapped else ''}",
    ]) + "\n"


def _extract_diag(op, node):
    if node.inputs[0].ndim != 2:
        raise NumbaUnsupported(f"{op} of a {node.inputs[0].ndim}-d array")
    src = extract_diag_source(op.offset, op.axis1 > op.axis2, node.outputs[0].dtype)
    return njit_source(src, "xdiag")


def _alloc_diag(op, node):
    if node.inputs[0].ndim != 1:
        raise NumbaUnsupported(f"{op} of a {node.inputs[0].ndim}-d array")
    src = alloc_diag_source(op.offset, op.axis1 > op.axis2, len(node.inputs) == 3,
                            node.outputs[0].dtype)
    return njit_source(src, "adiag")


def register(numba_funcify) -> None:
    numba_funcify.register(ExtractDiag)(_extract_diag)
    numba_funcify.register(AllocDiag)(_alloc_diag)
    numba_funcify.register(MatrixInverse)(_inverse)
    numba_funcify.register(Det)(_det)
    numba_funcify.register(Cholesky)(_cholesky)
    numba_funcify.register(Solve)(_solve)


__all__ = ["alloc_diag_source", "cholesky_source", "extract_diag_source", "register",
           "solve_source"]
