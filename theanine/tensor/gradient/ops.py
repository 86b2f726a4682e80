"""Ops that change only how gradients flow: identity forward, modified backward."""

from __future__ import annotations

from theanine.graph.basic import Apply
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import filled_like


class GradientOp(Op):
    """Identity on values; ``kind`` says what happens to the gradient.

    ``'zero'``: zeros; ``'disconnected'``: none at all (the input counts as not
    connected); ``'clip'``: clipped to ``[lo, hi]``; ``'scale'``: times ``lo``.
    """

    __props__ = ("kind", "lo", "hi")
    view_map = {0: [0]}

    def __init__(self, kind: str, lo=None, hi=None):
        if kind not in ("zero", "disconnected", "clip", "scale"):
            raise ValueError(f"unknown gradient modifier {kind!r}")
        self.kind, self.lo, self.hi = kind, lo, hi

    def __str__(self):
        if self.kind == "clip":
            return f"GradClip{{{self.lo}, {self.hi}}}"
        if self.kind == "scale":
            return f"GradScale{{{self.lo}}}"
        return {"zero": "ZeroGrad", "disconnected": "DisconnectedGrad"}[self.kind]

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = inputs[0]

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[0]]

    def connection_pattern(self, node):
        return [[self.kind != "disconnected"]]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        if self.kind == "disconnected":
            return [disconnected_type()]
        if self.kind == "zero":
            return [filled_like(x, 0)]
        if self.kind == "scale":
            return [tm.mul(g, tb.constant(self.lo, dtype=g.dtype))]
        return [tm.clip(g, tb.constant(self.lo, dtype=g.dtype),
                        tb.constant(self.hi, dtype=g.dtype))]


def zero_grad(x):
    """``x`` itself, but its gradient is zero (``x`` still counts as connected)."""
    return GradientOp("zero")(x)


def disconnected_grad(x):
    """``x`` itself, treated as a constant by ``grad`` (no path through it)."""
    return GradientOp("disconnected")(x)


def grad_clip(x, lower_bound, upper_bound):
    """``x`` itself; the gradient flowing back through it is clipped to the bounds."""
    if lower_bound > upper_bound:
        raise ValueError(f"grad_clip: lower_bound {lower_bound} > upper_bound {upper_bound}")
    return GradientOp("clip", float(lower_bound), float(upper_bound))(x)


def grad_scale(x, multiplier):
    """``x`` itself; the gradient flowing back through it is multiplied by ``multiplier``."""
    return GradientOp("scale", float(multiplier))(x)


def consider_constant(x):
    """Theano's older spelling of ``zero_grad``: ``x`` itself, with a zero gradient."""
    return zero_grad(x)
