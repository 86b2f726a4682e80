"""``scan``: build a Scan node from a Python step function, with Theano's conventions.

``fn`` is called once, on symbolic placeholders: sequence slices (by taps), then
past outputs (by taps), then the non-sequences.  Whatever the returned graph
uses that does not depend on the loop (non-sequences, closures, shared variables
that are only read, and any computation on them) becomes a loop-invariant input
computed once outside the loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from theanine.config import config
from theanine.graph.basic import Constant, Variable, clone_replace, io_toposort
from theanine.graph.shared import SharedVariable
from theanine.graph.utils import capture_user_trace, user_line
from theanine.scan.op import Scan, ScanError, ScanInfo
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import dimshuffle
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType


class until:  # noqa: N801  (Theano's spelling: ``return out, th.scan.until(cond)``)
    """Returned by a step function to stop the loop once ``condition`` is true."""

    def __init__(self, condition):
        cond = tb.as_tensor_variable(condition)
        if cond.ndim != 0:
            raise ScanError(f"scan.until: the condition must be a scalar, got {cond.type}")
        self.condition = cond


def _where(trace) -> str:
    return f" (at {user_line(trace)})"


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _norm_sequences(sequences, label, trace):
    out = []
    for j, item in enumerate(_as_list(sequences)):
        if isinstance(item, Mapping):
            if "input" not in item:
                raise ScanError(f"{label}: sequence {j} is a dict without 'input'{_where(trace)}")
            var, taps = item["input"], item.get("taps", [0])
        else:
            var, taps = item, [0]
        var = tb.as_tensor_variable(var)
        if var.ndim < 1:
            raise ScanError(f"{label}: sequence {j} ({var}) is a scalar; a sequence needs a "
                            f"leading axis to iterate over{_where(trace)}")
        taps = [0] if taps is None else [int(t) for t in _as_list(taps)]
        if not taps or len(set(taps)) != len(taps):
            raise ScanError(f"{label}: sequence {j} has invalid taps {taps}{_where(trace)}")
        out.append((var, tuple(taps)))
    return out


def _norm_outputs_info(outputs_info, label, trace):
    """Per output: None (mapped) or ``(init_with_leading_axis, taps)``."""
    out = []
    for j, item in enumerate(_as_list(outputs_info)):
        if item is None:
            out.append(None)
            continue
        if isinstance(item, Mapping):
            init, taps = item.get("initial"), item.get("taps", [-1])
            if init is None:
                out.append(None)
                continue
            taps = tuple(sorted(int(t) for t in _as_list(taps)))
        else:
            init, taps = item, (-1,)
        if not taps or any(t >= 0 for t in taps) or len(set(taps)) != len(taps):
            raise ScanError(f"{label}: output {j} has taps {list(taps)}; recurrent taps must "
                            f"be distinct negative integers{_where(trace)}")
        init = tb.as_tensor_variable(init)
        if taps == (-1,):
            init = dimshuffle(init, ("x",) + tuple(range(init.ndim)))
        elif init.ndim < 1:
            raise ScanError(f"{label}: output {j} has taps {list(taps)}, so its initial value "
                            f"needs a leading axis of at least {-min(taps)} steps, got the "
                            f"scalar {init}{_where(trace)}")
        elif init.type.shape[0] is not None and init.type.shape[0] < -min(taps):
            raise ScanError(f"{label}: output {j} has taps {list(taps)}, which need "
                            f"{-min(taps)} initial steps, but its initial value has "
                            f"{init.type.shape[0]} (shape {init.type.shape}){_where(trace)}")
        out.append((init, taps))
    return out


def _split_return(ret, label, trace):
    """Separate a step function's outputs, updates and stop condition."""
    outputs, updates, cond = [], [], None
    items = list(ret) if isinstance(ret, tuple) else [ret]
    if len(items) == 1 and isinstance(items[0], list):
        items = [items[0]]
    for item in items:
        if isinstance(item, until):
            cond = item.condition
        elif isinstance(item, Mapping):
            updates.extend(item.items())
        elif isinstance(item, list) and item and all(
                isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], SharedVariable)
                for p in item):
            updates.extend(item)
        elif isinstance(item, (list, tuple)):
            outputs.extend(item)
        elif item is not None:
            outputs.append(item)
    return outputs, updates, cond


def _check_output(j, out, state, label, trace):
    """A recurrent output must have its initial state's dtype and ndim."""
    if out.dtype != state.dtype:
        raise ScanError(
            f"{label}: output {j} of fn has dtype {out.dtype}, but its initial state "
            f"(outputs_info[{j}]) has dtype {state.dtype}; make them agree, e.g. pass "
            f"outputs_info=tt.cast(init, '{out.dtype}') or return out.astype("
            f"'{state.dtype}'){_where(trace)}")
    if out.ndim != state.ndim:
        raise ScanError(
            f"{label}: output {j} of fn has {out.ndim} dims ({out.type}), but its initial "
            f"state (outputs_info[{j}]) has {state.ndim} per step ({state.type}); a "
            f"recurrent output must keep its shape{_where(trace)}")
    for a, b in zip(out.type.shape, state.type.shape):
        if a is not None and b is not None and a != b:
            raise ScanError(
                f"{label}: output {j} of fn has static shape {out.type.shape}, but its "
                f"initial state has {state.type.shape} per step{_where(trace)}")


