"""``assign(dst, src)``, ``assign_add(dst, src)`` and ``scale_add(dst, alpha, src,
beta)``: ``dst[...] = src``, ``dst[...] += src`` and ``dst[...] = alpha*dst +
beta*src`` for the generated Numba code (the last for BLAS-style updates:
``beta == 0`` reads nothing from ``src``, as BLAS does).

Numba's own slice assignment with an array on the right compiles a formatted
shape-mismatch error with every new pair of types, and ``dst + src`` a
broadcasting ufunc loop: about 1-2 s each, most of the cold compile of a scan
gradient (rows of the loop's buffers are assigned this way, gradients of slices
are added).  Here the loops are written out for the ranks at hand, broadcasting
like NumPy (``src`` may have fewer dimensions, or length 1 where ``dst`` has
more), and a mismatch raises one constant message; the compiled code is cached
on disk per pair of array types.
"""

from __future__ import annotations

import numba
from numba import types
from numba.extending import overload

MISMATCH = "could not broadcast the value into the assigned array's shape"

#: the statement each form runs per element (``D``: dst's element, ``S``: src's)
# (beta == 0: src is not read, it may hold anything)
_FORMS = {"set": "D = S", "add": "D = D + S",
          "scale_add": "D = alpha * D + beta * S if beta != 0 else alpha * D"}
_PARAMS = {"set": "dst, src", "add": "dst, src", "scale_add": "dst, alpha, src, beta"}


def _assign_impl(dst, src):
    """Typed by :func:`_ov_assign_impl`."""


def _add_impl(dst, src):
    """Typed by :func:`_ov_add_impl`."""


def _scale_add_impl(dst, alpha, src, beta):
    """Typed by :func:`_ov_scale_add_impl`."""


def _loops_source(nd: int, sd: int, src_is_array: bool, form: str = "set") -> str:
    """Source of ``impl`` for a ``nd``-d destination and a ``sd``-d source."""
    lead = nd - sd
    lines = [f"def impl({_PARAMS[form]}):"]
    scalar = "src[()]" if src_is_array else "src"
    for d in range(sd):
        lines += [f"    b{d} = src.shape[{d}] != 1",
                  f"    if b{d} and src.shape[{d}] != dst.shape[{lead + d}]:",
                  "        raise ValueError(MISMATCH)"]
    for d in range(nd):
        lines.append("    " * (d + 1) + f"for i{d} in range(dst.shape[{d}]):")
    target = "dst[" + (", ".join(f"i{d}" for d in range(nd)) or "()") + "]"
    value = ("src[" + ", ".join(f"i{lead + d} if b{d} else 0" for d in range(sd)) + "]"
             if sd else scalar)
    statement = _FORMS[form].replace("D", target).replace("S", value)
    lines.append("    " * (nd + 1) + statement)
    return "\n".join(lines) + "\n"


def _loops(dst, src, form: str):
    if not isinstance(dst, types.Array):
        return None
    is_array = isinstance(src, types.Array)
    sd = src.ndim if is_array else 0
    if sd > dst.ndim:
        return None
    ns = {"MISMATCH": MISMATCH}
    exec(_loops_source(dst.ndim, sd, is_array, form), ns)   # noqa: S102 - our own loops
    return ns["impl"]


@overload(_assign_impl)
def _ov_assign_impl(dst, src):
    return _loops(dst, src, "set")


@overload(_add_impl)
def _ov_add_impl(dst, src):
    return _loops(dst, src, "add")


@overload(_scale_add_impl)
def _ov_scale_add_impl(dst, alpha, src, beta):
    return _loops(dst, src, "scale_add")


_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def assign(dst, src):
    """``dst[...] = src`` (see the module docstring)."""
    _assign_impl(dst, src)


@_jit
def assign_add(dst, src):
    """``dst[...] += src`` (see the module docstring)."""
    _add_impl(dst, src)


@_jit
def scale_add(dst, alpha, src, beta):
    """``dst[...] = alpha * dst + beta * src``; ``src`` unread when ``beta == 0``."""
    _scale_add_impl(dst, alpha, src, beta)


__all__ = ["assign", "assign_add", "scale_add", "MISMATCH"]
