"""Push per-step elementwise work out of a loop, where it runs vectorized.

A body node that is elementwise (``Elemwise``, ``DimShuffle``) and reads only
sequence steps, non-sequences and constants computes, at step ``t``, row ``t``
of the same op applied to whole sequences.  ``pushout_elementwise`` computes
those rows before the loop, in one vectorized op per body node, and feeds the
results back as new sequences.  A mapped output whose body value is such a row
needs no loop at all: the scan's output is the vectorized value itself, and a
scan left with no output disappears (the tutorial's polynomial becomes
``sum(coefficients * x ** arange(n))``).

Sequences are read through ``SequenceWindow``, which checks their length and
``n_steps`` as the loop does, so a sequence too short for ``n_steps``, or a negative
``n_steps``, still raises the loop's error (on every engine).
"""

from __future__ import annotations

from dataclasses import replace

from theanine.graph.basic import Apply, Constant, clone_replace
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.graph.utils import inherit_trace
from theanine.scan.op import Scan, ScanError
from theanine.tensor import basic as tb
from theanine.tensor.alloc import zeros_like
from theanine.tensor.elemwise import DimShuffle, Elemwise
from theanine.tensor.subtensor import set_subtensor
from theanine.tensor.type import TensorType


class SequenceWindow(Op):
    """Rows ``offset .. offset + n_steps`` of a scan sequence (a view).

    ``span`` is how many rows beyond ``n_steps`` the loop's taps need; a shorter
    sequence raises the loop's ``ScanError`` (``label`` names the scan and sequence).
    """

    __props__ = ("offset", "span", "label", "taps_text", "where")
    view_map = {0: [0]}

    def __init__(self, offset: int, span: int, label: str, taps_text: str = "", where: str = ""):
        self.offset, self.span, self.label = int(offset), int(span), label
        self.taps_text, self.where = taps_text, where

    def make_node(self, seq, n_steps):
        seq, n_steps = tb.as_tensor_variable(seq), tb.as_tensor_variable(n_steps)
        if seq.ndim < 1 or n_steps.ndim != 0 or n_steps.dtype[0] not in "iu":
            raise TypeError(f"SequenceWindow needs a sequence and an integer n_steps, got "
                            f"{seq.type} and {n_steps.type}")
        return Apply(self, [seq, n_steps], [TensorType(seq.dtype, (None,) + seq.type.shape[1:])()])

    def check(self, length: int, n: int) -> None:
        """Raise the loop's ``ScanError`` where the loop would refuse these steps."""
        if n < 0:
            scan = self.label.rsplit(": sequence ", 1)[0]
            raise ScanError(f"{scan}: n_steps={n} is negative{self.where}")
        if length < n + self.span:
            raise ScanError(f"{self.label} has {length} steps but n_steps={n}"
                            f"{self.taps_text} needs {n + self.span}{self.where}")

    def perform(self, node, inputs, output_storage):
        seq, n = inputs
        n = int(n)
        self.check(len(seq), n)
        output_storage[0][0] = seq[self.offset:self.offset + n]

    def infer_shape(self, fgraph, node, input_shapes):
        return [(node.inputs[1],) + tuple(input_shapes[0][1:])]

    def L_op(self, inputs, outputs, output_grads):
        seq, n = inputs
        rows = zeros_like(seq)[self.offset:self.offset + n]
        return [set_subtensor(rows, output_grads[0]), disconnected_type()]

    def __str__(self):
        return f"SequenceWindow{{{self.offset}:+{self.span}}}"


def _pad(var, ndim: int, rows: bool):
    """``var`` with axes added so it has ``ndim`` dims: a per-step value keeps its
    leading step axis first; an invariant gets a broadcast step axis."""
    missing = ndim - var.ndim
    if missing == 0:
        return var
    if rows:
        order = (0,) + ("x",) * missing + tuple(range(1, var.ndim))
    else:
        order = ("x",) * missing + tuple(range(var.ndim))
    return DimShuffle(var.ndim, order)(var)


def _outer_node(inner_node, outer_args, is_rows):
    """The vectorized form of a body node over (n_steps, ...) arguments."""
    op = inner_node.op
    if isinstance(op, DimShuffle):
        order = (0,) + tuple(i if i == "x" else i + 1 for i in op.new_order)
        return DimShuffle(op.input_ndim + 1, order)(outer_args[0])
    ndim = inner_node.outputs[0].ndim + 1
    return op(*[_pad(a, ndim, r) for a, r in zip(outer_args, is_rows)])


def _pushable(inner_node) -> bool:
    op = inner_node.op
    if isinstance(op, DimShuffle):
        return True
    return isinstance(op, Elemwise) and not op.destroy_map and len(inner_node.outputs) == 1


