"""Test values: run each node as it is built, so shape errors surface on the user's line.

With ``config.compute_test_value`` set to ``ignore``/``warn``/``raise``, every new
Apply is evaluated with ``perform`` on its inputs' test values (constants and
shared variables use their values; symbolic inputs use ``x.tag.test_value``).
The flag only decides what happens when an input has *no* test value (skip
silently, warn, or raise); an error while computing one is always raised.
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.config import config
from theanine.graph.basic import Constant, Variable
from theanine.graph.op import set_test_value_hook
from theanine.graph.utils import TestValueError, format_trace, user_line
from theanine.link.errors import input_lines

_MISSING = object()


def get_test_value(var: Variable):
    """The test value of ``var`` (filtered to its type), or ``_MISSING``."""
    if isinstance(var, Constant):
        return var.data
    if getattr(var, "is_shared", False):
        return var.container[0]
    value = getattr(var.tag, "test_value", _MISSING)
    if value is _MISSING:
        return value
    try:
        filtered = var.type.filter(value, allow_downcast=True)
    except (TypeError, ValueError) as exc:
        raise TestValueError(f"the test value of {var} does not fit its type {var.type}: "
                             f"{exc}") from None
    var.tag.test_value = filtered
    return filtered


def _missing(node, var) -> bool:
    """Handle an input without test value; True means: skip this node."""
    mode = config.compute_test_value
    msg = (f"{var} ({var.type}), needed by {node.op}, has no test value; set "
           f"{var.name or 'the variable'}.tag.test_value (needed at "
           f"{user_line(node.tag.trace)})")
    if mode == "raise":
        raise TestValueError(msg)
    if mode == "warn":
        warnings.warn(msg, stacklevel=4)
    return True


def _fill_from_owners(var: Variable):
    """Compute the missing test values above ``var``, for nodes built without
    ``Op.__call__`` (``make_node`` directly, as gradient code does).

    Returns ``None`` when ``var`` has its value now, else the input without one that
    stops it (the variable the user should give a test value).
    """
    order, seen, stack = [], set(), [(var.owner, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for inp in node.inputs:
            if get_test_value(inp) is not _MISSING:
                continue
            if inp.owner is None:
                return inp
            stack.append((inp.owner, False))
    for node in order:
        _evaluate(node, [get_test_value(v) for v in node.inputs])
    return None


def compute_test_value(node) -> None:
    """Evaluate ``node`` on its inputs' test values and store its outputs' values."""
    if config._values["compute_test_value"] == "off":
        return
    values = []
    for var in node.inputs:
        value = get_test_value(var)
        if value is _MISSING and var.owner is not None:
            blocker = _fill_from_owners(var)
            if blocker is not None:
                _missing(node, blocker)
                return
            value = get_test_value(var)
        if value is _MISSING:
            _missing(node, var)
            return
        values.append(value)
    _evaluate(node, values)


def _evaluate(node, values) -> None:
    storage = [[None] for _ in node.outputs]
    try:
        with np.errstate(all="ignore"):
            node.op.perform(node, list(values), storage)
    except Exception as exc:
        raise _build_time_error(node, values, exc) from exc
    for out, cell in zip(node.outputs, storage):
        out.tag.test_value = cell[0]


def _build_time_error(node, values, exc) -> Exception:
    lines = [f"{type(exc).__name__} while computing test values: {exc}",
             f"Node: {node}",
             f"Built at {user_line(node.tag.trace)}"]
    lines += input_lines(node, values)
    if node.tag.trace:
        lines.append(format_trace(node.tag.trace))
    message = "\n".join(lines)
    try:
        return type(exc)(message)
    except Exception:
        return TestValueError(message)


set_test_value_hook(compute_test_value)
