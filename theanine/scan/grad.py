"""Backpropagation through time for Scan: the gradient is another (reverse) Scan."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from theanine.gradient import grad
from theanine.graph.basic import clone_replace
from theanine.graph.null_type import (
    disconnected_type,
    grad_not_implemented,
    is_disconnected,
    is_null,
)
from theanine.scalar.basic import CONTINUOUS_DTYPES
from theanine.tensor import math as tm
from theanine.tensor.alloc import zeros_like
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.join import concatenate, stack
from theanine.tensor.shape import shape_i
from theanine.tensor.subtensor import inc_subtensor
from theanine.tensor.type import TensorType


def connection_pattern(op, node):
    """``[input][output]``: which outer outputs depend on which outer inputs.

    An outer input reaches the inner outputs that read it, and through the
    recurrence every output fed by a state it reaches, until nothing changes.
    """
    info = op.info
    slices = info.inner_in_slices()
    pos = info.outer_in_positions()
    n_out = len(node.outputs)
    readers = _inner_dependencies(op)           # inner input -> inner outputs reading it
    fed_by = {}                                 # inner output -> inner inputs it feeds
    for j, group in enumerate(slices["sot"]):
        fed_by[j] = group
    for j, group in enumerate(slices["carry"]):
        fed_by[info.n_sot + info.n_nit + j] = group

    def reached(start):
        todo, seen_in, outs = list(start), set(start), set()
        while todo:
            k = todo.pop()
            for o in readers[k]:
                if o < n_out and o not in outs:
                    outs.add(o)
                    for k2 in fed_by.get(o, ()):
                        if k2 not in seen_in:
                            seen_in.add(k2)
                            todo.append(k2)
        return outs

    pattern = [[False] * n_out for _ in node.inputs]
    for name in ("seq", "sot", "carry", "nonseq"):
        for j, (p, group) in enumerate(zip(pos[name], slices[name])):
            hit = reached(group)
            if name == "carry":
                hit.add(info.n_sot + info.n_nit + j)   # zero steps: the final value is it
            for o in hit:
                pattern[p][o] = True
    return pattern


def _inner_dependencies(op) -> list[set]:
    """For each inner input, the indices of inner outputs that depend on it."""
    fgraph = op.fgraph
    index = {v: i for i, v in enumerate(fgraph.inputs)}
    deps: dict = {v: {i} for v, i in index.items()}
    for node in op._inner_order():
        got = set()
        for inp in node.inputs:
            got |= deps.get(inp, set())
        for out in node.outputs:
            deps[out] = got
    result = [set() for _ in fgraph.inputs]
    for o, out in enumerate(fgraph.outputs):
        for i in deps.get(out, set()):
            result[i].add(o)
    return result


# -- backpropagation through time -----------------------------------------------------


def _float(var) -> bool:
    return isinstance(var.type, TensorType) and var.dtype in CONTINUOUS_DTYPES


def scan_l_op(op, inputs, outputs, output_grads):
    """Gradients of a Scan's outputs with respect to all its inputs, as a reverse Scan.

    Carried states first become ordinary recurrent outputs (a copy of the loop
    that records their trace), so the backward loop can read their value at
    each step; then ``_bptt`` does the work.
    """
    info = op.info
    if any(not isinstance(inputs[p].type, TensorType)
           for p in info.outer_in_positions()["carry"]):
        why = (f"scan {info.name!r} carries a non-tensor state (e.g. a random generator); "
               "its gradient is not implemented")
        return [grad_not_implemented(op, i, x, why) for i, x in enumerate(inputs)]
    if info.n_carry == 0:
        return _bptt(op, inputs, outputs, output_grads)
    return _bptt_with_carries(op, inputs, outputs, output_grads)


def _bptt_with_carries(op, inputs, outputs, output_grads):
    info = op.info
    n_sot, n_nit, n_carry = info.n_sot, info.n_nit, info.n_carry
    inner_out = list(op.inner_outputs)
    order = inner_out[:n_sot] + inner_out[n_sot + n_nit:n_sot + n_nit + n_carry] + \
        inner_out[n_sot:n_sot + n_nit] + inner_out[n_sot + n_nit + n_carry:]
    aux_info = replace(info, sot_taps=info.sot_taps + ((-1,),) * n_carry, n_carry=0,
                       keep=(None,) * (n_sot + n_carry + n_nit))
    aux_op = type(op)(list(op.inner_inputs), order, aux_info, trace=op.trace)
    pos = info.outer_in_positions()
    carry_inits = [dimshuffle(inputs[p], ("x",) + tuple(range(inputs[p].ndim)))
                   for p in pos["carry"]]
    aux_inputs = list(inputs[:pos["carry"][0]]) + carry_inits + \
        [inputs[p] for p in pos["nonseq"]]
    aux_node = aux_op.make_node(*aux_inputs)
    aux_outs = aux_node.outputs
    grads_out = list(output_grads[:n_sot])
    for j in range(n_carry):
        trace = aux_outs[n_sot + j]
        grads_out.append(inc_subtensor(zeros_like(trace)[-1], output_grads[n_sot + n_nit + j]))
    grads_out += list(output_grads[n_sot:n_sot + n_nit])
    aux_grads = _bptt(aux_op, aux_node.inputs, aux_outs, grads_out)
    grads = list(aux_grads[:pos["carry"][0]])
    for j in range(n_carry):
        g = aux_grads[pos["carry"][0] + j]
        grads.append(g if is_disconnected(g) or is_null(g) else g[0])
    grads += list(aux_grads[pos["carry"][0] + n_carry:])
    return grads


def _bptt(op, inputs, outputs, output_grads):
    """Reverse-mode through a loop without carried states."""
    info = op.info
    pos = info.outer_in_positions()
    slices = info.inner_in_slices()
    n_sot, n_nit = info.n_sot, info.n_nit
    seqs = [inputs[p] for p in pos["seq"]]
    inits = [inputs[p] for p in pos["sot"]]
    nonseqs = [inputs[p] for p in pos["nonseq"]]
    traces = outputs[:n_sot + n_nit]
    n = shape_i(traces[0], 0) if info.until else inputs[0]
    truncate = info.truncate_gradient
    n_bwd = tm.minimum(n, np.int64(truncate)) if truncate > 0 else n
    start = tm.sub(n, n_bwd) if (truncate > 0 and not info.reverse) else None

    def from_start(x):
        return x if start is None else x[start:]

    # the body again, on fresh inputs, with cotangents as known gradients
    fresh = [v.type(v.name) for v in op.inner_inputs]
    body_outs = clone_replace(list(op.inner_outputs[:n_sot + n_nit]),
                              dict(zip(op.inner_inputs, fresh)))
    bwd_seqs, bwd_seq_taps, bwd_seq_ph = [], [], []
    for j, taps in enumerate(info.seq_taps):
        bwd_seqs.append(from_start(seqs[j]))
        bwd_seq_taps.append(taps)
        bwd_seq_ph.extend(fresh[k] for k in slices["seq"][j])
    for j, taps in enumerate(info.sot_taps):
        depth = info.sot_depth(j)
        head = inits[j][shape_i(inits[j], 0) - depth:]
        if info.reverse:
            ext = concatenate([traces[j], head[::-1]])
            bwd_seqs.append(ext[-max(taps):])
            bwd_seq_taps.append(tuple(-t for t in taps))
        else:
            bwd_seqs.append(from_start(concatenate([head, traces[j]])))
            bwd_seq_taps.append(taps)
        bwd_seq_ph.extend(fresh[k] for k in slices["sot"][j])
    cot_ph = []
    for j in range(n_sot + n_nit):
        g = output_grads[j]
        bwd_seqs.append(from_start(g))
        bwd_seq_taps.append((0,))
        ph = TensorType(g.dtype, g.type.shape[1:])(f"g_out{j}[t]")
        bwd_seq_ph.append(ph)
        cot_ph.append(ph)
    # carried cotangents: pending[j][m - 1] is what reaches output j, m - 1 steps back
    pending, pending_init = [], []
    for j in range(n_sot):
        row = outputs[j].type
        group = []
        for m in range(info.sot_depth(j)):
            group.append(TensorType(row.dtype, row.shape[1:])(f"g_out{j}[t-{m}]"))
            pending_init.append(zeros_like(inits[j][0]))
        pending.append(group)
    acc_idx = [j for j, v in enumerate(nonseqs) if _float(v)]
    acc_ph = [fresh[slices["nonseq"][j][0]].type(f"g_{nonseqs[j].name or j}") for j in acc_idx]
    known = {}
    for j in range(n_sot + n_nit):
        total = cot_ph[j]
        if j < n_sot:
            total = tm.add(total, pending[j][0])
        if _float(body_outs[j]):
            known[body_outs[j]] = total
    wrt_idx = [k for k, v in enumerate(fresh) if _float(v)]
    contrib = dict.fromkeys(range(len(fresh)))
    if known and wrt_idx:
        got = grad(None, [fresh[k] for k in wrt_idx], known_grads=known,
                   disconnected_inputs="ignore", return_disconnected="zero")
        contrib.update(zip(wrt_idx, got))
    # new pending cotangents, accumulators, per-step sequence gradients
    new_pending = []
    for j, taps in enumerate(info.sot_taps):
        depth = info.sot_depth(j)
        by_tap = dict(zip(taps, slices["sot"][j]))
        for m in range(1, depth + 1):
            k = by_tap.get(-m)
            c = contrib.get(k) if k is not None else None
            nxt = pending[j][m] if m < depth else None
            if c is None:
                c = zeros_like(pending[j][0]) if nxt is None else nxt
            elif nxt is not None:
                c = tm.add(nxt, c)
            new_pending.append(c)
    new_acc = [ph if contrib[slices["nonseq"][j][0]] is None
               else tm.add(ph, contrib[slices["nonseq"][j][0]]) for ph, j in zip(acc_ph, acc_idx)]
    seq_out, seq_where = [], []
    for j, group in enumerate(slices["seq"]):
        if not _float(seqs[j]):
            continue
        for tap, k in zip(info.seq_taps[j], group):
            seq_out.append(contrib[k] if contrib[k] is not None else zeros_like(fresh[k]))
            seq_where.append((j, tap - min(info.seq_taps[j])))
    # the gradient reads the outputs of this step from their traces, not recomputed
    stored = {}
    for j, out in enumerate(body_outs):
        if out.owner is not None:
            ph = TensorType(out.dtype, traces[j].type.shape[1:])(f"out{j}[t]")
            stored[out] = ph
            bwd_seqs.append(from_start(traces[j]))
            bwd_seq_taps.append((0,))
            bwd_seq_ph.append(ph)
    bwd_inner_in = bwd_seq_ph + [ph for group in pending for ph in group] + acc_ph + \
        [fresh[slices["nonseq"][j][0]] for j in range(info.n_nonseq)]
    bwd_inner_out = seq_out + new_pending + new_acc
    if stored:
        bwd_inner_out = clone_replace(bwd_inner_out, stored)
    bwd_info = replace(info, seq_taps=tuple(bwd_seq_taps), sot_taps=(),
                            n_nit=len(seq_out), n_carry=len(new_pending) + len(new_acc),
                            n_nonseq=info.n_nonseq, until=False, keep=(), reverse=not info.reverse,
                            truncate_gradient=-1, name=f"{info.name}_grad")
    bwd = type(op)(bwd_inner_in, bwd_inner_out, bwd_info, trace=op.trace)
    acc_init = [zeros_like(nonseqs[j]) for j in acc_idx]
    res = bwd.make_node(n_bwd, *bwd_seqs, *pending_init, *acc_init, *nonseqs).outputs
    seq_grads, finals = res[:len(seq_out)], res[len(seq_out):]
    # assemble the outer gradients
    grads = [disconnected_type()]
    for j, seq in enumerate(seqs):
        if not _float(seq):
            grads.append(disconnected_type())
            continue
        g = zeros_like(seq)
        for (jj, off), rows in zip(seq_where, seq_grads):
            if jj == j:
                first = off if start is None else tm.add(start, off)
                g = inc_subtensor(g[first:tm.add(first, n_bwd)], rows)
        grads.append(g)
    k = 0
    for j, init in enumerate(inits):
        depth = info.sot_depth(j)
        rows = finals[k:k + depth][::-1]
        k += depth
        block = stack(rows) if depth > 1 else dimshuffle(rows[0], ("x",) + tuple(
            range(rows[0].ndim)))
        g = inc_subtensor(zeros_like(init)[shape_i(init, 0) - depth:], block)
        if truncate > 0:
            g = tm.switch(tm.eq(n_bwd, n), g, zeros_like(init))
        grads.append(g)
    accs = dict(zip(acc_idx, finals[k:]))
    for j in range(info.n_nonseq):
        grads.append(accs[j] if j in accs else disconnected_type())
    return grads
