"""``Scan`` as ``lax.scan``: the loop body compiled once, as part of the jitted graph.

The loop state is one buffer per recurrent output (its last ``depth`` values,
shifted each step) and the carried states; each sequence tap is a slice of the
sequence fed as the scanned input.  Outputs follow the loop's storage plan
(``keep``: the last steps only).  A while loop (``until``) has a length known
only while it runs, which JAX cannot give an array; it is refused with a clear
error, as are loops whose step count depends on the data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.link.jax.dispatch import JAXLoweringError, _static_ints, _where, jax_funcify
from theanine.link.jax.emitter import JAXEmitter, pure_spec
from theanine.scan.op import Scan, ScanError
from theanine.tensor.type import TensorType


@jax_funcify.register(Scan)
def _scan(op, node):
    info = op.info
    if info.until:
        raise JAXLoweringError(f"the JAX backend cannot run {op} as a while loop (until)"
                               f"{_where(node)}: its number of steps is known only while "
                               "it runs")
    pos = info.outer_in_positions()
    for k in pos["carry"]:
        if not isinstance(node.inputs[k].type, TensorType):
            raise JAXLoweringError(f"{op}{_where(node)} carries a {node.inputs[k].type} "
                                   "(a random generator?), which the JAX backend cannot")
    inner = JAXEmitter(op.fgraph, pure_spec(op.fgraph)).compile()
    n_sot, n_nit = info.n_sot, info.n_nit
    sot_dtypes = [node.outputs[j].dtype for j in range(n_sot)]
    nit_dtypes = [node.outputs[n_sot + j].dtype for j in range(n_nit)]
    carry_dtypes = [node.outputs[n_sot + n_nit + j].dtype for j in range(info.n_carry)]
    depths = [info.sot_depth(j) for j in range(n_sot)]
    from_buffer = [info.sot_storage(j) == "regs" and not info.reverse for j in range(n_sot)]

    def step(state, xs):
        buffers, carries, nonseqs = state
        values = list(xs) if xs is not None else []
        for j, taps in enumerate(info.sot_taps):
            values.extend(buffers[j][depths[j] + tap] for tap in taps)
        values.extend(carries)
        values.extend(nonseqs)
        outs = inner(*values)
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
        return (shifted, new_carries, nonseqs), (traced, mapped)

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
        (last, final, _), (traces, mapped) = jax.lax.scan(
            step, (buffers, carries, nonseqs), xs if xs else None, length=n,
            reverse=info.reverse)
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


__all__ = []
