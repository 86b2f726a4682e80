"""Accumulators pushed out of a loop: a carried sum of per-step terms becomes one sum.

Backpropagation through time accumulates a weight's gradient in a carried state,
``acc[t+1] = acc[t] + dot(h[t-1].T, delta[t])``: one small matrix product per step
that reads and writes the whole accumulator (for an RNN of batch 32 and hidden size
256, a rank-32 update of a 256 x 256 matrix, where BLAS runs at half speed).  The
sum over steps of ``dot(A[t], B[t])`` is one product of the steps laid side by
side, ``dot(A[0] | A[1] | ..., B[0] / B[1] / ...)``: after the loop, BLAS gets the
inner dimension ``n_steps * batch``, and the loop keeps only ``B[t]`` (often an
output already).  A carried sum of values the scan already has whole (a
sequence, a mapped output), or of their ``Sum``, becomes one reduction.

``pushout_accumulators`` applies when the state is read by nothing but its own
update ``acc + term + ...`` and that update by nothing but the next step; the loop
then loses the state.  The sum runs in another order than the loop's, so results
differ from it by rounding only.
"""

from __future__ import annotations

from dataclasses import replace

from theanine.graph.basic import Constant
from theanine.graph.fg import OUTPUT
from theanine.graph.utils import inherit_trace
from theanine.scalar.arithmetic import Add
from theanine.scan.op import Scan
from theanine.scan.pushout import sequence_windows
from theanine.tensor import math as tm
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise
from theanine.tensor.shape import reshape, shape_i


class _Traces:
    """Where the whole trace (all steps, leading axis) of a body value comes from:
    a sequence's window, a mapped output kept whole, or a mapped output to add."""

    def __init__(self, node):
        op, info = node.op, node.op.info
        self.node = node
        self.windows = sequence_windows(node)
        self.mapped = {}            # body value -> index of a mapped output kept whole
        for j in range(info.n_nit):
            var = op.inner_outputs[info.n_sot + j]
            if info.keep[info.n_sot + j] is None:
                self.mapped.setdefault(var, j)
        self.added: list = []       # body values to store as new mapped outputs

    def has(self, var) -> bool:
        """Is the trace of ``var`` there without storing anything more?"""
        return var in self.windows or var in self.mapped

    def want(self, var, most_ndim: int) -> bool:
        """The trace of ``var``, storing it as a new mapped output where needed (a
        computed value of at most ``most_ndim`` dims: no more memory per step than
        the accumulator it replaces)."""
        if self.has(var) or var in self.added:
            return True
        if var.owner is None or var.ndim > most_ndim:
            return False
        self.added.append(var)
        return True

    def outer(self, var, new_node):
        """The outer trace of ``var`` once ``new_node`` (the rebuilt scan, None when no
    output is left to it) exists."""
        if var in self.windows:
            seq, window = self.windows[var]
            return window(seq, self.node.inputs[0])
        n_sot, n_nit = self.node.op.info.n_sot, self.node.op.info.n_nit
        if var in self.mapped:
            return new_node.outputs[n_sot + self.mapped[var]]
        return new_node.outputs[n_sot + n_nit + self.added.index(var)]


def _steps_merged(trace):
    """``trace`` (steps, rows, ...) with its first two axes made one."""
    rest = [shape_i(trace, i) for i in range(2, trace.ndim)]
    return reshape(trace, (shape_i(trace, 0) * shape_i(trace, 1), *rest))


def _left_operand(trace):
    """The steps of a left ``dot`` operand side by side: (steps, k, m) -> (k, steps*m);
    (steps, m) -> (steps*m,)."""
    if trace.ndim == 2:
        return _steps_merged(trace)
    owner = trace.owner
    if owner is not None and isinstance(owner.op, DimShuffle) and \
            owner.op.new_order == (0, 2, 1):        # transposed steps: merged as a view
        return _steps_merged(owner.inputs[0]).T
    return _steps_merged(trace.dimshuffle(0, 2, 1)).T


def _dot_sum(a, b, traces):
    """How to build ``sum over steps of dot(a, b)``, or None."""
    if not (a.ndim in (1, 2) and b.ndim in (1, 2)):
        return None

    def build(new_node):
        return tm.dot(_left_operand(traces.outer(a, new_node)),
                      _steps_merged(traces.outer(b, new_node)) if b.ndim == 2
                      else traces.outer(b, new_node).flatten())
    return build


