"""Accumulators pushed out of a loop: a running sum of per-step terms becomes one sum.

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
update ``acc + term + ...`` and that update by nothing but the next step: a
carried state, or a recurrent output of one tap of which only the last value is
kept (a sum written with ``outputs_info`` and read as ``result[-1]``).  The loop
then loses the state.  A product with a non-sequence is summed on the other side
(``dot(sum(A), W)``).  The sum runs in another order than the loop's, so results
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
from theanine.tensor.reshaping import shape_padleft
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
        slices, pos = info.inner_in_slices(), info.outer_in_positions()
        self.invariant = {op.inner_inputs[g[0]]: node.inputs[k]     # non-sequences
                          for g, k in zip(slices["nonseq"], pos["nonseq"])}
        self.added: list = []       # body values to store as new mapped outputs
        self.new_sot = 0            # recurrent outputs the rebuilt scan keeps

    def fixed(self, var):
        """The outer value of a body value that is the same at every step (a
        non-sequence, a constant), or None."""
        return var if isinstance(var, Constant) else self.invariant.get(var)

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
        n_sot, n_nit = self.new_sot, self.node.op.info.n_nit     # (the rebuilt layout)
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
        fixed_a, fixed_b = traces.fixed(a), traces.fixed(b)
        if fixed_b is not None and traces.want(a, state_ndim):     # (sum a) . b
            return lambda new_node: tm.dot(tm.sum(traces.outer(a, new_node), axis=0), fixed_b)
        if fixed_a is not None and traces.want(b, state_ndim):     # a . (sum b)
            return lambda new_node: tm.dot(fixed_a, tm.sum(traces.outer(b, new_node), axis=0))
        if fixed_a is None and fixed_b is None and traces.want(a, state_ndim) and \
                traces.want(b, state_ndim):
            return _dot_sum(a, b, traces)
        return None
    if owner is not None and isinstance(owner.op, CAReduce) and owner.op.kind == "sum" \
            and traces.has(owner.inputs[0]):
        x = owner.inputs[0]
        axes = range(x.ndim) if owner.op.axis is None else owner.op.axis
        return lambda new_node: tm.sum(traces.outer(x, new_node),
                                       axis=(0, *(a + 1 for a in axes)))
    if owner is not None and isinstance(owner.op, DimShuffle) and \
            [d for d in owner.op.new_order if d != "x"] == list(range(owner.op.input_ndim)):
        inside = _term_sum(owner.inputs[0], state_ndim, traces)      # (broadcast axes
        if inside is None:                                            # added: summed
            return None                                               # before adding)
        return lambda new_node: DimShuffle(owner.op.input_ndim, owner.op.new_order)(
            inside(new_node))
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


def _states(node) -> list:
    """The loop's accumulator candidates: ``(kind, j, state, update)`` for each carried
    state and each recurrent output of one tap (-1) of which only the last value is
    kept (``outputs_info=zeros`` and ``result[-1]``: the same sum, written as a
    recurrence)."""
    op, info = node.op, node.op.info
    inner = op.fgraph
    slices = info.inner_in_slices()
    found = [("sot", j, inner.inputs[group[0]], inner.outputs[j])
             for j, group in enumerate(slices["sot"])
             if info.sot_taps[j] == (-1,) and info.keep[j] == 1]
    first_carry = info.n_sot + info.n_nit
    found += [("carry", j, inner.inputs[group[0]], inner.outputs[first_carry + j])
              for j, group in enumerate(slices["carry"])]
    return found


def pushout_accumulators(fgraph, node):
    """Sums of per-step terms kept in the loop's state become sums over whole traces
    after the loop."""
    op = node.op
    if not isinstance(op, Scan) or op.info.until:
        return None
    info, inner = op.info, op.fgraph
    traces = _Traces(node)
    pushed = {}         # (kind, j) -> builders of its terms' sums
    for kind, j, state, update in _states(node):
        n_added = len(traces.added)
        builders = _accumulated(inner, state, update, traces)
        if builders is None:
            del traces.added[n_added:]          # (values wanted for this state only)
            continue
        pushed[kind, j] = builders
    if not pushed:
        return None
    new_node, position = _without_states(node, set(pushed), traces.added)
    traces.new_sot = new_node.op.info.n_sot if new_node is not None else 0
    pos = info.outer_in_positions()
    replaced = {}
    with inherit_trace(node.tag.trace):
        for old, k in position.items():
            replaced[node.outputs[old]] = new_node.outputs[k]
        for (kind, j), builders in pushed.items():
            if kind == "carry":
                old = node.outputs[info.n_sot + info.n_nit + j]
                total = node.inputs[pos["carry"][j]]
            else:
                old = node.outputs[j]
                total = node.inputs[pos["sot"][j]][-1]      # the value before step 0
            for build in builders:
                total = tm.add(total, build(new_node))
            if kind == "sot":      # the one kept step, none when the loop runs none
                total = shape_padleft(total)[:tm.minimum(node.inputs[0], 1)]
            if total.type != old.type:
                total = old.type.convert_variable(total)
                if total is None:
                    return None
            replaced[old] = total
    return replaced


def _without_states(node, pushed: set, added: list):
    """The scan without the ``pushed`` states (``(kind, j)``), with ``added`` as new
    mapped outputs; None when it has no output left.  Also where each old output
    that stays is among the new ones."""
    op, info = node.op, node.op.info
    slices = info.inner_in_slices()
    sots = [j for j in range(info.n_sot) if ("sot", j) not in pushed]
    carries = [j for j in range(info.n_carry) if ("carry", j) not in pushed]
    n_new = len(sots) + info.n_nit + len(added) + len(carries)
    if not n_new:
        return None, {}
    dropped_in = {k for j in range(info.n_sot) if ("sot", j) in pushed
                  for k in slices["sot"][j]}
    dropped_in |= {slices["carry"][j][0] for j in range(info.n_carry) if ("carry", j) in pushed}
    inner_inputs = [v for k, v in enumerate(op.inner_inputs) if k not in dropped_in]
    outs = op.inner_outputs
    first_carry = info.n_sot + info.n_nit
    inner_outputs = [outs[j] for j in sots] + list(outs[info.n_sot:first_carry]) + \
        list(added) + [outs[first_carry + j] for j in carries]
    pos = info.outer_in_positions()
    dropped_outer = {pos["sot"][j] for j in range(info.n_sot) if ("sot", j) in pushed} | \
        {pos["carry"][j] for j in range(info.n_carry) if ("carry", j) in pushed}
    outer_inputs = [v for k, v in enumerate(node.inputs) if k not in dropped_outer]
    new_info = replace(info, sot_taps=tuple(info.sot_taps[j] for j in sots),
                       n_nit=info.n_nit + len(added), n_carry=len(carries),
                       keep=tuple(info.keep[j] for j in sots) + info.keep[info.n_sot:]
                       + (None,) * len(added))
    new = Scan(inner_inputs, inner_outputs, new_info, trace=op.trace).make_node(*outer_inputs)
    new.tag.update(node.tag)
    old_index = sots + list(range(info.n_sot, first_carry)) + \
        [first_carry + j for j in carries]
    new_index = list(range(len(sots) + info.n_nit)) + \
        list(range(len(sots) + info.n_nit + len(added), n_new))
    return new, dict(zip(old_index, new_index))


__all__ = ["pushout_accumulators"]
