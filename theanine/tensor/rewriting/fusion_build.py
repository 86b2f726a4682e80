"""Building the ``Elemwise(Composite)`` that replaces a set of elementwise nodes.

Shared by both fusion steps: single-output groups (``fusion.py``) and the merge of
nodes that read the same values into one multi-output node (``fusion_siblings.py``).
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.scalar.composite import Composite, const_ref, input_ref, node_ref, shift_ref
from theanine.tensor.elemwise import DimShuffle

#: inputs plus outputs of one fused node: native kernels take them as positional
#: arguments, and Numba's inliner fails on a kernel body of more than 29 inputs and
#: one output
MAX_KERNEL_OPERANDS = 30


_PATTERNS: dict = {}


def broadcast_pattern(var) -> tuple:
    """Which axes of ``var`` have length 1 (cached per static shape: the fusion pass
    asks for every candidate of every group)."""
    shape = var.type.shape
    found = _PATTERNS.get(shape)
    if found is None:
        found = _PATTERNS[shape] = tuple(s == 1 for s in shape)
    return found


def scalar_constant(var):
    """The value of ``var`` if it is a constant with one element (maybe via
    a DimShuffle that only adds broadcast axes), else None."""
    if isinstance(var, Constant):
        data = np.asarray(var.data)
        return data.reshape(()) if data.size == 1 else None
    owner = var.owner
    if owner is not None and isinstance(owner.op, DimShuffle) \
            and isinstance(owner.inputs[0], Constant):
        data = np.asarray(owner.inputs[0].data)
        return data.reshape(()) if data.size == 1 else None
    return None


_DTYPE_NAMES: dict = {}


def _dtype_name(dtype) -> str:
    """``str(dtype)``, cached (NumPy computes dtype names in Python)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


_ONE_DTYPE: dict = {}


def _one_dtype(dtype: str) -> tuple:
    """``(dtype,)``, one object per dtype (a code entry's output dtypes)."""
    found = _ONE_DTYPE.get(dtype)
    if found is None:
        found = _ONE_DTYPE[dtype] = (dtype,)
    return found


def build_composite(nodes, outputs) -> tuple[Composite, list]:
    """The Composite computing ``outputs`` from elementwise ``nodes`` (given in a
    topological order; a node may itself hold a Composite, of any number of
    outputs), and the outside Variables it reads (``outside_inputs``), in input
    order.  One-element constants become constants of the scalar code."""
    ref: dict = {}
    code: list = []
    in_vars = outside_inputs(nodes)
    in_index = {var: k for k, var in enumerate(in_vars)}
    consts: dict = {}

    def outside(var):
        k = in_index.get(var)
        if k is not None:
            return input_ref(k)
        found = consts.get(var)
        if found is None:
            value = scalar_constant(var)
            found = consts[var] = const_ref(_dtype_name(value.dtype), value[()])
        return found

    for node in nodes:
        args = [ref[i] if i in ref else outside(i) for i in node.inputs]
        sop = node.op.scalar_op
        if isinstance(sop, Composite):
            base = len(code)
            for op, cargs, dts in sop.code:
                code.append((op, tuple(shift_ref(a, args, base) for a in cargs), dts))
            for out, out_ref in zip(node.outputs, sop.outputs_ref):
                ref[out] = shift_ref(out_ref, args, base)
        else:
            outs = node.outputs
            dts = _one_dtype(outs[0].type.dtype) if len(outs) == 1 else \
                tuple(o.type.dtype for o in outs)
            code.append((sop, tuple(args), dts))
            for k, out in enumerate(node.outputs):
                ref[out] = node_ref(len(code) - 1, k)
    comp = Composite.from_code([v.dtype for v in in_vars], code, [ref[o] for o in outputs],
                               [o.dtype for o in outputs])
    return comp, in_vars


def outside_inputs(nodes) -> list:
    """The Variables ``build_composite(nodes, ...)`` would take as inputs, in its
    order, without building anything: what the nodes read from outside them, less
    one-element constants (the Composite's own constants)."""
    produced = {out for node in nodes for out in node.outputs}
    found: dict = {}
    for node in nodes:
        for var in node.inputs:
            if var not in produced and var not in found and scalar_constant(var) is None:
                found[var] = None
    return list(found)


def as_input(var, ndim):
    """``var`` with leading broadcast axes up to ``ndim`` (an Elemwise input)."""
    if var.ndim == ndim:
        return var
    return DimShuffle(var.ndim, ("x",) * (ndim - var.ndim) + tuple(range(var.ndim)))(var)


__all__ = ["MAX_KERNEL_OPERANDS", "as_input", "broadcast_pattern", "build_composite",
           "outside_inputs", "scalar_constant"]
