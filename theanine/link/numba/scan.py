"""``Scan`` as a native loop inside the compiled function.

The body is its own njit function (``JitBodyEmitter`` over the inner graph,
every node Numba-able, else the whole Scan is a call-out); the loop around it
is generated per node with the layout of ``ScanInfo`` spelled out.  Storage
follows the plan ``ScanInfo`` gives ``Scan.perform``: a recurrent array that keeps
no more steps than its taps read lives in ``depth`` variables (each step binds the
body's result, no copy); one with a larger bounded ``keep`` in a ring of
``sot_slots`` rows (``max(keep, depth)``; the taps read it modulo its size), else
in ``depth + n_steps`` rows; a mapped
output keeps ``keep`` rows or every step.  ``until`` stops the loop after the
step whose condition is true; ``reverse`` walks the steps backwards and returns
them in natural order.  Run-time errors (too short a sequence, a recurrent
output changing shape) are raised with the scan's name.
"""

from __future__ import annotations

from theanine.graph.fg import OUTPUT
from theanine.link.numba.compile import NumbaUnsupported, njit_source, npname
from theanine.link.numba.dispatch import numba_funcify
from theanine.link.numba.elemwise import elemwise_function, in_loop_body
from theanine.link.numba.emitter import JitBodyEmitter, NamedGlobals
from theanine.link.numba.nodes import node_functions
from theanine.scan.op import Scan
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.type import TensorType


def _step_function(op, in_place: dict):
    token = in_loop_body.set(True)         # per-step work: no parallel drivers
    try:
        thunks, callouts = node_functions(op.fgraph)
        thunks.update(in_place.values())
    finally:
        in_loop_body.reset(token)
    if callouts:
        raise NumbaUnsupported(f"{op}: its body has nodes without a Numba form "
                               f"({', '.join(sorted({str(n.op) for n in callouts}))})")
    names = NamedGlobals("s")
    body = JitBodyEmitter(op.fgraph, thunks, names,
                          destinations={inner: f"dst{j}" for j, (inner, _) in in_place.items()})
    src = body.function_source("step", op.fgraph.inputs, op.fgraph.outputs, boundary=False)
    fn = njit_source(src, "step", names.values)
    if getattr(fn, "fingerprint", None) is None:     # the whole function's cache key
        raise NumbaUnsupported(f"{op}: its body reads a value the disk cache cannot "
                               "describe")
    return fn


def _dims(var, first: str, rest_of: str) -> str:
    """A shape tuple: ``first`` then the trailing axes of the array ``rest_of``."""
    return "(" + first + ", " + "".join(f"{rest_of}.shape[{d}], "
                                        for d in range(1, var.ndim)) + ")"


def _put(target: str, value: str, rows: bool) -> str:
    """``target = value``; a row of an array goes through ``_assign`` (``assign.py``:
    Numba's own row assignment costs seconds of compile per pair of types)."""
    return f"_assign({target}, {value})" if rows else f"{target} = {value}"


