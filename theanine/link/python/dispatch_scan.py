"""Scan in generated code: one Python function per Scan node, holding the loop.

The inner graph's lines (written by the same ``Codegen`` as any graph) are
inlined in a ``for`` loop.  Each recurrent output lives in one of three kinds
of storage, chosen from ``keep`` (memory saving) and its taps:

- ``full``: a preallocated ``(n_steps + depth, ...)`` buffer, initial rows first;
- ``ring``: a ``keep``-slot circular buffer when only the last ``keep > depth``
  steps are needed;
- ``regs``: plain locals shifted each step when ``keep <= depth`` (the common
  ``result[-1]`` case: no buffer and no copy at all).

Mapped outputs fill an ``(n_steps, ...)`` buffer allocated at the first step (its
row shape is known only then), or keep their last value(s).  Carried states are
locals.  Errors inside the body name the inner node, the step and the scan.
"""

from __future__ import annotations

import itertools
import linecache
import re

import numpy as np

from theanine.graph.basic import Constant
from theanine.graph.utils import user_line
from theanine.link.callspec import CallSpec, alias_roots
from theanine.link.errors import failing_frame, node_error_message
from theanine.link.python.codegen import Codegen
from theanine.link.python.dispatch import _ufunc_matches, perform_thunk, python_funcify
from theanine.link.python.profiling import inner_profile_funcify, profiling_codegen_class
from theanine.scan.op import Scan, ScanError, check_init, check_n_steps, check_sequence
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.type import TensorType

_counter = itertools.count()
_HELPER = re.compile(r"^_([fku]\d+|asarray)$")    # thunks and constants of the body


def _final(value, initial):
    """A carried state's last value as a fresh ndarray (never the caller's own array)."""
    if value is initial and isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, np.generic):
        return np.asarray(value)
    return value


def loop_funcify(op, node):
    """Thunks for a loop body: 0-d elementwise ufuncs run bare.

    A ufunc on 0-d values returns a NumPy scalar; inside the body that scalar is
    as good as a 0-d array (rows of 1-d sequences are NumPy scalars too), and not
    wrapping it halves the cost of scalar recurrences.  Values leaving the loop
    are stored into arrays or converted (``_final``).
    """
    if isinstance(op, Elemwise) and len(node.outputs) == 1 and node.outputs[0].ndim == 0:
        fn = op.scalar_op.nfunc
        # an in-place 0-d op may as well return a new scalar: nothing reads the old one
        if (isinstance(fn, np.ufunc) and fn.nout == 1
                and getattr(op.scalar_op, "__props__", ()) == () and _ufunc_matches(fn, node)):
            return fn
    return python_funcify(op, node)