def _term_sum(term, state_ndim: int, traces):
    """How to build the sum over steps of body value ``term``, or None."""
    owner = term.owner
    if owner is not None and type(owner.op) is tm.Dot:
        a, b = owner.inputs
        if traces.want(a, state_ndim) and traces.want(b, state_ndim):
            return _dot_sum(a, b, traces)
        return None
    if owner is not None and isinstance(owner.op, CAReduce) and owner.op.kind == "sum" \
            and traces.has(owner.inputs[0]):
        x = owner.inputs[0]
        axes = range(x.ndim) if owner.op.axis is None else owner.op.axis
        return lambda new_node: tm.sum(traces.outer(x, new_node),
                                       axis=(0, *(a + 1 for a in axes)))
    if traces.has(term):
        return lambda new_node: tm.sum(traces.outer(term, new_node), axis=0)
    return None


def _is_add(var) -> bool:
    owner = var.owner
    return owner is not None and isinstance(owner.op, Elemwise) and \
        isinstance(owner.op.scalar_op, Add)


def _added(fgraph, total) -> list:
    """The terms of the sum ``total`` (a tree of ``add`` nodes, each inner one read
    only by the next), or ``[total]``."""
    if not _is_add(total):
        return [total]
    terms = []
    for term in total.owner.inputs:
        if _is_add(term) and len(fgraph.clients[term]) == 1:
            terms += _added(fgraph, term)
        else:
            terms.append(term)
    return terms


def _accumulated(fgraph, state, update, traces):
    """The builders of the per-step terms ``update`` adds to ``state``, or None where
    ``update`` is not ``state + terms`` read only as the next step's state."""
    terms = _added(fgraph, update)
    if terms.count(state) != 1 or len(fgraph.clients[state]) != 1 or \
            [c for c, _ in fgraph.clients[update]] != [OUTPUT]:
        return None
    builders = []
    for term in terms:
        if term is state:
            continue
        if isinstance(term, Constant):
            return None
        build = _term_sum(term, update.ndim, traces)
        if build is None:
            return None
        builders.append(build)
    return builders


def pushout_accumulators(fgraph, node):
    """Carried sums of per-step terms become sums over whole traces after the loop."""
    op = node.op
    if not isinstance(op, Scan) or op.info.until or op.info.n_carry == 0:
        return None
    info, inner = op.info, op.fgraph
    carry_in = info.inner_in_slices()["carry"]
    first_out = info.n_sot + info.n_nit
    traces = _Traces(node)
    pushed = {}                 # carry index -> builders of its terms' sums
    for j, group in enumerate(carry_in):
        state, update = inner.inputs[group[0]], inner.outputs[first_out + j]
        n_added = len(traces.added)
        builders = _accumulated(inner, state, update, traces)
        if builders is None:
            del traces.added[n_added:]          # (values wanted for this state only)
            continue
        pushed[j] = builders
    if not pushed:
        return None
    left = first_out + len(traces.added) + info.n_carry - len(pushed)
    new_node = _without_states(node, pushed, traces.added, carry_in) if left else None
    replaced = {}
    kept = [j for j in range(info.n_carry) if j not in pushed]
    with inherit_trace(node.tag.trace):
        if new_node is not None:
            replaced.update(zip(node.outputs[:first_out], new_node.outputs[:first_out]))
        for k, j in enumerate(kept):
            replaced[node.outputs[first_out + j]] = new_node.outputs[
                first_out + len(traces.added) + k]
        for j, builders in pushed.items():
            old = node.outputs[first_out + j]
            total = node.inputs[info.outer_in_positions()["carry"][j]]
            for build in builders:
                total = tm.add(total, build(new_node))
            if total.type != old.type:
                total = old.type.convert_variable(total)
                if total is None:
                    return None
            replaced[old] = total
    return replaced


def _without_states(node, pushed, added, carry_in):
    """The scan without the pushed carried states, with ``added`` as new mapped outputs."""
    op, info = node.op, node.op.info
    dropped = {group[0] for j, group in enumerate(carry_in) if j in pushed}
    inner_inputs = [v for k, v in enumerate(op.inner_inputs) if k not in dropped]
    first_out = info.n_sot + info.n_nit
    inner_outputs = list(op.inner_outputs[:first_out]) + list(added) + \
        [op.inner_outputs[first_out + j] for j in range(info.n_carry) if j not in pushed]
    carry_pos = info.outer_in_positions()["carry"]
    outer_inputs = [v for k, v in enumerate(node.inputs)
                    if k not in {carry_pos[j] for j in pushed}]
    new_info = replace(info, n_nit=info.n_nit + len(added), n_carry=info.n_carry - len(pushed),
                       keep=info.keep + (None,) * len(added))
    new = Scan(inner_inputs, inner_outputs, new_info, trace=op.trace).make_node(*outer_inputs)
    new.tag.update(node.tag)
    return new


__all__ = ["pushout_accumulators"]