def _default_n_steps(seqs, n_steps, label, trace):
    if n_steps is not None:
        n = tb.as_tensor_variable(n_steps)
        if n.ndim != 0 or n.dtype not in ("int8", "int16", "int32", "int64", "uint8",
                                          "uint16", "uint32"):
            raise ScanError(f"{label}: n_steps must be an integer scalar, got {n.type}"
                            f"{_where(trace)}")
        if isinstance(n, Constant) and int(n.data) < 0:
            raise ScanError(f"{label}: n_steps={int(n.data)} is negative{_where(trace)}")
        return tb.cast(n, "int64")
    if not seqs:
        raise ScanError(f"{label}: with no sequences, n_steps is required{_where(trace)}")
    lengths = []
    for var, taps in seqs:
        span = max(taps) - min(taps)
        length = shape_i(var, 0)
        lengths.append(length if span == 0 else tm.sub(length, np.int64(span)))
    statics = [int(v.data) for v in lengths if isinstance(v, Constant)]
    if len(statics) == len(lengths):
        return tb.constant(np.int64(min(statics)))
    n = lengths[0]
    for other in lengths[1:]:
        n = tm.minimum(n, other)
    return n


def _loop_dependent(placeholders, outputs):
    """The nodes between the roots and ``outputs``, and the variables that vary per step."""
    order = io_toposort([], outputs)
    dep = set(placeholders)
    for node in order:
        if any(i in dep for i in node.inputs):
            dep.update(node.outputs)
    return order, dep


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, strict=False,
         return_list=False):
    """Apply ``fn`` along sequences, feeding back its own past outputs.

    Returns ``(outputs, updates)``: one trace per output (a list when there are
    several or ``return_list``), and the shared-variable updates made inside the
    loop, to pass to ``function(..., updates=updates)``.
    """
    trace = capture_user_trace()
    label = f"scan {name!r}" if name else "scan"
    seqs = _norm_sequences(sequences, label, trace)
    if go_backwards:
        seqs = [(_reverse(var), taps) for var, taps in seqs]
    infos = _norm_outputs_info(outputs_info, label, trace)
    nonseqs = [v if isinstance(v, Variable) else tb.as_tensor_variable(v)
               for v in _as_list(non_sequences)]
    n = _default_n_steps(seqs, n_steps, label, trace)

    seq_ph, fn_args = [], []
    for j, (var, taps) in enumerate(seqs):
        for tap in taps:
            ph = TensorType(var.dtype, var.type.shape[1:])(f"{var.name or f'seq{j}'}[t{tap:+d}]")
            seq_ph.append(ph)
            fn_args.append(ph)
    sot_ph = []
    for j, info in enumerate(infos):
        if info is None:
            continue
        init, taps = info
        for tap in taps:
            ph = TensorType(init.dtype, init.type.shape[1:])(f"out{j}[t{tap:+d}]")
            sot_ph.append(ph)
            fn_args.append(ph)
    fn_args.extend(nonseqs)

    if config.compute_test_value != "off":
        _placeholder_test_values(seqs, infos, seq_ph, sot_ph)
    ret = fn(*fn_args)
    outputs, updates, cond = _split_return(ret, label, trace)
    if not outputs and not updates:
        raise ScanError(f"{label}: fn returned no outputs and no updates{_where(trace)}")
    if infos and len(outputs) != len(infos):
        raise ScanError(f"{label}: fn returned {len(outputs)} output(s) but outputs_info has "
                        f"{len(infos)} entries; give one entry per output (None for an "
                        f"output that is not fed back){_where(trace)}")
    if not infos:
        infos = [None] * len(outputs)
    try:
        outputs = [tb.as_tensor_variable(o) for o in outputs]
    except TypeError as exc:
        raise ScanError(f"{label}: fn must return tensors: {exc}{_where(trace)}") from None
    sot_idx = [j for j, info in enumerate(infos) if info is not None]
    nit_idx = [j for j, info in enumerate(infos) if info is None]
    k = 0
    for j in sot_idx:
        init, taps = infos[j]
        _check_output(j, outputs[j], sot_ph[k + len(taps) - 1], label, trace)
        k += len(taps)

    updates = _collect_updates(updates, outputs, cond, label, trace)
    carry_ph = [var.type(f"{var.name or 'shared'}[t]") for var, _ in updates]
    replace = dict(zip([var for var, _ in updates], carry_ph))
    inner_outs = [outputs[j] for j in sot_idx] + [outputs[j] for j in nit_idx] + \
        [value for _, value in updates] + ([cond] if cond is not None else [])
    if replace:
        inner_outs = clone_replace(inner_outs, replace)
    placeholders = seq_ph + sot_ph + carry_ph
    hoisted = _hoist(placeholders, inner_outs)
    if strict:
        given = set(nonseqs)
        extra = [v for v in hoisted if v not in given and not isinstance(v, Constant)]
        if extra:
            raise ScanError(f"{label}: strict=True but fn uses {', '.join(map(str, extra))} "
                            f"without receiving it in non_sequences{_where(trace)}")
    nonseq_ph = [v.type(v.name) for v in hoisted]
    inner_outs = clone_replace(inner_outs, dict(zip(hoisted, nonseq_ph)))

    info = ScanInfo(seq_taps=tuple(t for _, t in seqs),
                    sot_taps=tuple(infos[j][1] for j in sot_idx),
                    n_nit=len(nit_idx), n_carry=len(updates), n_nonseq=len(hoisted),
                    until=cond is not None, truncate_gradient=int(truncate_gradient),
                    name=name or "scan")
    op = Scan(placeholders + nonseq_ph, inner_outs, info, trace=trace)
    outer = [n] + [v for v, _ in seqs] + [infos[j][0] for j in sot_idx] + \
        [var for var, _ in updates] + hoisted
    if config.compute_test_value != "off":
        for var, ph in zip([var for var, _ in updates], carry_ph):
            _set_test_value(ph, _test_value(var))
    node = _as_list(op(*outer))[0].owner      # through Op.__call__: test values too
    traces = node.outputs[:len(sot_idx) + len(nit_idx)]
    by_position = [None] * len(infos)
    for pos, j in enumerate(sot_idx + nit_idx):
        by_position[j] = traces[pos]
    upd = OrderedDict(
        (var, final) for (var, _), final in zip(updates, node.outputs[len(traces):]))
    if len(by_position) == 1 and not return_list:
        return by_position[0], upd
    return by_position, upd


