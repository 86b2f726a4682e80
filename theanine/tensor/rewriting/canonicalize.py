"""Canonicalize: constant folding, algebraic identities and useless ops removed.

These rules make equal computations look equal (so merge finds them) and take
away work that does nothing.  Sums and products are put in canonical form in
``algebra.py``; the shape graph lives in ``shape.py``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import register_rule
from theanine.graph.rewriting.reasons import decline, reasons_wanted
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor.alloc import Alloc, alloc
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise, normalize_axis
from theanine.tensor.rewriting.utils import (
    ElemwiseOf,
    Var,
    as_replacement,
    known_nonnegative,
    register_op_rule,
    register_pattern,
)
from theanine.tensor.shape import Reshape, Shape, ShapeI, SpecifyShape, shape_i
from theanine.tensor.type import TensorType

FOLD_LIMIT = 1 << 20    # elements: larger folded results are kept only if no input was larger


def constant_folding(fgraph, node):
    """A node whose inputs are all constants becomes the constant it computes."""
    for inp in node.inputs:
        if not isinstance(inp, Constant):      # most nodes: said only when asked
            if reasons_wanted():
                decline(f"input {node.inputs.index(inp)} is not a constant", node)
            return None
    op = node.op
    if op.destroy_map or not op.do_constant_folding(fgraph, node):
        return decline("the op asks not to be folded (or works in place)", node)
    if not all(isinstance(o.type, TensorType) for o in node.outputs):
        return None
    storage = [[None] for _ in node.outputs]
    try:
        op.perform(node, [i.data for i in node.inputs], storage)
    except Exception:   # e.g. a bad constant reshape: let it fail at run time, with context
        return None
    biggest_in = max((np.size(i.data) for i in node.inputs), default=1)
    out = []
    for var, (value,) in zip(node.outputs, storage):
        value = np.array(value, dtype=var.dtype, copy=True)
        if value.size > FOLD_LIMIT and value.size > biggest_in:
            return decline(f"the folded constant would be larger than {FOLD_LIMIT} "
                           "elements and than every input", node)
        out.append(var.type.make_constant(value))
    return out


FOLD = Rule(constant_folding, (), "constant_folding", constant_inputs=True)
for _pass in ("canonicalize", "stabilize", "specialize"):   # rules there build new constants
    register_rule(_pass, FOLD)

# -- identities, in the declarative form -------------------------------------------------

register_pattern("canonicalize", (ts.mul, "x", 1), "x")
register_pattern("canonicalize", (ts.add, "x", 0), "x")
register_pattern("canonicalize", (ts.sub, "x", 0), "x")
register_pattern("canonicalize", (ts.true_div, "x", 1), "x")
register_pattern("canonicalize", (ts.pow, "x", 1), "x")
register_pattern("canonicalize", (ts.neg, (ts.neg, "x")), "x")
register_pattern("canonicalize", (ts.log, (ts.exp, "x")), "x")
register_pattern("canonicalize", (ts.exp, (ts.log, Var("x", known_nonnegative))), "x")
register_pattern("canonicalize", (ts.sqrt, (ts.sqr, Var("x", known_nonnegative))), "x")


# -- useless ops -------------------------------------------------------------------------


@register_op_rule("canonicalize", ElemwiseOf(ts.Cast), name="useless_cast")
def useless_cast(fgraph, node):
    """``cast(x, x.dtype) -> x``; ``cast(cast(x, wider), x.dtype) -> x``."""
    op = node.op.scalar_op
    (x,) = node.inputs
    if x.dtype == op.dtype:
        return [as_replacement(x, node.outputs[0])]
    inner = x.owner
    if inner is not None and type(inner.op) is Elemwise and \
            isinstance(inner.op.scalar_op, ts.Cast):
        (y,) = inner.inputs
        if y.dtype == op.dtype and np.can_cast(y.dtype, x.dtype, "safe"):
            return [as_replacement(y, node.outputs[0])]
        return decline("the inner cast loses precision, or does not come back to the "
                       "original dtype", node)
    return decline(f"the input is {x.dtype} (the cast makes {op.dtype}) and is not itself "
                   "a cast", node)


@register_op_rule("canonicalize", DimShuffle, name="useless_dimshuffle")
def useless_dimshuffle(fgraph, node):
    """Identity DimShuffles vanish; two in a row become one."""
    op = node.op
    (x,) = node.inputs
    if op.is_identity:
        return [x]
    inner = x.owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return decline("not an identity, and its input is no DimShuffle to merge with", node)
    (y,) = inner.inputs
    order = tuple("x" if i == "x" else inner.op.new_order[i] for i in op.new_order)
    composed = DimShuffle(y.ndim, order)
    return [as_replacement(y if composed.is_identity else composed(y), node.outputs[0])]


@register_op_rule("canonicalize", CAReduce, name="reduce_added_axes")
def reduce_added_axes(fgraph, node):
    """A sum, product, max or min over axes a DimShuffle added (each of length 1) does
    nothing there: ``sum(x.dimshuffle('x', 0), axis=0) -> x``; other reduced axes are
    reduced on ``x``.  A gradient through a broadcast scalar (the bias of a model)
    builds ``sum(dimshuffle('x')(sum(g)))``, two nodes and two calls per step for
    nothing."""
    op = node.op
    (shuffled,) = node.inputs
    inner = shuffled.owner
    if op.kind not in ("sum", "prod", "max", "min") or inner is None \
            or not isinstance(inner.op, DimShuffle) or inner.op.drop:
        return None
    order = inner.op.new_order
    reduced = normalize_axis(op.axis, len(order))
    if not any(order[k] == "x" for k in reduced):
        return decline("no reduced axis is one the DimShuffle added", node)
    (x,) = inner.inputs
    x_axes = tuple(sorted(order[k] for k in reduced if order[k] != "x"))
    value = CAReduce(op.kind, x_axes)(x) if x_axes else x
    left = [a for a in range(x.ndim) if a not in x_axes]
    kept = tuple("x" if order[k] == "x" else left.index(order[k])
                 for k in range(len(order)) if k not in reduced)
    if kept != tuple(range(value.ndim)):
        value = DimShuffle(value.ndim, kept)(value)
    return [as_replacement(value, node.outputs[0])]


def _is_dim_of(entry, x, i: int) -> bool:
    """``entry`` (a scalar Variable) is known to equal ``x.shape[i]``."""
    static = x.type.shape[i]
    if isinstance(entry, Constant):
        return static is not None and int(entry.data) == static
    owner = entry.owner
    if owner is None:
        return False
    if isinstance(owner.op, ShapeI):
        return owner.op.i == i and owner.inputs[0] is x
    if type(owner.op) is Elemwise and isinstance(owner.op.scalar_op, ts.Cast):
        return _is_dim_of(owner.inputs[0], x, i)
    return False


@register_op_rule("canonicalize", Reshape, name="useless_reshape")
def useless_reshape(fgraph, node):
    """Reshape to the shape ``x`` already has vanishes; reshape of reshape keeps the last."""
    x, shp = node.inputs
    out = node.outputs[0]
    if x.ndim == out.ndim:
        same = False
        if shp.owner is not None and isinstance(shp.owner.op, Shape):
            same = shp.owner.inputs[0] is x
        elif shp.owner is not None and isinstance(shp.owner.op, tb.MakeVector):
            same = all(_is_dim_of(e, x, i) for i, e in enumerate(shp.owner.inputs))
        elif isinstance(shp, Constant):
            same = tuple(int(s) for s in shp.data) == x.type.shape
        if same:
            return [as_replacement(x, out)]
    inner = x.owner
    if inner is not None and isinstance(inner.op, Reshape):
        return [as_replacement(node.op(inner.inputs[0], shp), out)]
    return None


@register_op_rule("canonicalize", SpecifyShape, name="useless_specify_shape")
def useless_specify_shape(fgraph, node):
    """``specify_shape(x, s)`` where ``x``'s static shape already says ``s``."""
    (x,) = node.inputs
    if all(w is None or w == s for w, s in zip(node.op.shape, x.type.shape)):
        return [as_replacement(x, node.outputs[0])]
    return None