def sequence_windows(node) -> dict:
    """Each sequence placeholder of a Scan node's body -> (its outer sequence, the
    ``SequenceWindow`` whose rows are that placeholder's value at each step)."""
    op = node.op
    info = op.info
    pos = info.outer_in_positions()
    where = op._where()
    windows = {}
    for j, group in enumerate(info.inner_in_slices()["seq"]):
        taps = info.seq_taps[j]
        low, span = min(taps), max(taps) - min(taps)
        label = f"scan {info.name!r}: sequence {j}"
        taps_text = f" with taps {list(taps)}" if taps != (0,) else ""
        for k, tap in zip(group, taps):
            windows[op.inner_inputs[k]] = (node.inputs[pos["seq"][j]],
                                           SequenceWindow(tap - low, span, label, taps_text,
                                                          where))
    return windows


def pushout_elementwise(fgraph, node):
    """Compute per-step elementwise body work on whole sequences before the loop."""
    op = node.op
    if not isinstance(op, Scan) or op.info.until:
        return None
    info = op.info
    slices = info.inner_in_slices()
    pos = info.outer_in_positions()
    inner_in = op.inner_inputs
    n_steps = node.inputs[0]
    seq_rows = sequence_windows(node)
    invariant = {inner_in[g[0]]: node.inputs[p] for g, p in zip(slices["nonseq"], pos["nonseq"])}

    outer: dict = {}

    def outer_rows(var):
        if var not in outer:
            seq, window = seq_rows[var]
            outer[var] = window(seq, n_steps)
        return outer[var]

    with inherit_trace(node.tag.trace):
        pushed = _vectorize_body(op, seq_rows, invariant, outer, outer_rows)
    if not pushed:
        return None
    return _rebuild_without(fgraph, node, {n.outputs[0] for n in pushed}, outer)


def _vectorize_body(op, seq_rows, invariant, outer, outer_rows) -> list:
    """Build the vectorized form of every pushable body node (into ``outer``)."""
    pushed = []
    for inner_node in op._inner_order():
        if not _pushable(inner_node):
            continue
        ins = inner_node.inputs
        is_rows = [i in seq_rows or i in outer for i in ins]
        if not any(is_rows) or not all(
                r or i in invariant or isinstance(i, Constant) for i, r in zip(ins, is_rows)):
            continue
        args = [outer_rows(i) if i in seq_rows else outer[i] if r else invariant.get(i, i)
                for i, r in zip(ins, is_rows)]
        outer[inner_node.outputs[0]] = _outer_node(inner_node, args, is_rows)
        pushed.append(inner_node)
    return pushed


def _rebuild_without(fgraph, node, computed, outer):
    """Replace the pushed values: mapped outputs directly, body uses by new sequences."""
    op, info = node.op, node.op.info
    inner_out = list(op.inner_outputs)
    pushed_nodes = {v.owner for v in computed}
    users = set()
    for inner_node in op._inner_order():
        if inner_node not in pushed_nodes:
            users.update(i for i in inner_node.inputs if i in computed)
    replaced = {}
    keep_nit = []
    for j in range(info.n_nit):
        var = inner_out[info.n_sot + j]
        if var in computed and info.keep[info.n_sot + j] is None:
            replaced[node.outputs[info.n_sot + j]] = outer[var]
        else:
            keep_nit.append(j)
    for j, var in enumerate(inner_out):
        nit = info.n_sot <= j < info.n_sot + info.n_nit and (j - info.n_sot) not in keep_nit
        if var in computed and not nit:
            users.add(var)
    if not users and len(keep_nit) == info.n_nit:
        return None
    if not users and not keep_nit and info.n_sot == 0 and info.n_carry == 0:
        return replaced                                 # nothing left to loop over
    position = {n: i for i, n in enumerate(op._inner_order())}
    frontier = sorted((v for v in computed if v in users), key=lambda v: position[v.owner])
    placeholders = [v.type(v.name) for v in frontier]
    new_outputs = clone_replace(
        inner_out[:info.n_sot] + [inner_out[info.n_sot + j] for j in keep_nit]
        + inner_out[info.n_sot + info.n_nit:], dict(zip(frontier, placeholders)))
    n_seq_inner = sum(len(t) for t in info.seq_taps)
    inner_inputs = list(op.inner_inputs[:n_seq_inner]) + placeholders + \
        list(op.inner_inputs[n_seq_inner:])
    outer_inputs = list(node.inputs[:1 + info.n_seq]) + [outer[v] for v in frontier] + \
        list(node.inputs[1 + info.n_seq:])
    keep = info.keep[:info.n_sot] + tuple(info.keep[info.n_sot + j] for j in keep_nit)
    new_info = replace(info, seq_taps=info.seq_taps + ((0,),) * len(frontier),
                       n_nit=len(keep_nit), keep=keep)
    new_op = Scan(inner_inputs, new_outputs, new_info, trace=op.trace)
    new = new_op.make_node(*outer_inputs)
    new.tag.update(node.tag)
    old_kept = list(node.outputs[:info.n_sot]) + \
        [node.outputs[info.n_sot + j] for j in keep_nit] + \
        list(node.outputs[info.n_sot + info.n_nit:])
    replaced.update(zip(old_kept, new.outputs))
    return replaced


__all__ = ["SequenceWindow", "pushout_elementwise", "sequence_windows"]