def scan_source(op, node, in_place=None) -> str:
    """The loop around ``step`` (``in_place``: ``_written_in_place``'s outputs, whose
    step writes into a spare buffer passed last)."""
    in_place = in_place or {}
    info = op.info
    pos = info.outer_in_positions()

    def error(text: str) -> str:
        # one literal: a concatenation in compiled code costs Numba's string machinery
        return f"raise ValueError({('scan ' + str(info.name) + ': ' + text)!r})"

    seqs = [f"q{j}" for j in range(info.n_seq)]
    inits = [f"z{j}" for j in range(info.n_sot)]
    carries = [f"c{j}" for j in range(info.n_carry)]
    nonseqs = [f"w{j}" for j in range(info.n_nonseq)]
    lines = ["if n < 0:", "    " + error("n_steps is negative")]
    for j, q in enumerate(seqs):
        lines += [f"if {q}.shape[0] < n + {info.seq_span(j)}:",
                  "    " + error(f"sequence {j} has fewer steps than n_steps needs")]
    n_sot, n_nit = info.n_sot, info.n_nit
    regs = _register_outputs(info, node)
    for j, z in enumerate(inits):
        depth, var = info.sot_depth(j), node.inputs[pos["sot"][j]]
        dt = npname(node.outputs[j].dtype)
        slots = info.sot_slots(j)
        lines += [f"if {z}.shape[0] < {depth}:",
                  "    " + error(f"output {j} needs {depth} initial steps")]
        if j in regs:       # copies: the body may overwrite what it reads
            lines += [f"v{j}_{k} = {z}[{z}.shape[0] - {depth - k}].copy()"
                      for k in range(depth)]
            if j in in_place:   # the buffer the next state is written into
                lines.append(f"sp{j} = np.empty_like(v{j}_0)")
            continue
        lines += [f"S{j} = {depth} + n" if slots is None else f"S{j} = {slots}",
                  f"b{j} = _empty({_dims(var, f'S{j}', z)}, {dt})",
                  f"for r in range({depth}):",
                  "    " + _put(f"b{j}[r % S{j}]", f"{z}[{z}.shape[0] - {depth} + r]",
                               var.ndim > 1)]
    for j in range(n_nit):
        out = node.outputs[n_sot + j]
        static = op.fgraph.outputs[n_sot + j].type.shape
        keep = info.keep[n_sot + j]
        empty = "(0, " + "".join(f"{s or 0}, " for s in static) + ")"
        lines += [f"M{j} = n" if keep is None else f"M{j} = {keep}",
                  f"m{j} = _empty({empty}, {npname(out.dtype)})"]
    for j, c in enumerate(carries):
        lines.append(f"cc{j} = {c}")
    lines += ["done = 0", "for i in range(n):",
              "    t = n - 1 - i" if info.reverse else "    t = i"]
    args = []
    for j, q in enumerate(seqs):
        low = min(info.seq_taps[j])
        args += [f"{q}[t + {tap - low}]" for tap in info.seq_taps[j]]
    for j, taps in enumerate(info.sot_taps):
        depth = info.sot_depth(j)
        args += [f"v{j}_{depth + tap}" if j in regs else f"b{j}[({depth} + i + ({tap})) % S{j}]"
                 for tap in taps]
    args += [f"cc{j}" for j in range(info.n_carry)] + nonseqs
    args += [f"sp{j}" if j in regs else f"b{j}[({info.sot_depth(j)} + i) % S{j}]"
             for j in in_place]
    lines.append(f"    outs = step({', '.join(args)})")
    for j in range(n_sot):
        depth = info.sot_depth(j)
        if node.outputs[j].ndim > 1:
            state = f"{inits[j]}.shape[1:]" if j in regs else f"b{j}.shape[1:]"
            lines += [f"    if outs[{j}].shape != {state}:",
                      "        " + error(f"fn returned output {j} with another shape "
                                            "than its initial state")]
        if j in regs:       # the registers move down one, the new value comes last
            if j in in_place:   # the oldest state is read no more: the next spare
                lines.append(f"    old{j} = v{j}_0")
            lines += [f"    v{j}_{k} = v{j}_{k + 1}" for k in range(depth - 1)]
            lines.append(f"    v{j}_{depth - 1} = outs[{j}]")
            if j in in_place:
                lines.append(f"    sp{j} = old{j}")
            continue
        if j in in_place:   # its shape checked: the step wrote it into its row
            continue
        lines.append("    " + _put(f"b{j}[({depth} + i) % S{j}]", f"outs[{j}]",
                                      node.outputs[j].ndim > 1))
    for j in range(n_nit):
        out = node.outputs[n_sot + j]
        k = n_sot + j
        if out.ndim > 1:
            shape = f"(M{j},) + outs[{k}].shape"
        else:
            shape = f"(M{j},)"
        # a backward loop keeping every step writes them from the last row up: its
        # result is then in order, with no reversed copy of them all
        row = "n - 1 - i" if info.reverse and info.keep[k] is None else f"i % M{j}"
        lines += ["    if i == 0:", f"        m{j} = _empty({shape}, {npname(out.dtype)})",
                  "    " + _put(f"m{j}[{row}]", f"outs[{k}]", out.ndim > 1)]
    for j in range(info.n_carry):
        lines.append(f"    cc{j} = outs[{n_sot + n_nit + j}]")
    lines.append("    done = i + 1")
    if info.until:
        lines += ["    if outs[-1]:", "        break"]
    results, in_order = [], set()
    for j in range(n_sot + n_nit):      # the kept rows of each ring, oldest first
        sot = j < n_sot
        keep, var = info.keep[j], node.outputs[j]
        if j in regs:       # the last ``kept`` registers (a tuple indexes at run time)
            depth = info.sot_depth(j)
            regs_tuple = "(" + "".join(f"v{j}_{k}, " for k in range(depth)) + ")"
            lines += [f"kept = min(done, {keep})",
                      f"t{j} = {regs_tuple}",
                      f"r{j} = _empty({_dims(var, 'kept', inits[j])}, "
                      f"{npname(var.dtype)})",
                      "for r in range(kept):",
                      "    " + _put(f"r{j}[r]", f"t{j}[{depth} - kept + r]", True)]
            results.append(f"r{j}")
            continue
        name, buf = (f"r{j}", f"b{j}") if sot else (f"rn{j - n_sot}", f"m{j - n_sot}")
        if keep is None:    # every step kept, in order: a view, no copy of them all
            if not sot and info.reverse:    # written from the last row up
                lines.append(f"{name} = {buf}[n - done:n]")
                in_order.add(name)
            else:
                first = info.sot_depth(j) if sot else 0
                lines.append(f"{name} = {buf}[{first}:{first} + done]")
            results.append(name)
            continue
        row = (f"({info.sot_depth(j)} + done - kept + r) % S{j}" if sot
               else f"(done - kept + r) % M{j - n_sot}")
        lines += [f"kept = min(done, {keep})",
                  f"{name} = _empty({_dims(var, 'kept', buf)}, {npname(var.dtype)})",
                  "for r in range(kept):",
                  "    " + _put(f"{name}[r]", f"{buf}[{row}]", var.ndim > 1)]
        results.append(name)
    if info.reverse:
        results = [r if r in in_order else f"{r}[::-1].copy()" for r in results]
    for j in range(info.n_carry):
        var = node.outputs[n_sot + n_nit + j]
        results.append(f"cc{j}.copy()" if var.ndim else f"cc{j}")
    ret = results[0] if len(results) == 1 else "(" + ", ".join(results) + ",)"
    lines.append(f"return {ret}")
    params = ["n"] + seqs + inits + carries + nonseqs
    return f"def scan({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in lines)


