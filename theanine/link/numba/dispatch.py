"""``numba_funcify``: how each Op runs inside the whole-function Numba code.

Each registration returns an ``njit`` function of the node's input values.
Inside the compiled function a 0-d tensor (or a scalar) is a Numba scalar of
its dtype and any other tensor an array, which is Numba's own convention
(``x[i]`` and full reductions give scalars); the entry converts at the
boundary.  Every function returns values of exactly the node's output dtypes.

An op with no entry here, or one whose parameters this backend does not handle
(``NumbaUnsupported``), is not an error: it runs as a call-out (``emitter.py``),
which ``profile`` counts.
"""

from __future__ import annotations

from functools import singledispatch

from theanine.link.numba import advanced as _advanced
from theanine.link.numba import along_axis as _along_axis
from theanine.link.numba import elemwise as _elemwise
from theanine.link.numba import linalg as _linalg
from theanine.link.numba import nnet as _nnet
from theanine.link.numba import products as _products
from theanine.link.numba.compile import (
    NumbaUnsupported,
    cast,
    njit_lines,
    npname,
)
from theanine.scan.pushout import SequenceWindow
from theanine.tensor.alloc import Alloc
from theanine.tensor.basic import MakeVector, ScalarFromTensor, TensorFromScalar, VectorEntry
from theanine.tensor.construct import Eye
from theanine.tensor.gradient.ops import GradientOp
from theanine.tensor.join import Join, Split
from theanine.tensor.shape import Reshape, Shape, ShapeI, SpecifyShape, Unbroadcast
from theanine.tensor.subtensor import IncSubtensor, Subtensor


@singledispatch
def numba_funcify(op, node):
    raise NumbaUnsupported(f"the Numba backend has no form for {op}")


_elemwise.register(numba_funcify)
_nnet.register(numba_funcify)
_along_axis.register(numba_funcify)
_advanced.register(numba_funcify)
_linalg.register(numba_funcify)
_products.register(numba_funcify)


def _args(node):
    return [f"a{k}" for k in range(len(node.inputs))]


# -- shapes ----------------------------------------------------------------------------

@numba_funcify.register(Shape)
def _shape(op, node):
    nd = node.inputs[0].ndim
    if nd == 0:
        return njit_lines("shape", ["x"], ["return _empty(0, np.int64)"])
    items = ", ".join(f"x.shape[{d}]" for d in range(nd))
    return njit_lines("shape", ["x"], [f"return np.array([{items}], np.int64)"])


@numba_funcify.register(ShapeI)
def _shape_i(op, node):
    return njit_lines("shape_i", ["x"], [f"return np.int64(x.shape[{op.i}])"])


@numba_funcify.register(Reshape)
def _reshape(op, node):
    x = node.inputs[0]
    nd = node.outputs[0].ndim
    if nd == 0:
        conv = "_ascontiguous(x).reshape(1)[0]" if x.ndim else "x"
        return njit_lines("reshape", ["x", "shape"], [f"return {conv}"])
    src = "_ascontiguous(x)" if x.ndim else f"np.full(1, x, {npname(x.dtype)})"
    dims = "".join(f"shape[{d}], " for d in range(nd))
    return njit_lines("reshape", ["x", "shape"], [f"return {src}.reshape(({dims}))"])


@numba_funcify.register(SpecifyShape)
def _specify_shape(op, node):
    lines = []
    for d, want in enumerate(op.shape):
        if want is not None:
            lines += [f"if x.shape[{d}] != {int(want)}:",
                      "    raise ValueError('specify_shape: the value has another shape')"]
    return njit_lines("specify_shape", ["x"], lines + ["return x"])


@numba_funcify.register(Unbroadcast)
@numba_funcify.register(GradientOp)
def _identity(op, node):
    return njit_lines("identity", ["x"], ["return x"])


@numba_funcify.register(TensorFromScalar)
@numba_funcify.register(ScalarFromTensor)
def _scalar_box(op, node):
    return njit_lines("box", ["x"], [f"return {cast('x', node.outputs[0].type.dtype)}"])


@numba_funcify.register(Alloc)
def _alloc(op, node):
    value, *shape = node.inputs
    dt = node.outputs[0].dtype
    nd = len(shape)
    params = ["value"] + [f"s{d}" for d in range(nd)]
    if nd == 0:
        return njit_lines("alloc", params, [f"return {cast('value', dt)}"])
    dims = "(" + "".join(f"s{d}, " for d in range(nd)) + ")"
    lines = [f"out = _empty({dims}, {npname(dt)})"]
    if value.ndim == 0:
        lines.append(f"out[...] = {cast('value', dt)}")
    else:
        lines.append("_assign(out, value)")
    return njit_lines("alloc", params, lines + ["return out"])


@numba_funcify.register(MakeVector)
def _make_vector(op, node):
    n = len(node.inputs)
    lines = [f"out = _empty({n}, {npname(op.dtype)})"]
    lines += [f"out[{k}] = a{k}" for k in range(n)]
    return njit_lines("make_vector", _args(node), lines + ["return out"])