class ScanLoopWriter:
    """Writes and compiles the loop function of one Scan node."""

    def __init__(self, op: Scan, node, funcify=loop_funcify, codegen_class=Codegen,
                 **codegen_kwargs):
        self.op = op
        self.node = node
        self.info = op.info
        # the body has no entry arguments of its own: the loop names its inputs
        body_spec = CallSpec(args=[], input_sources=[], n_outputs=0, copy_outputs=[],
                             update_containers=[])
        self.gen = codegen_class(op.fgraph, body_spec, funcify=funcify, allow_gc=False,
                                 **codegen_kwargs)
        self.ns = self.gen.ns
        self.lines: list[str] = []
        self.body_first_line = 0

    # -- storage plan (``ScanInfo``'s, shared with ``Scan.perform``) -----------------
    def sot_mode(self, j: int) -> str:
        return self.info.sot_storage(j)

    def nit_mode(self, j: int) -> str:
        return self.info.nit_storage(j)

    # -- source ---------------------------------------------------------------------
    def source(self) -> str:
        info, op = self.info, self.op
        slices = info.inner_in_slices()
        inner_in = op.inner_inputs
        names = self.gen.names
        seq_args = [f"seq{j}" for j in range(info.n_seq)]
        init_args = [f"init{j}" for j in range(info.n_sot)]
        carry_args = [f"c{j}" for j in range(info.n_carry)]
        ns_args = [f"ns{j}" for j in range(info.n_nonseq)]
        for j, group in enumerate(slices["seq"]):
            for k, idx in enumerate(group):
                names[inner_in[idx]] = f"x{j}_{k}"
        ring_inputs = set()
        for j, group in enumerate(slices["sot"]):
            mode = self.sot_mode(j)
            for tap, idx in zip(info.sot_taps[j], group):
                names[inner_in[idx]] = f"r{j}_{-tap}" if mode == "regs" else f"y{j}_{-tap}"
                if mode == "ring":
                    ring_inputs.add(inner_in[idx])
        for j, group in enumerate(slices["carry"]):
            names[inner_in[group[0]]] = carry_args[j]
        for j, group in enumerate(slices["nonseq"]):
            names[inner_in[group[0]]] = ns_args[j]
        body = self.gen.body_lines()
        outs = [self.gen.name_of(o) for o in op.inner_outputs]

        L = self.lines
        L.append("n = int(n_steps)")
        L.append("_check_n(_op, n)")
        for j in range(info.n_seq):
            L.append(f"_check_seq(_op, {j}, seq{j}, n)")
        for j in range(info.n_sot):
            L.extend(self.sot_setup(j))
        for j in range(info.n_nit):
            mode = self.nit_mode(j)
            L.append(f"nb{j} = None" if mode != "last" else f"nl{j} = None")
        for j in range(info.n_carry):
            L.append(f"c{j}_0 = c{j}")
        L.append("done = n")
        L.append("t = -1")
        L.append("try:")
        loop = "for t in range(n - 1, -1, -1):" if info.reverse else "for t in range(n):"
        L.append("    " + loop)
        step = []
        for j, taps in enumerate(info.seq_taps):
            base = -min(taps)
            for k, tap in enumerate(taps):
                step.append(f"x{j}_{k} = seq{j}[{_plus('t', base + tap)}]")
        for j, taps in enumerate(info.sot_taps):
            step.extend(self.sot_reads(j, taps))
        self.body_first_line = len(L) + len(step)
        step.extend(body)
        # an output that is one of the step's inputs (a tap or a carried state passed
        # through) names a local the writes below rebind: read it before any of them
        inner_inputs = set(inner_in)
        for k, var in enumerate(op.inner_outputs):
            if var in inner_inputs:
                step.append(f"o{k}_ = {outs[k]}")
                outs[k] = f"o{k}_"
        for j in range(info.n_sot):
            value = self.maybe_copy(op.inner_outputs[j], outs[j], ring_inputs)
            step.extend(self.sot_write(j, value))
        for j in range(info.n_nit):
            value = self.maybe_copy(op.inner_outputs[info.n_sot + j], outs[info.n_sot + j],
                                    ring_inputs)
            step.extend(self.nit_write(j, value))
        base = info.n_sot + info.n_nit
        for j in range(info.n_carry):
            value = self.maybe_copy(op.inner_outputs[base + j], outs[base + j], ring_inputs)
            step.append(f"c{j} = {value}")
        if info.until:
            done = "n - t" if info.reverse else "t + 1"
            step.append(f"if {outs[-1]}:")
            step.append(f"    done = {done}")
            step.append("    break")
        if not step:
            step.append("pass")
        L.extend("        " + s for s in step)
        L.append("except Exception as _exc:")
        L.append("    _loop_error(_exc)")
        L.append("    raise")
        results = []
        for j in range(info.n_sot):
            results.append(self.sot_result(j))
        for j in range(info.n_nit):
            results.append(self.nit_result(j))
        for j in range(info.n_carry):
            results.append(self.carry_result(j, op.inner_outputs[base + j]))
        if len(results) == 1:
            L.append(f"return {results[0]}")
        else:
            L.append(f"return ({', '.join(results)},)")
        helpers = sorted(k for k in self.ns if _HELPER.match(k))
        params = ["n_steps"] + seq_args + init_args + carry_args + ns_args
        kw = [f"{h}={h}" for h in helpers]
        signature = ", ".join(params + (["*"] + kw if kw else []))
        self.def_line = f"def scan_loop({signature}):"
        return "\n".join([self.def_line] + ["    " + line for line in L]) + "\n"

    def carry_result(self, j: int, var) -> str:
        """A carried state's final value; copied when it may be one of the loop's inputs."""
        if isinstance(var.type, TensorType) and (
                alias_roots(self.op.fgraph, var) & set(self.op.inner_inputs)):
            return f"_np.array(c{j})"
        return f"_final(c{j}, c{j}_0)"

    def maybe_copy(self, var, name, ring_inputs) -> str:
        """Copy a value kept by reference when it may view a ring slot reused later."""
        if ring_inputs and alias_roots(self.op.fgraph, var) & ring_inputs:
            return f"_np.array({name})"
        return name

    def sot_setup(self, j: int) -> list[str]:
        depth, mode = self.info.sot_depth(j), self.sot_mode(j)
        dtype = self.node.outputs[j].dtype
        lines = [f"_check_init(_op, {j}, init{j})", f"row{j} = init{j}.shape[1:]",
                 f"h{j} = len(init{j}) - {depth}"]
        if mode == "regs":
            for m in range(1, depth + 1):
                lines.append(f"r{j}_{m} = init{j}[{_plus(f'h{j}', depth - m)}]")
        elif mode == "ring":
            size = self.info.keep[j]
            lines.append(f"buf{j} = _np.empty(({size},) + row{j}, dtype='{dtype}')")
            lines.append(f"buf{j}[:{depth}] = init{j}[h{j}:]")
        elif self.info.reverse:
            lines.append(f"buf{j} = _np.empty((n + {depth},) + row{j}, dtype='{dtype}')")
            lines.append(f"buf{j}[n:] = init{j}[h{j}:][::-1]")
        else:
            lines.append(f"buf{j} = _np.empty((n + {depth},) + row{j}, dtype='{dtype}')")
            lines.append(f"buf{j}[:{depth}] = init{j}[h{j}:]")
        return lines

    def sot_reads(self, j: int, taps) -> list[str]:
        depth, mode = self.info.sot_depth(j), self.sot_mode(j)
        lines = []
        for tap in taps:
            if mode == "regs":
                continue
            if mode == "ring":
                size = self.info.keep[j]
                lines.append(f"y{j}_{-tap} = buf{j}[({_plus('t', depth + tap)}) % {size}]")
            elif self.info.reverse:
                lines.append(f"y{j}_{-tap} = buf{j}[{_plus('t', -tap)}]")
            else:
                lines.append(f"y{j}_{-tap} = buf{j}[{_plus('t', depth + tap)}]")
        return lines

    def sot_write(self, j: int, value: str) -> list[str]:
        depth, mode = self.info.sot_depth(j), self.sot_mode(j)
        check = [f"if {value}.shape != row{j}:", f"    _bad_shape(_op, {j}, {value}, row{j}, t)"]
        if mode == "regs":
            # a register holds the value itself: a wrong shape would stay in it, so
            # ``sot_result`` checks it once after the loop instead of every step
            regs = [f"r{j}_{m}" for m in range(depth, 0, -1)]
            shifted = [f"r{j}_{m}" for m in range(depth - 1, 0, -1)] + [value]
            return [f"{', '.join(regs)} = {', '.join(shifted)}"]
        if mode == "ring":
            size = self.info.keep[j]
            return check + [f"buf{j}[({_plus('t', depth)}) % {size}] = {value}"]
        if self.info.reverse:
            return check + [f"buf{j}[t] = {value}"]
        return check + [f"buf{j}[{_plus('t', depth)}] = {value}"]

    def sot_result(self, j: int) -> str:
        depth, mode = self.info.sot_depth(j), self.sot_mode(j)
        keep = self.info.keep[j]
        if mode == "regs":
            self.lines.extend(f"_check_regs(_op, {j}, r{j}_{m}, row{j}, done)"
                              for m in range(1, depth + 1))
            regs = [f"r{j}_{m}" for m in range(keep, 0, -1)]
            return f"_np.stack(({', '.join(regs)},))[max(0, {keep} - done):]"
        if mode == "ring":
            return f"buf{j}[(_np.arange(max(0, done - {keep}), done) + {depth}) % {keep}]"
        if self.info.reverse:
            return f"buf{j}[n - done:n]"
        return f"buf{j}[{depth}:{depth} + done]"

    def nit_write(self, j: int, value: str) -> list[str]:
        mode = self.nit_mode(j)
        out = self.node.outputs[self.info.n_sot + j]
        if mode == "last":
            return [f"nl{j} = {value}"]
        size = "n" if mode == "full" else str(self.info.keep[self.info.n_sot + j])
        lines = [f"if nb{j} is None:",
                 f"    nrow{j} = {value}.shape",
                 f"    nb{j} = _np.empty(({size},) + nrow{j}, dtype='{out.dtype}')",
                 f"elif {value}.shape != nrow{j}:",
                 f"    _bad_nit_shape(_op, {j}, {value}, nrow{j}, t)"]
        if mode == "full":
            lines.append(f"nb{j}[t] = {value}")
        else:
            lines.append(f"nb{j}[t % {size}] = {value}")
        return lines

    def nit_result(self, j: int) -> str:
        mode = self.nit_mode(j)
        inner = self.op.inner_outputs[self.info.n_sot + j]
        dtype = self.node.outputs[self.info.n_sot + j].dtype
        empty_row = tuple(s or 0 for s in inner.type.shape)
        empty = f"_np.empty((0,) + {empty_row!r}, dtype='{dtype}')"
        if mode == "last":
            return f"(_np.array(nl{j}, dtype='{dtype}')[None] if done else {empty})"
        if mode == "full":
            rows = "nb{j}[n - done:n]" if self.info.reverse else "nb{j}[:done]"
            return f"({rows.format(j=j)} if nb{j} is not None else {empty})"
        keep = self.info.keep[self.info.n_sot + j]
        return (f"(nb{j}[_np.arange(max(0, done - {keep}), done) % {keep}] "
                f"if nb{j} is not None else {empty})")

    # -- compile and errors ---------------------------------------------------------------
    def compile(self):
        src = self.source()
        filename = f"<theanine-scan-{self.info.name}-{next(_counter)}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        self.ns.update(_np=np, _op=self.op, _check_n=check_n_steps, _check_seq=check_sequence,
                       _check_init=check_init, _bad_shape=_bad_shape,
                       _bad_nit_shape=_bad_nit_shape, _check_regs=_check_regs,
                       _final=_final, _loop_error=self.loop_error)
        code = compile(src, filename, "exec")
        exec(code, self.ns)
        fn = self.ns["scan_loop"]
        self.code = fn.__code__
        fn.source = src
        fn.writer = self
        return fn

    def loop_error(self, exc) -> None:
        """Name the inner node, the step and the scan of an error in the loop body."""
        if getattr(exc, "__theanine_node__", None) is not None:
            return
        frame, lineno = failing_frame(exc, self.code)
        if frame is None:
            return
        # source line 1 is the def line, so entry k of ``self.lines`` is line k + 2
        body_index = lineno - 2 - self.body_first_line
        found = self.gen.line_nodes.get(body_index)
        if found is None:
            return
        inner_node, _ = found
        values = [v.data if isinstance(v, Constant) else frame.f_locals.get(self.gen.names.get(v))
                  for v in inner_node.inputs]
        step = frame.f_locals.get("t")
        where = f" (scan built at {user_line(self.op.trace)})" if self.op.trace else ""
        message = (f"in scan {self.info.name!r} at step {step}{where}, while running its "
                   f"body:\n" + node_error_message(inner_node, values, exc))
        try:
            new = type(exc)(message)
        except Exception:
            new = ScanError(message)
        new.__theanine_node__ = self.node
        raise new.with_traceback(exc.__traceback__) from exc