@register_op_rule("canonicalize", Alloc, name="useless_alloc")
def useless_alloc(fgraph, node):
    """``alloc(x, *x.shape) -> x``: the value already has the requested shape."""
    x, *dims = node.inputs
    out = node.outputs[0]
    if x.ndim != out.ndim or not all(_is_dim_of(d, x, i) for i, d in enumerate(dims)):
        return None
    return [as_replacement(x, out)]


@register_op_rule("canonicalize", ElemwiseOf(ts.Second), name="second_to_alloc")
def second_to_alloc(fgraph, node):
    """``second(x, v)`` (``v`` broadcast to ``x``'s shape) -> ``alloc(v, *shape)`` with the
    sizes taken from ``v`` where it has them and from ``x`` only where it broadcasts:
    ``x`` itself is then no longer computed (its shape is lifted to the inputs) and the
    alloc rules can drop the broadcast altogether."""
    x, v = node.inputs
    out = node.outputs[0]
    lead = out.ndim - v.ndim
    dims = []
    for axis in range(out.ndim):
        vdim = v.type.shape[axis - lead] if axis >= lead else 1
        if vdim != 1:
            dims.append(shape_i(v, axis - lead))
        elif axis >= out.ndim - x.ndim and x.type.shape[axis - out.ndim + x.ndim] != 1:
            dims.append(shape_i(x, axis - out.ndim + x.ndim))
        else:
            dims.append(1)
    return [as_replacement(alloc(v, *dims), out)]