def _collect_updates(updates, outputs, cond, label, trace):
    """Explicit updates, plus default updates of shared variables used in the loop."""
    result, seen = [], set()
    for key, value in updates:
        if not isinstance(key, SharedVariable):
            raise ScanError(f"{label}: fn returned an update for {key}, which is not a shared "
                            f"variable{_where(trace)}")
        if key in seen:
            raise ScanError(f"{label}: fn updates {key} twice{_where(trace)}")
        seen.add(key)
        value = value if isinstance(value, Variable) else key.type.make_constant(value)
        conv = key.type.convert_variable(value)
        if conv is None:
            raise ScanError(f"{label}: the update of {key} has type {value.type}, expected "
                            f"{key.type}{_where(trace)}")
        result.append((key, conv))
    frontier = list(outputs) + [v for _, v in result] + ([cond] if cond is not None else [])
    while frontier:
        new = []
        for node_var in _roots(frontier):
            if isinstance(node_var, SharedVariable) and node_var not in seen \
                    and node_var.default_update is not None:
                seen.add(node_var)
                result.append((node_var, node_var.default_update))
                new.append(node_var.default_update)
        frontier = new
    return result


def _roots(outputs):
    stack, seen, out = list(outputs), set(), []
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is None:
            out.append(v)
        else:
            stack.extend(v.owner.inputs)
    return out


def _hoist(placeholders, inner_outs):
    """Outer variables the loop body reads that do not vary per step."""
    order, dep = _loop_dependent(placeholders, inner_outs)
    hoisted, seen = [], set()

    def take(var):
        if var not in dep and not isinstance(var, Constant) and var not in seen:
            seen.add(var)
            hoisted.append(var)

    for node in order:
        if any(i in dep for i in node.inputs):
            for inp in node.inputs:
                take(inp)
    for out in inner_outs:
        take(out)
    return hoisted


def _test_value(var):
    """The debug value of an outer variable, or None when it has none."""
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.container[0]
    return getattr(var.tag, "test_value", None)


def _set_test_value(ph, value):
    if value is not None:
        ph.tag.test_value = value


def _placeholder_test_values(seqs, infos, seq_ph, sot_ph):
    """Give the step function's placeholders the values of the first step."""
    it = iter(seq_ph)
    for var, taps in seqs:
        value = _test_value(var)
        for tap in taps:
            _set_test_value(next(it), None if value is None else value[tap - min(taps)])
    it = iter(sot_ph)
    for info in infos:
        if info is None:
            continue
        init, taps = info
        value = _test_value(init)
        for tap in taps:
            _set_test_value(next(it), None if value is None else value[len(value) + tap])


def _reverse(var):
    """``var[::-1]``: a sequence read from its end (``go_backwards``)."""
    return var[::-1]
