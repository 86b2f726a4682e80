"""Checks of traced values that NumPy would refuse and XLA lets through.

XLA clamps an integer index out of range and computes an integer to a negative
power; NumPy raises.  While the whole function is traced, such a condition is
added here as a traced boolean (``check_later``); the linker returns their
conjunction with the outputs and, when it is false, reruns the call on the default
engine for NumPy's exception.  A traced value cannot leave the loop body, the
lazy branch or the ``vmap`` it was traced in, so those collect their own checks
(``nested``) and return their conjunction as one more value, which the loop
carries (each step's anded in), the branch returns and the ``vmap`` batches; the
caller checks that later.
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


def _collecting(fn, args):
    """``fn(*args)`` and the conjunction of the checks its tracing collected (None
    where it collected none)."""
    token = _checks.set([])
    try:
        outs = fn(*args)
        checks = _checks.get()
    finally:
        _checks.reset(token)
    return outs, (jax.numpy.all(jax.numpy.stack(checks)) if checks else None)


def nested(fn):
    """``fn`` returning ``(outputs, ok)`` for a loop body or a lazy branch: ``ok`` the
    conjunction of the checks its tracing collected, a traced ``True`` where none
    (the value's structure must not depend on them) or where the function being
    traced collects none."""
    def run(*args):
        if _checks.get() is None:
            return fn(*args), jax.numpy.asarray(True)
        outs, ok = _collecting(fn, args)
        return outs, jax.numpy.asarray(True) if ok is None else ok

    return run


def with_checks(fn):
    """``fn`` returning ``(outputs, ok)``: ``ok`` the conjunction of the checks its
    tracing collected, or None where it collected none (nothing to wait for)."""
    return lambda *args: _collecting(fn, args)


__all__ = ["check_later", "nested", "with_checks"]
