"""The error classes raised by DebugMode and NanGuardMode."""

from __future__ import annotations


class DebugModeError(Exception):
    """Base class of every problem DebugMode (or NanGuardMode) detects."""


class BadOptimization(DebugModeError):
    """A rewrite replaced a variable by one that computes a different value."""


class BadThunkOutput(DebugModeError):
    """Two implementations of the same node disagree."""


class BadDestroyMap(DebugModeError):
    """An op overwrote an input it did not declare in ``destroy_map``."""


class BadViewMap(DebugModeError):
    """An op returned a view of an input it did not declare in ``view_map``."""


class InvalidValueError(DebugModeError):
    """A value does not match its type, or is NaN/Inf where that is an error."""


class StochasticOrder(DebugModeError):
    """Two valid execution orders gave different results."""
