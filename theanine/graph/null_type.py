"""Marker types for gradients that are not ordinary values.

An op's ``L_op`` returns, per input, either a gradient Variable or one of:

- ``disconnected_type()``: the outputs do not depend on this input at all (a shape,
  an index); ``grad`` then treats the path as absent.
- ``grad_undefined(op, i, x, why)``: the gradient exists mathematically nowhere
  (e.g. with respect to an integer index); ``grad`` raises only if a requested
  gradient actually needs it.
- ``grad_not_implemented(op, i, x, why)``: the same, but the reason is missing code.

These live in the graph layer so tensor ops can return them without importing
``theanine.gradient`` (which imports the tensor layer); ``theanine.gradient``
re-exports them.
"""

from __future__ import annotations

from theanine.graph.basic import Variable
from theanine.graph.type import Type


class NullType(Type):
    """The type of an undefined gradient; ``why_null`` says why."""

    def __init__(self, why_null: str = "(no explanation given)"):
        self.why_null = why_null

    def filter(self, data, strict=False, allow_downcast=None):
        raise ValueError(f"an undefined gradient has no value: {self.why_null}")

    def __eq__(self, other):
        return type(self) is type(other) and self.why_null == other.why_null

    def __hash__(self):
        return hash((NullType, self.why_null))

    def __str__(self):
        return "NullType"


class DisconnectedType(Type):
    """The type of the gradient of an output that does not depend on an input."""

    def filter(self, data, strict=False, allow_downcast=None):
        raise ValueError("a disconnected gradient has no value")

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(DisconnectedType)

    def __str__(self):
        return "DisconnectedType"


def disconnected_type() -> Variable:
    """A fresh 'no dependency' gradient, returned by ``L_op`` for such inputs."""
    return DisconnectedType()()


def is_disconnected(var) -> bool:
    return isinstance(var, Variable) and isinstance(var.type, DisconnectedType)


def is_null(var) -> bool:
    return isinstance(var, Variable) and isinstance(var.type, NullType)


def grad_undefined(op, x_index: int, x, comment: str = "") -> Variable:
    """The gradient of ``op`` with respect to its input ``x_index`` is undefined."""
    why = (f"the gradient of {op} with respect to its input {x_index} ({x}) is "
           f"mathematically undefined" + (f": {comment}" if comment else ""))
    return NullType(why)()


def grad_not_implemented(op, x_index: int, x, comment: str = "") -> Variable:
    """The gradient of ``op`` with respect to input ``x_index`` is not written yet."""
    why = (f"the gradient of {op} with respect to its input {x_index} ({x}) is not "
           f"implemented" + (f": {comment}" if comment else ""))
    return NullType(why)()
