"""Run-time errors that name the failing node, its inputs and the user's line."""

from __future__ import annotations

import numpy as np

from theanine.config import config
from theanine.graph.utils import format_trace, user_line


class NodeRuntimeError(RuntimeError):
    """An error raised while running a node, when the original type cannot carry it."""


def describe_value(value, verbose: bool) -> str:
    if isinstance(value, np.ndarray):
        text = f"shape={value.shape}, dtype={value.dtype}"
        if verbose:
            text += f", strides={value.strides}"
            if value.size <= 10:
                text += f", value={np.array2string(value, threshold=10)}"
        return text
    if value is None:
        return "<not computed>"
    return f"{type(value).__name__} {value!r:.60}"


def input_lines(node, input_values, verbose: bool = True, with_type: bool = True) -> list[str]:
    """One ``  input i: var (type): value`` line per input of ``node`` for error messages."""
    return [f"  input {i}: {var}{f' ({var.type})' if with_type else ''}: "
            f"{describe_value(value, verbose)}"
            for i, (var, value) in enumerate(zip(node.inputs, input_values))]


def node_error_message(node, input_values, exc, position=None) -> str:
    verbose = config.exception_verbosity == "high"
    lines = [f"{type(exc).__name__}: {exc}",
             f"Apply node that caused the error: {node}"
             + (f" (position {position} in the execution order)" if position is not None
                else "")]
    lines.append(f"Created at {user_line(getattr(node.tag, 'trace', ()))}")
    lines += input_lines(node, input_values, verbose)
    trace = getattr(node.tag, "trace", ())
    if trace:
        lines.append("Graph node created by this user code (most recent call last):")
        lines.append(format_trace(trace, None if verbose else config.traceback__limit))
    return "\n".join(lines)


def reraise_with_node(node, input_values, exc, position=None):
    """Raise ``exc`` again, of the same class when possible, with node details."""
    if getattr(exc, "__theanine_node__", None) is not None:
        raise exc
    message = node_error_message(node, input_values, exc, position)
    try:
        new = type(exc)(message)
    except Exception:
        new = NodeRuntimeError(message)
    new.__theanine_node__ = node
    raise new.with_traceback(exc.__traceback__) from exc


def failing_frame(exc, code):
    """``(frame, line)`` of the innermost execution of ``code`` in ``exc``'s
    traceback (the generated function that failed), or ``(None, None)``."""
    tb = exc.__traceback__
    frame = line = None
    while tb is not None:
        if tb.tb_frame.f_code is code:
            frame, line = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    return frame, line
