"""Checks of traced values that NumPy would refuse and XLA lets through.

XLA clamps an integer index out of range and computes an integer to a negative
power; NumPy raises.  While the whole function is traced, such a condition is
added here as a traced boolean (``check_later``); the linker returns their
conjunction with the outputs and, when it is false, reruns the call on the default
engine for NumPy's exception.  Inside a loop body, a lazy branch or a ``vmap``
(``unchecked``) nothing is collected: their traced values cannot leave them.
"""

from __future__ import annotations

from contextvars import ContextVar

import jax

#: the conditions collected while the whole function is traced, or None
_checks: ContextVar = ContextVar("jax_value_checks", default=None)


def check_later(ok) -> None:
    """Have the call fail if the traced boolean ``ok`` is false (where collecting)."""
    checks = _checks.get()
    if checks is not None:
        checks.append(ok)


def unchecked(fn):
    """``fn`` collecting no checks (traced inside a loop, a branch or a ``vmap``)."""
    def run(*args):
        token = _checks.set(None)
        try:
            return fn(*args)
        finally:
            _checks.reset(token)

    return run


def with_checks(fn):
    """``fn`` returning ``(outputs, ok)``: ``ok`` the conjunction of the checks its
    tracing collected, or None where it collected none (nothing to wait for)."""
    def checked(*args):
        token = _checks.set([])
        try:
            outs = fn(*args)
            checks = _checks.get()
        finally:
            _checks.reset(token)
        ok = jax.numpy.all(jax.numpy.stack(checks)) if checks else None
        return outs, ok

    return checked


__all__ = ["check_later", "unchecked", "with_checks"]
