"""The Scan op: a loop whose body is an inner FunctionGraph.

Outer inputs, in order: ``n_steps`` (int64 scalar), the sequences, the initial
values of the recurrent ("sot") outputs (each with a leading axis holding at
least as many past steps as its deepest tap), the initial values of the carried
states, and the non-sequences.

Inner inputs: one per (sequence, tap), one per (recurrent output, tap), one per
carried state, one per non-sequence.  Inner outputs: the recurrent outputs, the
mapped ("nit") outputs, the new carried states and, for a while loop, the
stop condition last.

Outer outputs: the trace of each recurrent output (steps only, not the initial
rows), the trace of each mapped output, and the final value of each carried
state.  Carried states are what shared-variable updates inside the loop (random
streams, counters) and gradient accumulators use: only their last value exists.

``keep[j]`` (recurrent and mapped outputs) is None for the full trace or ``k``
when only the last ``k`` steps are needed (memory saving): then the output holds
those steps only, from a ``k``-slot buffer.

``reverse`` iterates ``t = n_steps - 1 ... 0``: sequences are read at row ``t`` and
outputs written at row ``t`` (natural time order), which is what backpropagation
through time needs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, graph_inputs
from theanine.graph.destroyhandler import attach_destroy_handler
from theanine.graph.fg import FunctionGraph
from theanine.graph.op import Op
from theanine.graph.utils import MethodNotDefined, user_line
from theanine.scan import grad as scan_grad
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType


class ScanError(ValueError):
    """A scan was built or run with inconsistent inputs."""


@dataclass(frozen=True)
class ScanInfo:
    """What the inner inputs and outputs mean (hashable: the op's parameters)."""

    seq_taps: tuple = ()        # per sequence: tuple of int offsets (may be negative)
    sot_taps: tuple = ()        # per recurrent output: tuple of negative ints, sorted
    n_nit: int = 0
    n_carry: int = 0
    n_nonseq: int = 0
    until: bool = False
    keep: tuple = ()            # per recurrent then mapped output: None or int >= 1
    reverse: bool = False
    truncate_gradient: int = -1
    name: str = "scan"

    def __post_init__(self):
        if not self.keep:
            object.__setattr__(self, "keep", (None,) * (self.n_sot + self.n_nit))
        if len(self.keep) != self.n_sot + self.n_nit:
            raise ValueError("ScanInfo.keep needs one entry per recurrent and mapped output")
        if self.reverse and any(k is not None for k in self.keep):
            raise ValueError("ScanInfo: a reverse loop keeps every step (keep must be None)")
        for taps in self.sot_taps:
            if not taps or any(t >= 0 for t in taps) or list(taps) != sorted(set(taps)):
                raise ValueError(f"recurrent output taps must be sorted negative ints, got {taps}")

    @property
    def n_seq(self) -> int:
        return len(self.seq_taps)

    @property
    def n_sot(self) -> int:
        return len(self.sot_taps)

    def sot_depth(self, j: int) -> int:
        """How many past steps recurrent output ``j`` reads (its buffer's initial rows)."""
        return -min(self.sot_taps[j])

    # -- storage plan: how each output is kept while the loop runs (shared by
    # ``Scan.perform`` and the generated loop in link/python/dispatch_scan.py) --
    def sot_storage(self, j: int) -> str:
        """Recurrent output ``j``: ``full`` (every step, after the initial rows),
        ``ring`` (the last ``keep > depth`` steps in a ``keep``-slot ring) or
        ``regs`` (only the ``depth`` values the taps read: ``keep <= depth``)."""
        keep, depth = self.keep[j], self.sot_depth(j)
        if keep is None:
            return "full"
        return "regs" if keep <= depth else "ring"

    def nit_storage(self, j: int) -> str:
        """Mapped output ``j``: ``full`` (every step), ``last`` (``keep == 1``) or
        ``ring`` (the last ``keep`` steps)."""
        keep = self.keep[self.n_sot + j]
        if keep is None:
            return "full"
        return "last" if keep == 1 else "ring"

    def sot_slots(self, j: int) -> int | None:
        """Values recurrent output ``j`` holds at once (None: unbounded)."""
        if self.sot_storage(j) == "full":
            return None
        return max(self.keep[j], self.sot_depth(j))

    def seq_span(self, j: int) -> int:
        """Rows of sequence ``j`` beyond ``n_steps`` that its taps need."""
        taps = self.seq_taps[j]
        return max(taps) - min(taps)

    # -- index helpers (inner inputs / outer inputs / outputs) --------------------
    def inner_in_slices(self) -> dict:
        pos, out = 0, {}
        for name, counts in (("seq", [len(t) for t in self.seq_taps]),
                             ("sot", [len(t) for t in self.sot_taps]),
                             ("carry", [1] * self.n_carry), ("nonseq", [1] * self.n_nonseq)):
            groups = []
            for c in counts:
                groups.append(list(range(pos, pos + c)))
                pos += c
            out[name] = groups
        out["total"] = pos
        return out

    def outer_in_positions(self) -> dict:
        pos, out = 1, {}
        for name, count in (("seq", self.n_seq), ("sot", self.n_sot), ("carry", self.n_carry),
                            ("nonseq", self.n_nonseq)):
            out[name] = list(range(pos, pos + count))
            pos += count
        return out


class Scan(Op):
    """A loop over an inner graph; see the module docstring for the layout."""

    __props__ = ("info",)
    def __init__(self, inner_inputs, inner_outputs, info: ScanInfo, trace=(),
                 inner_rewritten: bool = False):
        self.info = info
        # True for the op the scan pass built over its rewritten copy of the body
        self.inner_rewritten = inner_rewritten
        n_out = info.n_sot + info.n_nit + info.n_carry + int(info.until)
        if len(inner_outputs) != n_out:
            raise ValueError(f"scan {info.name!r}: {len(inner_outputs)} inner outputs, "
                             f"expected {n_out}")
        if len(inner_inputs) != info.inner_in_slices()["total"]:
            raise ValueError(f"scan {info.name!r}: {len(inner_inputs)} inner inputs, expected "
                             f"{info.inner_in_slices()['total']}")
        self.fgraph = FunctionGraph(inner_inputs, inner_outputs, clone=True)
        if any(n.op.destroy_map for n in self.fgraph.apply_nodes):
            # in-place nodes (from rewriting the body) must run after their buffer's readers
            attach_destroy_handler(self.fgraph)
        self.trace = trace
        self._order = None

    # identity: the inner graph is part of what the op computes
    def __eq__(self, other):
        return type(self) is type(other) and self.info == other.info \
            and (self.fgraph is other.fgraph or _same_graph(self.fgraph, other.fgraph))

    def __hash__(self):
        return hash((Scan, self.info, len(self.fgraph.apply_nodes)))

    def __str__(self):
        return f"Scan{{{self.info.name}}}"

    def inner_graphs(self) -> list:
        """The body, titled, with what each inner output is, for printers (docs/printing.md)."""
        return [("step function", self.fgraph.inputs, self.fgraph.outputs,
                 self.inner_output_labels())]

    def inner_output_labels(self) -> list[str]:
        """``out0[t]`` per recurrent or mapped output (numbered as in ``fn``'s return),
        ``w[t+1]`` per carried state, ``until`` for the stop condition."""
        info, ins = self.info, self.fgraph.inputs
        slices = info.inner_in_slices()

        def base(var) -> str:
            return (var.name or "").split("[", 1)[0]

        sot_names = [base(ins[group[0]]) for group in slices["sot"]]
        taken = {base(var) for var in ins}          # never reuse an inner input's name
        free = (f"out{j}" for j in range(len(ins) + info.n_sot + info.n_nit)
                if f"out{j}" not in taken)
        names = [n or next(free) for n in sot_names] + [next(free) for _ in range(info.n_nit)]
        labels = [f"{n}[t]" for n in names]
        labels += [f"{base(ins[group[0]]) or 'state'}[t+1]" for group in slices["carry"]]
        if info.until:
            labels.append("until")
        return labels

    @property
    def inner_inputs(self):
        return self.fgraph.inputs

    @property
    def inner_outputs(self):
        return self.fgraph.outputs

    def with_info(self, **changes) -> Scan:
        """The same inner graph with changed parameters (e.g. ``keep``)."""
        new = Scan.__new__(Scan)
        new.info = replace(self.info, **changes)
        new.fgraph = self.fgraph
        new.trace = self.trace
        new._order = self._order
        new.inner_rewritten = self.inner_rewritten
        return new

    # -- building -----------------------------------------------------------------
    def make_node(self, n_steps, *args):
        info = self.info
        n_steps = tb.as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or n_steps.dtype not in _INT_DTYPES:
            raise ScanError(f"scan {info.name!r}: n_steps must be an integer scalar, got "
                            f"{n_steps.type}")
        if n_steps.dtype != "int64":
            n_steps = tb.cast(n_steps, "int64")
        if isinstance(n_steps, Constant) and int(n_steps.data) < 0:
            raise ScanError(f"scan {info.name!r}: n_steps={int(n_steps.data)} is negative"
                            f"{self._where()}")
        pos = info.outer_in_positions()
        n_args = 1 + info.n_seq + info.n_sot + info.n_carry + info.n_nonseq
        if len(args) + 1 != n_args:
            raise ScanError(f"scan {info.name!r}: {len(args) + 1} outer inputs, expected {n_args}")
        args = [tb.as_tensor_variable(a) if not isinstance(a, Variable) else a for a in args]
        slices = info.inner_in_slices()
        inner = self.inner_inputs
        ins = [n_steps]
        for j, k in enumerate(pos["seq"]):
            ins.append(self._check_outer(args[k - 1], inner[slices["seq"][j][0]], 1,
                                         f"sequence {j}"))
        for j, k in enumerate(pos["sot"]):
            ins.append(self._check_outer(args[k - 1], inner[slices["sot"][j][0]], 1,
                                         f"initial state of output {j}"))
        for j, k in enumerate(pos["carry"]):
            ins.append(self._check_outer(args[k - 1], inner[slices["carry"][j][0]], 0,
                                         f"carried state {j}"))
        for j, k in enumerate(pos["nonseq"]):
            ins.append(self._check_outer(args[k - 1], inner[slices["nonseq"][j][0]], 0,
                                         f"non-sequence {j}"))
        outs = []
        inner_outs = self.inner_outputs
        for j in range(info.n_sot):
            state = inner[slices["sot"][j][-1]].type
            outs.append(TensorType(state.dtype, (None,) + state.shape)())
        for j in range(info.n_nit):
            t = inner_outs[info.n_sot + j].type
            outs.append(TensorType(t.dtype, (None,) + t.shape)())
        for j in range(info.n_carry):
            outs.append(ins[pos["carry"][j]].type())
        return Apply(self, ins, outs)

    def _where(self) -> str:
        return f" (scan built at {user_line(self.trace)})" if self.trace else ""

    def _check_outer(self, outer, inner, extra_dims, what):
        info = self.info
        if not isinstance(outer.type, TensorType) or not isinstance(inner.type, TensorType):
            if outer.type == inner.type:
                return outer
            raise ScanError(f"scan {info.name!r}: {what} has type {outer.type}, expected "
                            f"{inner.type}{self._where()}")
        it = inner.type
        if outer.dtype != it.dtype or outer.ndim != it.ndim + extra_dims:
            raise ScanError(
                f"scan {info.name!r}: {what} has type {outer.type}, expected dtype {it.dtype} "
                f"with {it.ndim + extra_dims} dims{self._where()}")
        for a, b in zip(outer.type.shape[extra_dims:], it.shape):
            if a is not None and b is not None and a != b:
                raise ScanError(f"scan {info.name!r}: {what} has static shape "
                                f"{outer.type.shape}, the loop body expects {it.shape} per "
                                f"step{self._where()}")
        return outer

    # -- reference implementation -----------------------------------------------------
    def _inner_order(self):
        if self._order is None:
            self._order = self.fgraph.toposort()
        return self._order

    def run_inner(self, values: list) -> list:
        """Evaluate the inner graph once with every node's ``perform``."""
        env = dict(zip(self.inner_inputs, values))
        for node in self._inner_order():
            args = [v.data if isinstance(v, Constant) else env[v] for v in node.inputs]
            storage = [[None] for _ in node.outputs]
            node.op.perform(node, args, storage)
            for var, cell in zip(node.outputs, storage):
                env[var] = cell[0]
        return [o.data if isinstance(o, Constant) else env[o] for o in self.inner_outputs]

    def perform(self, node, inputs, output_storage):
        info = self.info
        n = check_n_steps(self, int(inputs[0]))
        pos = info.outer_in_positions()
        seqs = [inputs[k] for k in pos["seq"]]
        inits = [inputs[k] for k in pos["sot"]]
        carries = [inputs[k] for k in pos["carry"]]
        nonseqs = [inputs[k] for k in pos["nonseq"]]
        for j, seq in enumerate(seqs):
            check_sequence(self, j, seq, n)
        traces: list = []        # per the storage plan: a list, or a bounded deque
        for j, init in enumerate(inits):
            depth = check_init(self, j, init)
            rows = [np.asarray(r) for r in init[len(init) - depth:]]
            slots = info.sot_slots(j)
            traces.append(rows if slots is None else deque(rows, maxlen=slots))
        nits: list = [[] if info.nit_storage(j) == "full"
                      else deque(maxlen=info.keep[info.n_sot + j]) for j in range(info.n_nit)]
        done = 0
        steps = range(n - 1, -1, -1) if info.reverse else range(n)
        for i, t in enumerate(steps):
            vals = []
            for j, seq in enumerate(seqs):
                base = t - min(info.seq_taps[j])
                vals.extend(seq[base + tap] for tap in info.seq_taps[j])
            for j, taps in enumerate(info.sot_taps):
                vals.extend(traces[j][len(traces[j]) + tap] for tap in taps)
            vals.extend(carries)
            vals.extend(nonseqs)
            outs = self.run_inner(vals)
            for j in range(info.n_sot):
                value = np.asarray(outs[j], dtype=node.outputs[j].dtype)
                check_step_shape(self, j, value, traces[j][-1].shape, i)
                traces[j].append(value)
            for j in range(info.n_nit):
                nits[j].append(np.asarray(outs[info.n_sot + j], dtype=node.outputs[
                    info.n_sot + j].dtype))
            base = info.n_sot + info.n_nit
            carries = outs[base:base + info.n_carry]
            done = i + 1
            if info.until and bool(outs[-1]):
                break
        results = []
        for j in range(info.n_sot):
            # the steps are the last ``done`` values held (``keep`` at most when bounded)
            held = list(traces[j])
            kept = done if info.keep[j] is None else min(done, info.keep[j])
            rows = held[len(held) - kept:] if kept else []
            results.append(_stack_rows(rows, held[0].shape, node.outputs[j].dtype))
        for j in range(info.n_nit):
            out = node.outputs[info.n_sot + j]
            static = self.inner_outputs[info.n_sot + j].type.shape
            results.append(_stack_rows(list(nits[j]), tuple(s or 0 for s in static),
                                       out.dtype))
        if info.reverse:
            results = [r[::-1] for r in results]
        for j, res in enumerate(results):
            output_storage[j][0] = np.ascontiguousarray(res)
        for j, value in enumerate(carries):
            out = node.outputs[info.n_sot + info.n_nit + j]
            if isinstance(out.type, TensorType):     # a fresh array, never the input's
                value = np.array(value, dtype=out.dtype)
            output_storage[info.n_sot + info.n_nit + j][0] = value

    # -- shapes and gradients --------------------------------------------------------
    def infer_shape(self, fgraph, node, input_shapes):
        info = self.info
        if info.until:
            raise MethodNotDefined(f"{self}.infer_shape: a while loop's length is known "
                                   "only at run time")
        pos = info.outer_in_positions()
        n = node.inputs[0]
        shapes = []
        inner_shapes = _inner_output_shapes(self, node, input_shapes)
        for j in range(info.n_sot + info.n_nit):
            keep = info.keep[j]
            lead = n if keep is None else tm.minimum(n, np.int64(keep))
            if j < info.n_sot:
                rest = tuple(input_shapes[pos["sot"][j]][1:])
            else:
                rest = inner_shapes[j]
                if rest is None:
                    raise MethodNotDefined(f"{self}.infer_shape: mapped output "
                                           f"{j - info.n_sot} has a data-dependent shape")
            shapes.append((lead,) + tuple(rest))
        for j in range(info.n_carry):
            shapes.append(tuple(input_shapes[pos["carry"][j]]))
        return shapes

    def connection_pattern(self, node):
        return scan_grad.connection_pattern(self, node)

    def L_op(self, inputs, outputs, output_grads):
        return scan_grad.scan_l_op(self, inputs, outputs, output_grads)


_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _same_graph(a: FunctionGraph, b: FunctionGraph) -> bool:
    """Structural equality of two inner graphs (ops and wiring, inputs by position)."""
    if len(a.inputs) != len(b.inputs) or len(a.outputs) != len(b.outputs):
        return False
    if any(x.type != y.type for x, y in zip(a.inputs, b.inputs)):
        return False
    na, nb = a.toposort(), b.toposort()
    if len(na) != len(nb):
        return False
    ids_a = {v: ("in", i) for i, v in enumerate(a.inputs)}
    ids_b = {v: ("in", i) for i, v in enumerate(b.inputs)}

    def key(var, ids):
        if isinstance(var, Constant):
            return ("k", var.signature())
        return ids.get(var)

    for k, (x, y) in enumerate(zip(na, nb)):
        if x.op != y.op or [key(v, ids_a) for v in x.inputs] != [key(v, ids_b) for v in y.inputs]:
            return False
        for m, (ox, oy) in enumerate(zip(x.outputs, y.outputs)):
            ids_a[ox] = ids_b[oy] = ("node", k, m)
    return [key(v, ids_a) for v in a.outputs] == [key(v, ids_b) for v in b.outputs]


def _stack_rows(rows, row_shape, dtype):
    if rows:
        return np.stack(rows).astype(dtype, copy=False)
    return np.empty((0,) + tuple(row_shape), dtype=dtype)


def _inner_output_shapes(op: Scan, node, input_shapes):
    """Symbolic per-step shapes of the inner outputs in outer terms, None where unknown."""
    info = op.info
    slices = info.inner_in_slices()
    pos = info.outer_in_positions()
    shapes: dict = {}
    for j, group in enumerate(slices["seq"]):
        for k in group:
            shapes[op.inner_inputs[k]] = tuple(input_shapes[pos["seq"][j]][1:])
    for j, group in enumerate(slices["sot"]):
        for k in group:
            shapes[op.inner_inputs[k]] = tuple(input_shapes[pos["sot"][j]][1:])
    for name in ("carry", "nonseq"):
        for j, group in enumerate(slices[name]):
            shapes[op.inner_inputs[group[0]]] = tuple(input_shapes[pos[name][j]])
    outer_ok = set(node.inputs)
    for inner_node in op._inner_order():
        in_shapes = []
        for v in inner_node.inputs:
            if v not in shapes:
                shapes[v] = tuple(shape_i(v, d) for d in range(v.ndim)) \
                    if isinstance(v, Constant) else None
            in_shapes.append(shapes[v])
        if any(s is None for s in in_shapes):
            continue
        try:
            outs = inner_node.op.infer_shape(None, inner_node, in_shapes)
        except Exception:
            continue
        for var, shp in zip(inner_node.outputs, outs):
            shapes[var] = tuple(shp)
    result = []
    for out in op.inner_outputs:
        shp = shapes.get(out)
        if shp is None and isinstance(out.type, TensorType) and None not in out.type.shape:
            shp = tuple(np.int64(s) for s in out.type.shape)
        if shp is not None:
            exprs = [s for s in shp if isinstance(s, Variable)]
            free = [v for v in graph_inputs(exprs) if not isinstance(v, Constant)]
            if any(v not in outer_ok for v in free):
                shp = None
        result.append(shp)
    return result


# -- run-time checks shared by perform and the generated loop ------------------------


def check_n_steps(op: Scan, n: int) -> int:
    if n < 0:
        raise ScanError(f"scan {op.info.name!r}: n_steps={n} is negative{op._where()}")
    return n


def check_sequence(op: Scan, j: int, seq, n: int) -> None:
    need = n + op.info.seq_span(j)
    if len(seq) < need:
        taps = op.info.seq_taps[j]
        raise ScanError(
            f"scan {op.info.name!r}: sequence {j} has {len(seq)} steps but n_steps={n}"
            + (f" with taps {list(taps)}" if taps != (0,) else "")
            + f" needs {need}{op._where()}")


def check_init(op: Scan, j: int, init) -> int:
    depth = op.info.sot_depth(j)
    if len(init) < depth:
        raise ScanError(
            f"scan {op.info.name!r}: output {j} has taps {list(op.info.sot_taps[j])}, which "
            f"need {depth} initial steps, but its initial value has {len(init)} along its "
            f"leading axis (shape {np.shape(init)}){op._where()}")
    return depth


def check_step_shape(op: Scan, j: int, value, expected, step: int) -> None:
    if np.shape(value) != tuple(expected):
        raise ScanError(
            f"scan {op.info.name!r}: at step {step}, fn returned output {j} of shape "
            f"{np.shape(value)}, but its initial state has shape {tuple(expected)} per step; "
            f"a recurrent output must keep the shape of its initial state{op._where()}")