@numba_funcify.register(VectorEntry)
def _vector_entry(op, node):
    return njit_lines("vector_entry", ["v"], [f"return v[{op.i}]"])


@numba_funcify.register(Join)
def _join(op, node):
    dt = node.outputs[0].dtype
    if any(i.ndim == 0 for i in node.inputs):
        raise NumbaUnsupported("join of 0-d values")
    parts = ", ".join(f"a{k}" if i.dtype == dt else f"a{k}.astype({npname(dt)})"
                      for k, i in enumerate(node.inputs))
    axis = op.axis % node.outputs[0].ndim
    return njit_lines("join", _args(node), [f"return _concatenate(({parts},), {axis})"])


@numba_funcify.register(Split)
def _split(op, node):
    """Views of ``x`` between the running sums of ``sizes``; bad sizes raise (and the
    call is rerun on the default engine for its message)."""
    n, axis = op.n_splits, op.axis
    lines = [f"if sizes.shape[0] != {n}:",
             "    raise ValueError('split: wrong number of sizes')",
             "b0 = 0"]
    for k in range(n):
        lines += [f"if sizes[{k}] < 0:", "    raise ValueError('split: negative size')",
                  f"b{k + 1} = b{k} + sizes[{k}]"]
    lines += [f"if b{n} != x.shape[{axis}]:",
              "    raise ValueError('split: the sizes do not sum to the axis length')"]
    lead = ":, " * axis
    views = "".join(f"x[{lead}b{k}:b{k + 1}], " for k in range(n))
    return njit_lines("split", ["x", "sizes"], lines + [f"return ({views})"])


@numba_funcify.register(Eye)
def _eye(op, node):
    return njit_lines("eye", ["n", "m", "k"],
                      [f"return np.eye(n, m, k, {npname(op.dtype)})"])


# -- basic indexing --------------------------------------------------------------------

def _index_source(idx_list, first_input: int, x: str, ndim: int):
    """(lines checking integer indices, the index expression) for ``idx_list``."""
    checks, parts, k = [], [], first_input
    for axis, e in enumerate(idx_list):
        if type(e) is int or e == "i":
            i = str(e) if type(e) is int else f"a{k}"
            if type(e) is not int:
                k += 1
            checks += [f"if {i} < -{x}.shape[{axis}] or {i} >= {x}.shape[{axis}]:",
                       f"    raise IndexError('index out of bounds for axis {axis}')"]
            parts.append(i)
        elif type(e) is tuple:
            comps = []
            for c in e[1:]:
                if c == "i":
                    comps.append(f"a{k}")
                    k += 1
                else:
                    comps.append("None" if c is None else str(c))
            parts.append(f"slice({', '.join(comps)})")
        else:
            raise NumbaUnsupported(f"index entry {e!r}")
    expr = ", ".join(parts)
    return checks, f"{x}[{expr}{',' if len(parts) == 1 else ''}]"


@numba_funcify.register(Subtensor)
def _subtensor(op, node):
    x = node.inputs[0]
    if x.ndim == 0:
        return njit_lines("subtensor", _args(node), ["return a0"])
    checks, expr = _index_source(op.idx_list, 1, "a0", x.ndim)
    return njit_lines("subtensor", _args(node), checks + [f"return {expr}"])


@numba_funcify.register(SequenceWindow)
def _sequence_window(op, node):
    # a refused window raises; the call is then rerun on the default engine, whose
    # ``SequenceWindow.check`` gives the loop's message
    return njit_lines("window", ["seq", "n"], [
        f"if n < 0 or seq.shape[0] < n + {op.span}:",
        "    raise ValueError('scan: a sequence is too short for n_steps, or n_steps < 0')",
        f"return seq[{op.offset}:{op.offset} + n]"])


@numba_funcify.register(IncSubtensor)
def _inc_subtensor(op, node):
    x, y = node.inputs[:2]
    if x.ndim == 0:
        raise NumbaUnsupported("IncSubtensor of a 0-d value")
    dt = node.outputs[0].dtype
    checks, expr = _index_source(op.idx_list, 2, "out", x.ndim)
    target = node.outputs[0]
    view_ndim = target.ndim - sum(1 for e in op.idx_list if type(e) is int or e == "i")
    value = cast("a1", dt) if y.ndim == 0 else (
        "a1" if y.dtype == dt else f"a1.astype({npname(dt)})")
    lines = ["out = a0.copy()"] + checks
    if view_ndim == 0:
        lines.append(f"{expr} = {value}" if op.set_instead_of_inc else
                     f"{expr} = {expr} + {value}")
    else:
        lines.append(f"view = {expr}")
        lines.append(f"_assign(view, {value})" if op.set_instead_of_inc else
                     f"_assign_add(view, {value})")
    return njit_lines("inc_subtensor", _args(node), lines + ["return out"])


__all__ = ["NumbaUnsupported", "numba_funcify"]
