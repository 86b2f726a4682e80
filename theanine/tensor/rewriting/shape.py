"""The shape graph: ``x.shape`` computed from the inputs' shapes, not from ``x``.

``Shape(x)`` becomes a vector of ``Shape_i`` entries, and each ``Shape_i(x)`` of a
computed ``x`` is replaced by what ``infer_shape`` of ``x``'s op says, in terms of
its inputs' shapes.  Repeating that walks the shape question up to the graph
inputs, so a function returning only ``f(x).shape`` never computes ``f(x)``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Variable
from theanine.tensor import basic as tb
from theanine.tensor.rewriting.utils import as_replacement, register_op_rule
from theanine.tensor.shape import Shape, ShapeI, shape_i
from theanine.tensor.type import TensorType


def _as_int64_scalar(entry):
    """An infer_shape entry (int or scalar Variable) as an int64 0-d tensor, or None."""
    if isinstance(entry, (int, np.integer)):
        return tb.constant(np.int64(entry))
    if isinstance(entry, Variable) and isinstance(entry.type, TensorType) and entry.ndim == 0 \
            and entry.dtype[0] in "iu":
        return tb.cast(entry, "int64")
    return None


@register_op_rule("canonicalize", ShapeI, name="shape_i_lift")
def shape_i_lift(fgraph, node):
    """``Shape_i{k}(f(a, b))`` -> entry ``k`` of ``f``'s ``infer_shape`` on ``a``, ``b``."""
    (x,) = node.inputs
    k = node.op.i
    out = node.outputs[0]
    if x.type.shape[k] is not None:
        return [tb.constant(np.int64(x.type.shape[k]))]
    owner = x.owner
    if owner is None:
        return None
    in_shapes = [tuple(shape_i(i, d) for d in range(i.ndim))
                 if isinstance(i.type, TensorType) else None for i in owner.inputs]
    try:
        shapes = owner.op.infer_shape(fgraph, owner, in_shapes)
        entry = shapes[x.index][k]
    except Exception:   # an op without (or with a partial) infer_shape keeps Shape_i
        return None
    new = _as_int64_scalar(entry)
    if new is None or new is out:
        return None
    return [as_replacement(new, out)]


@register_op_rule("canonicalize", Shape, name="shape_to_entries")
def shape_to_entries(fgraph, node):
    """``Shape(x)`` of a computed ``x`` -> ``[Shape_i{0}(x), ...]`` (constants where known)."""
    (x,) = node.inputs
    out = node.outputs[0]
    if None not in x.type.shape:
        return [tb.constant(np.array(x.type.shape, dtype="int64"))]
    if x.owner is None:
        return None
    return [as_replacement(tb.MakeVector("int64")(*[shape_i(x, d) for d in range(x.ndim)]),
                           out)]


__all__ = ["shape_i_lift", "shape_to_entries"]
