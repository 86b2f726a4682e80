"""``Scan`` as ``lax.scan``: the loop body compiled once, as part of the jitted graph.

The loop state is one buffer per recurrent output (its last ``depth`` values,
shifted each step), the carried states and the conjunction of the body's value
checks so far (``checks.nested``: an index out of range at any step fails the
call); each sequence tap is a slice of the sequence fed as the scanned input.
Outputs follow the loop's storage plan (``keep``: the last steps only).

A while loop (``until``) is a ``lax.while_loop`` writing each step into buffers
sized for ``n_steps``; the number of steps run is known only at the end.  When
only each output's last value is kept, the results have fixed shapes and the
loop is part of the compiled program; otherwise the results' length depends on
the data and the loop asks for concrete values (``NeedsConcreteValues``: the
function then runs op by op, the loop itself still compiled).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.link.jax.checks import check_later, nested
from theanine.link.jax.dispatch import (
    JAXLoweringError,
    NeedsConcreteValues,
    _static_ints,
    _where,
    is_traced,
    jax_funcify,
)
from theanine.link.jax.emitter import JAXEmitter, pure_spec
from theanine.scan.op import Scan, ScanError
from theanine.tensor.type import TensorType


@jax_funcify.register(Scan)
def _scan(op, node):
    info = op.info
    pos = info.outer_in_positions()
    for k in pos["carry"]:
        if not isinstance(node.inputs[k].type, TensorType):
            raise JAXLoweringError(f"{op}{_where(node)} carries a {node.inputs[k].type} "
                                   "(a random generator?), which the JAX backend cannot")
    inner = nested(JAXEmitter(op.fgraph, pure_spec(op.fgraph)).compile())
    n_sot, n_nit = info.n_sot, info.n_nit
    sot_dtypes = [node.outputs[j].dtype for j in range(n_sot)]
    nit_dtypes = [node.outputs[n_sot + j].dtype for j in range(n_nit)]
    carry_dtypes = [node.outputs[n_sot + n_nit + j].dtype for j in range(info.n_carry)]
    depths = [info.sot_depth(j) for j in range(n_sot)]
    from_buffer = [info.sot_storage(j) == "regs" and not info.reverse for j in range(n_sot)]

    def step(state, xs):
        buffers, carries, nonseqs, ok = state
        values = list(xs) if xs is not None else []
        for j, taps in enumerate(info.sot_taps):
            values.extend(buffers[j][depths[j] + tap] for tap in taps)
        values.extend(carries)
        values.extend(nonseqs)
        outs, step_ok = inner(*values)
        new_sot = [jnp.asarray(v).astype(dt) for v, dt in zip(outs[:n_sot], sot_dtypes)]
        mapped = [jnp.asarray(v).astype(dt)
                  for v, dt in zip(outs[n_sot:n_sot + n_nit], nit_dtypes)]
        new_carries = [jnp.asarray(v).astype(dt)
                       for v, dt in zip(outs[n_sot + n_nit:], carry_dtypes)]
        shifted = [v[None] if depths[j] == 1 else jnp.concatenate([b[1:], v[None]])
                   for j, (b, v) in enumerate(zip(buffers, new_sot))]
        # outputs whose plan keeps only what the buffer holds (``regs``) are read from
        # the final buffer: no per-step trace is stacked for them
        traced = [v for j, v in enumerate(new_sot) if not from_buffer[j]]
        stop = jnp.asarray(outs[-1]).astype(bool).reshape(()) if info.until else None
        return (shifted, new_carries, nonseqs, ok & step_ok), (traced, mapped), stop

    def scan_step(state, xs):
        new_state, ys, _ = step(state, xs)
        return new_state, ys

    def while_loop(state, xs, n):
        """Run ``step`` until its stop value or ``n`` steps; the per-step values in
        buffers of ``n`` rows; returns the final state, the buffers and the count."""
        (_, (traced, mapped), _) = jax.eval_shape(
            lambda s, x: step(s, x), state, None if not xs else [x[0] for x in xs])
        ys = ([jnp.zeros((n,) + t.shape, t.dtype) for t in traced],
              [jnp.zeros((n,) + m.shape, m.dtype) for m in mapped])

        def body(carry):
            i, _, st, (tr, mp) = carry
            t = n - 1 - i if info.reverse else i
            x = [jax.lax.dynamic_index_in_dim(s, t, keepdims=False) for s in xs]
            st, (new_t, new_m), stop = step(st, x if xs else None)
            tr = [b.at[i].set(v) for b, v in zip(tr, new_t)]
            mp = [b.at[i].set(v) for b, v in zip(mp, new_m)]
            return i + 1, stop, st, (tr, mp)

        i, _, state, ys = jax.lax.while_loop(
            lambda c: (c[0] < n) & ~c[1], body,
            (jnp.asarray(0, "int64"), jnp.asarray(False), state, ys))
        return state, ys, i

    def scan(n_steps, *args):
        n = _static_ints((n_steps,), "the number of steps", node)[0]
        if n < 0:
            raise ScanError(f"scan {info.name!r}: n_steps={n} is negative{op._where()}")
        outer = (n_steps,) + args
        xs = []
        for j, k in enumerate(pos["seq"]):
            seq, taps = outer[k], info.seq_taps[j]
            if seq.shape[0] < n + info.seq_span(j):
                raise ScanError(f"scan {info.name!r}: sequence {j} has {seq.shape[0]} steps "
                                f"but n_steps={n} needs {n + info.seq_span(j)}{op._where()}")
            low = min(taps)
            xs.extend(seq[tap - low:tap - low + n] for tap in taps)
        buffers = []
        for j, k in enumerate(pos["sot"]):
            init = jnp.asarray(outer[k])
            if init.shape[0] < depths[j]:
                raise ScanError(f"scan {info.name!r}: output {j} needs {depths[j]} initial "
                                f"steps, its initial value has {init.shape[0]}{op._where()}")
            buffers.append(init[init.shape[0] - depths[j]:].astype(sot_dtypes[j]))
        carries = [jnp.asarray(outer[k]).astype(dt) for k, dt in zip(pos["carry"],
                                                                       carry_dtypes)]
        nonseqs = [outer[k] for k in pos["nonseq"]]
        start = (buffers, carries, nonseqs, jnp.asarray(True))
        if info.until:
            state, ys, count = while_loop(start, xs, n)
            check_later(state[3])           # (the checks of the steps that ran)
            return _until_results(info, depths, from_buffer, n, state, ys, count, op, node)
        (last, final, _, ok), (traces, mapped) = jax.lax.scan(
            scan_step, start, xs if xs else None, length=n, reverse=info.reverse)
        check_later(ok)
        results, traces = [], iter(traces)
        for j in range(n_sot):
            keep = info.keep[j]
            if from_buffer[j]:           # the last min(n, keep) values the buffer holds
                results.append(last[j][depths[j] - min(n, keep):])
            else:
                trace = next(traces)
                results.append(trace if keep is None else trace[max(0, n - keep):])
        for j, trace in enumerate(mapped):
            keep = info.keep[n_sot + j]
            results.append(trace if keep is None else trace[max(0, n - keep):])
        results.extend(final)
        return results[0] if len(results) == 1 else tuple(results)

    return scan


def _until_results(info, depths, from_buffer, n, state, ys, count, op, node):
    """A while loop's outputs: the first ``count`` rows of its buffers (the last
    ``keep`` of them).  Fixed shapes only when one value is kept per output;
    otherwise the count must be concrete."""
    last, final = state[0], state[1]
    traces, mapped = ys
    kept = [info.keep[j] for j in range(info.n_sot + info.n_nit)]
    if is_traced(count) and n > 0 and any(k != 1 for k in kept):
        raise NeedsConcreteValues(f"the number of steps of {op}{_where(node)}, a while "
                                  "loop (until), is known only when it has run")
    results, traces = [], iter(traces)
    c = count if is_traced(count) else int(count)
    for j in range(info.n_sot + info.n_nit):
        keep = kept[j]
        if j < info.n_sot and from_buffer[j]:
            rows = last[j][depths[j] - (1 if n else 0):] if keep == 1 and is_traced(c) \
                else last[j][depths[j] - min(c, keep):]
            results.append(rows)
            continue
        trace = next(traces) if j < info.n_sot else mapped[j - info.n_sot]
        if keep == 1 and is_traced(c):      # the row of the last step run
            results.append(jax.lax.dynamic_slice_in_dim(trace, c - 1, 1) if n else trace)
            continue
        rows = trace[:c] if keep is None else trace[max(0, c - keep):c]
        results.append(rows[::-1] if info.reverse else rows)
    results.extend(final)
    return results[0] if len(results) == 1 else tuple(results)


__all__ = []
