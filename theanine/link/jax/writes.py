"""``set_subtensor``/``inc_subtensor`` on a static box of the array, without a scatter.

``x.at[index].add(y)`` lowers to an XLA scatter.  Where every index entry is a
static integer or a static slice of step 1 or -1, the written elements form a box:
the write is then ``y`` (or ``x + y``) when the box is the whole array, and a
``dynamic_update_slice`` of the box otherwise.  That is what XLA's in-place update
of a slice is, and it avoids a defect of XLA's CPU compiler (jaxlib 0.10): a scatter
whose window is the whole operand, followed by a reverse
(``jnp.zeros((5, 2)).at[0:5].add(y)[::-1]``, what the gradient of a backward scan
over its sequence contains), aborted the process ("Invalid binary instruction
opcode map").  Other indices keep the scatter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["write_box"]


def _box(index, shape):
    """Per axis ``(start, length, reversed, dropped)`` of the elements ``index``
    selects, or None when they are not a static box."""
    index = index if isinstance(index, tuple) else (index,)
    if len(index) > len(shape):
        return None
    box = []
    for entry, size in zip(index, shape):
        if isinstance(entry, (int, np.integer)) and not isinstance(entry, bool):
            k = int(entry) + (size if entry < 0 else 0)
            if not 0 <= k < size:
                return None
            box.append((k, 1, False, True))
        elif isinstance(entry, slice) and all(
                v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
                for v in (entry.start, entry.stop, entry.step)):
            start, stop, step = entry.indices(size)
            if step == 1:
                box.append((start, max(0, stop - start), False, False))
            elif step == -1:
                length = max(0, start - stop)
                box.append((start - length + 1 if length else 0, length, True, False))
            else:
                return None
        else:
            return None
    box.extend((0, size, False, False) for size in shape[len(index):])
    return box


def write_box(x, y, index, set_instead_of_inc):
    """``x`` with ``y`` written (or added) at ``index``; None where ``index`` is not
    a static box (the caller then scatters)."""
    x = jnp.asarray(x)
    box = _box(index, x.shape)
    if box is None:
        return None
    if any(length == 0 for _, length, _, _ in box):
        return x
    picked = tuple(length for _, length, _, dropped in box if not dropped)
    upd = jnp.broadcast_to(jnp.asarray(y), picked)
    upd = upd.reshape(tuple(length for _, length, _, _ in box))     # dropped axes back
    flips = tuple(a for a, (_, _, rev, _) in enumerate(box) if rev)
    if flips:
        upd = jnp.flip(upd, axis=flips)
    starts = tuple(start for start, _, _, _ in box)
    if all(start == 0 and length == size
           for (start, length, _, _), size in zip(box, x.shape)):
        return upd.astype(x.dtype) if set_instead_of_inc else (x + upd).astype(x.dtype)
    if not set_instead_of_inc:
        region = jax.lax.slice(x, starts, tuple(s + n for s, (_, n, _, _) in
                                                zip(starts, box)))
        upd = region + upd
    return jax.lax.dynamic_update_slice(x, upd.astype(x.dtype), starts)