def _register_outputs(info, node) -> set:
    """Recurrent outputs of arrays kept in variables instead of a ring of rows
    (``sot_storage`` "regs": no more kept than the taps read): each step then binds
    the body's result instead of copying it into a row (scan-pow: one copy of the
    state per step less)."""
    return {j for j in range(info.n_sot)
            if info.sot_storage(j) == "regs" and node.outputs[j].ndim > 1}


def _written_in_place(info, op, node) -> dict:
    """``{output: (inner node, its function writing into a buffer)}`` for the
    recurrent outputs whose step writes its new state in place: into the buffer of
    the state that drops out of the registers (the register's values are then two
    buffers taking turns, no array made per step), or into its row of the ring (no
    array made and no row copied per step: an RNN's hidden states, kept for its
    gradient).  A ring has more rows than the taps read, so that row is none of the
    step's operands.

    The recycled buffer must be read by nothing after the step: so every output of
    the body is a value computed afresh (no input, constant or view of one passed
    through, which a register could then share), no state is carried, and the new
    state is an elementwise node's only output, read by nothing else in the body."""
    if info.n_carry:
        return {}
    outputs = op.fgraph.outputs
    for out in outputs:
        owner = out.owner
        if owner is None or owner.op.view_map or owner.op.destroy_map:
            return {}
    found = {}
    for j in [j for j in range(info.n_sot) if node.outputs[j].ndim > 1]:
        inner = outputs[j].owner
        if not (isinstance(inner.op, Elemwise) and len(inner.outputs) == 1
                and outputs.count(outputs[j]) == 1
                and all(c == OUTPUT for c, _ in op.fgraph.clients[outputs[j]])):
            continue
        token = in_loop_body.set(True)     # per-step work: no parallel driver
        try:
            found[j] = (inner, elemwise_function(inner.op.scalar_op, inner, into=True)[0])
        except NumbaUnsupported:           # no kernel form: the step allocates
            pass
        finally:
            in_loop_body.reset(token)
    return found


@numba_funcify.register(Scan)
def _scan(op, node):
    info = op.info
    for k in info.outer_in_positions()["carry"]:
        if not isinstance(node.inputs[k].type, TensorType):
            raise NumbaUnsupported(f"{op} carries a {node.inputs[k].type}")
    in_place = _written_in_place(info, op, node)
    step = _step_function(op, in_place)
    src = scan_source(op, node, in_place)
    return njit_source(src, "scan", {"step": step})


__all__ = ["scan_source"]