def _plus(name: str, offset: int) -> str:
    if offset == 0:
        return name
    return f"{name} + {offset}" if offset > 0 else f"{name} - {-offset}"


def _bad_shape(op, j, value, row, step):
    raise ScanError(
        f"scan {op.info.name!r}: at step {step}, fn returned output {j} of shape "
        f"{np.shape(value)}, but its initial state has shape {tuple(row)} per step; a "
        f"recurrent output must keep the shape of its initial state{op._where()}")


def _check_regs(op, j, value, row, done):
    if np.shape(value) != tuple(row):
        _bad_shape(op, j, value, row, f"<= {done - 1}")


def _bad_nit_shape(op, j, value, row, step):
    raise ScanError(
        f"scan {op.info.name!r}: at step {step}, mapped output {j} has shape "
        f"{np.shape(value)}, but earlier steps gave {tuple(row)}; every step must return "
        f"the same shape{op._where()}")


@python_funcify.register(Scan)
def _funcify_scan(op, node):
    return ScanLoopWriter(op, node).compile()


@inner_profile_funcify.register(Scan)
def _profiled_scan(op, node, funcify, profile):
    """The loop with per-inner-node clocks into ``profile`` (``py`` keeps ``perform``)."""
    if funcify is perform_thunk:
        return None
    return ScanLoopWriter(op, node, codegen_class=profiling_codegen_class(Codegen),
                          profile=profile).compile()
