"""Why a rule declined: the small mechanism behind ``explain_rewrite``.

A rule (or a whole-graph pass such as fusion) that finds a condition unmet
returns ``decline("the output has a client outside the group", node)``: that is
None, so the rule reads as before.  Only while ``collecting_reasons()`` is active
(``explain_rewrite`` probing a rule) is the reason kept, so compiling pays one
call on the declining path and nothing else.
"""

from __future__ import annotations

from contextlib import contextmanager

_collectors: list = []      # stack of lists of (node or None, reason)


def decline(reason: str, node=None) -> None:
    """Say why a rewrite does not apply (to ``node``); returns None for ``return decline(...)``."""
    if _collectors:
        _collectors[-1].append((node, reason))


def reasons_wanted() -> bool:
    """Is someone collecting?  Lets a rule skip working out a costly reason."""
    return bool(_collectors)


@contextmanager
def collecting_reasons():
    """Collect the ``decline`` calls made inside the block: yields the list of
    ``(node or None, reason)`` pairs."""
    found: list = []
    _collectors.append(found)
    try:
        yield found
    finally:
        _collectors.pop()
