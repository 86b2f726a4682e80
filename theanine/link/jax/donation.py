"""Buffer donation: an updated shared value's old device buffer holds the new one.

XLA may write a result into an argument's memory when the caller gives that
argument up (``jax.jit(..., donate_argnums=...)``).  A function that updates a
shared variable drops the old value after the call, so that argument can be given
up, unless something else may still read it: the user (a value passed to
``set_value`` or handed out by ``get_value(borrow=True)``) or another argument of
the same call.  So only device arrays this backend stored as updates, never lent
since, are given up; any other value in a donated position is first copied on
the device (once: the copy is then the function's own).
"""

from __future__ import annotations

import weakref

import jax
import jax.numpy as jnp

from theanine.graph import shared as _shared

# arrays this backend wrote into shared containers and nobody else holds
_owned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _lend(value) -> None:
    """``get_value(borrow=True)`` handed ``value`` to the user: never donate it."""
    _owned.pop(id(value), None)


_shared.lend_hooks.append(_lend)


def _owns(value) -> bool:
    return _owned.get(id(value)) is value


class Donation:
    """Which arguments of one jitted function are given up, and how to make that safe."""

    def __init__(self, positions):
        self.positions = tuple(positions)

    def protect(self, args, placed) -> list:
        """``placed`` (the arguments on their devices), with a device copy in each
        donated position whose value someone else may still read."""
        out = list(placed)
        for k in self.positions:
            value = args[k]
            if not (_owns(value) and sum(a is value for a in args) == 1):
                out[k] = jnp.array(placed[k], copy=True)
        return out

    @staticmethod
    def adopt(values) -> None:
        """Mark update results as the backend's own (they go into shared containers)."""
        for v in values:
            if isinstance(v, jax.Array):
                _owned[id(v)] = v


__all__ = ["Donation"]
