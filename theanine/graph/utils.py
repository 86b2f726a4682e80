"""Small helpers shared by the graph layer: tags and user-source traces."""

from __future__ import annotations

import contextlib
import gc
import linecache
import os
import sys

from theanine.config import config

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Scratchpad:
    """A free-form attribute bag (``var.tag``, ``node.tag``)."""

    def __repr__(self) -> str:
        return f"Scratchpad({self.__dict__})"

    def update(self, other: Scratchpad) -> None:
        self.__dict__.update(other.__dict__)


class TestValueError(ValueError):
    """A test value could not be computed (``compute_test_value`` mode)."""

    __test__ = False  # not a pytest test class


class MethodNotDefined(NotImplementedError):
    """An optional Op method is not implemented."""


_internal_codes: dict = {}


def _is_internal(code) -> bool:
    try:
        return _internal_codes[code]
    except KeyError:
        flag = code.co_filename.startswith(_PACKAGE_DIR + os.sep)
        _internal_codes[code] = flag
        return flag


_inherited: list[tuple] = []


@contextlib.contextmanager
def inherit_trace(trace: tuple | None):
    """Nodes built inside this block (by a rewrite) take ``trace``: the user's line of
    the node being rewritten, not the line that called ``function``.  ``None``: inside
    this block nodes look at the stack again (a user's own op building nodes)."""
    _inherited.append(trace)
    try:
        yield
    finally:
        _inherited.pop()


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused for the block.  Building a gradient,
    rewriting and compiling make many small objects while the whole graph is alive;
    each collection walks all of it, so on a 10,000-layer gradient the collector
    took a third of ``grad`` and of rewriting.  What the block left unreachable is
    collected as usual afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def capture_user_trace(limit: int | None = None) -> tuple:
    """Return the calling user frames as ``((file, line, function), ...)``.

    Frames inside the theanine package are skipped, so the innermost entry is
    the user's line that created a node.  Line text is looked up lazily.
    """
    if _inherited and _inherited[-1] is not None:
        return _inherited[-1]
    if limit is None:
        limit = config._values["traceback__limit"]
    if limit <= 0:
        return ()
    frames = []
    known = _internal_codes.get
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        internal = known(code)
        if internal is None:
            internal = _is_internal(code)
        if not internal:
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
            if len(frames) >= limit:
                break
        frame = frame.f_back
    return tuple(frames)


def format_trace(trace: tuple, limit: int | None = None) -> str:
    """Format a captured trace, innermost (the user's line) last, like a traceback."""
    lines = []
    for filename, lineno, func in reversed(trace[:limit] if limit else trace):
        lines.append(f'  File "{filename}", line {lineno}, in {func}')
        text = linecache.getline(filename, lineno).strip()
        if text:
            lines.append(f"    {text}")
    return "\n".join(lines)


def user_line(trace: tuple) -> str:
    """``file:line`` of the innermost user frame, or ``'<unknown>'``."""
    if not trace:
        return "<unknown>"
    filename, lineno, _ = trace[0]
    return f"{filename}:{lineno}"
