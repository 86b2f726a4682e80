"""``assign(dst, src)`` and ``assign_add(dst, src)``: ``dst[...] = src`` and
``dst[...] += src`` for the generated Numba code.

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


def _assign_impl(dst, src):
    """Typed by :func:`_ov_assign_impl`."""


def _add_impl(dst, src):
    """Typed by :func:`_ov_add_impl`."""


def _loops_source(nd: int, sd: int, src_is_array: bool, add: bool = False) -> str:
    """Source of ``impl(dst, src)`` for a ``nd``-d destination, ``sd``-d source."""
    lead = nd - sd
    lines = ["def impl(dst, src):"]
    scalar = "src[()]" if src_is_array else "src"
    if nd == 0:
        plus = "dst[()] + " if add else ""
        return f"def impl(dst, src):\n    dst[()] = {plus}{scalar}\n"
    for d in range(sd):
        lines += [f"    if src.shape[{d}] != 1 and src.shape[{d}] != dst.shape[{lead + d}]:",
                  "        raise ValueError(MISMATCH)"]
    idx = []
    for d in range(nd):
        lines.append("    " * (d + 1) + f"for i{d} in range(dst.shape[{d}]):")
    for d in range(sd):
        k = lead + d
        lines.insert(1, f"    b{d} = src.shape[{d}] != 1")
        idx.append(f"i{k} if b{d} else 0")
    target = ", ".join(f"i{d}" for d in range(nd))
    value = f"src[{', '.join(idx)}]" if sd else scalar
    plus = f"dst[{target}] + " if add else ""
    lines.append("    " * (nd + 1) + f"dst[{target}] = {plus}{value}")
    return "\n".join(lines) + "\n"


def _loops(dst, src, add: bool):
    if not isinstance(dst, types.Array):
        return None
    is_array = isinstance(src, types.Array)
    sd = src.ndim if is_array else 0
    if sd > dst.ndim:
        return None
    ns = {"MISMATCH": MISMATCH}
    exec(_loops_source(dst.ndim, sd, is_array, add), ns)   # noqa: S102 - our own loops
    return ns["impl"]


@overload(_assign_impl)
def _ov_assign_impl(dst, src):
    return _loops(dst, src, add=False)


@overload(_add_impl)
def _ov_add_impl(dst, src):
    return _loops(dst, src, add=True)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def assign(dst, src):
    """``dst[...] = src`` (see the module docstring)."""
    _assign_impl(dst, src)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def assign_add(dst, src):
    """``dst[...] += src`` (see the module docstring)."""
    _add_impl(dst, src)


__all__ = ["assign", "assign_add", "MISMATCH"]
