"""The row view that the axis-wise Numba code shares (``nnet.py``, ``along_axis.py``).

The reduced (or scanned) axes are moved last and the input copied, if it must be,
into a C-contiguous array ``y`` viewed as ``y2`` of shape ``(K, R)``: ``K`` rows of
``R`` elements each.  ``inverse`` puts an array of ``y``'s shape back in the
input's axis order.
"""

from __future__ import annotations

from theanine.link.numba.compile import npname, transposed


def row_view(axes: tuple, ndim: int, dtype: str | None = None) -> tuple[list, list, tuple]:
    """(source lines defining ``y``, ``K``, ``R`` and ``y2`` from ``x``, the kept axes,
    the inverse permutation).  With ``dtype``, ``y`` is a new array of that dtype
    (safe to write into); without, it may be ``x`` itself."""
    kept = [d for d in range(ndim) if d not in axes]
    perm = tuple(kept + list(axes))
    inverse = tuple(perm.index(d) for d in range(ndim))
    y = f"_ascontiguous({transposed('x', perm)})"
    if dtype is not None:
        y += f".astype({npname(dtype)})"
    lines = [f"    y = {y}", "    K = 1"]
    lines += [f"    K *= x.shape[{d}]" for d in kept]
    lines.append("    R = 1")
    lines += [f"    R *= x.shape[{d}]" for d in axes]
    lines.append("    y2 = y.reshape((K, R))")
    return lines, kept, inverse


__all__ = ["row_view"]
