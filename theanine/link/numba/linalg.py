"""``matrix_inverse`` and ``det`` through Numba's LAPACK calls.

Inputs are made contiguous and of the float dtype ``np.linalg`` would return;
an empty matrix gives NumPy's answers (an empty inverse, a determinant of 1).  A
singular matrix raises ``LinAlgError`` inside the compiled code, and the linker
re-raises it with the default engine's message.  The other decompositions run as
call-outs.
"""

from __future__ import annotations

from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname
from theanine.tensor.nlinalg import Det, MatrixInverse

_FLOATS = ("float32", "float64")


def _source(name: str, call: str, empty: str, dtype: str) -> str:
    dt = npname(dtype)
    return "\n".join([
        f"def {name}(x):",
        f"    a = np.ascontiguousarray(x).astype({dt})",
        "    if a.shape[0] == 0:",
        f"        return {empty}",
        f"    return {call}",
    ]) + "\n"


def _inverse(op, node):
    dtype = node.outputs[0].dtype
    if dtype not in _FLOATS:
        raise NumbaUnsupported(f"{op} of {dtype}")
    return njit_source(_source("inverse", "np.linalg.inv(a)", "a.copy()", dtype), "inverse")


def _det(op, node):
    dtype = node.outputs[0].dtype
    if dtype not in _FLOATS:
        raise NumbaUnsupported(f"{op} of {dtype}")
    dt = npname(dtype)
    return njit_source(_source("det", f"{dt}(np.linalg.det(a))", f"{dt}(1)", dtype), "det")


def register(numba_funcify) -> None:
    numba_funcify.register(MatrixInverse)(_inverse)
    numba_funcify.register(Det)(_det)


__all__ = ["register"]