@register_op_rule("canonicalize", Elemwise, name="alloc_under_elemwise", needs=(Alloc,),
                  adjacent=True)
def alloc_under_elemwise(fgraph, node):
    """``alloc(v, *s) + y -> v + y`` where ``y``'s shape already gives the result shape.

    An axis along which the alloc broadcasts ``v`` needs another input that is not
    static size 1 there (by the static-shape contract it then has the full size).
    One alloc per firing; the worklist comes back for the next.
    """
    ins = node.inputs
    if len(ins) == 1 and len(node.outputs) == 1 and ins[0].owner is not None and \
            isinstance(ins[0].owner.op, Alloc):          # f(alloc(v, *s)) -> alloc(f(v), *s)
        value, *dims = ins[0].owner.inputs
        return [as_replacement(alloc(node.op(value), *dims), node.outputs[0])]
    for pos, a in enumerate(ins):
        if a.owner is None or not isinstance(a.owner.op, Alloc):
            continue
        value = a.owner.inputs[0]
        if value.ndim < a.ndim:
            value = DimShuffle(value.ndim, ("x",) * (a.ndim - value.ndim)
                               + tuple(range(value.ndim)))(value)
        covered = all(
            value.type.shape[axis] != 1 or a.type.shape[axis] == 1
            or any(j != pos and other.type.shape[axis] != 1 for j, other in enumerate(ins))
            for axis in range(a.ndim))
        if not covered:
            continue
        new = node.op(*[value if j == pos else other for j, other in enumerate(ins)])
        outs = new if isinstance(new, (list, tuple)) else [new]
        reps = [as_replacement(n, o) for n, o in zip(outs, node.outputs)]
        if all(r is not None for r in reps):
            return reps
    return None


__all__ = ["alloc_under_elemwise", "constant_folding", "second_to_alloc", "useless_alloc",
           "useless_cast", "useless_dimshuffle", "useless_reshape", "useless_specify_shape"]
