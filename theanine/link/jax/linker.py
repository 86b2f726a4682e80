"""The JAX linker: the rewritten graph as one ``jax.jit`` function.

The backend-neutral ``Emitter`` writes the graph as a pure Python function of
its inputs (``JAXEmitter``: every node a ``jax_funcify`` thunk, no ``del``, and
each lazy ``IfElse`` a ``lax.cond`` over two nested functions holding the nodes
only its branches need, so only the taken branch runs).  That function is
``jax.jit``-compiled, with JAX's 64-bit mode on while it traces and runs (and
only then: other JAX code in the process keeps its own setting).  The entry
around it is the one every backend has (``link/callspec.py``): argument checks
(JAX arrays accepted as they are), shared values read, outputs returned as NumPy
arrays, updates written last.  Updated shared values stay on the device between
calls (no round trip); ``get_value`` and the NumPy engines bring them back.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from time import perf_counter

import jax
import numpy as np

from theanine.config import config
from theanine.link.backend import Backend
from theanine.link.callspec import CallSpec, entry_source
from theanine.link.jax import conv as _conv  # noqa: F401  (registers the convolution ops)
from theanine.link.jax import pool as _pool  # noqa: F401  (registers the pooling ops)
from theanine.link.jax import random as _random  # noqa: F401  (registers random draws)
from theanine.link.jax import scan as _scan  # noqa: F401  (registers Scan as lax.scan)
from theanine.link.jax.emitter import JAXEmitter, pure_spec
from theanine.tensor.gradient.jacobian import JacobianLoop
from theanine.tensor.nonzero import Nonzero
from theanine.tensor.random.type import RandomGeneratorType
from theanine.tensor.rewriting.fusion import NO_FUSION

_counter = iter(range(1 << 62))


def resolve_device(name: str):
    """The JAX device ``config.device`` names (``cpu``, ``cuda``/``gpu`` = the first GPU,
    ``cudaN``), or a clear error listing what JAX sees."""
    kind, index = ("cpu", 0) if name == "cpu" else ("gpu", int(name[4:] or 0)) \
        if name.startswith("cuda") else ("gpu", 0)
    try:
        devices = jax.devices(kind)
    except RuntimeError:
        devices = []
    if index >= len(devices):
        raise RuntimeError(f"config.device={name!r}: JAX sees no such device here (its "
                           f"devices: {', '.join(str(d) for d in jax.devices())}); install "
                           "jax[cuda12] on a machine with an NVIDIA GPU, or use device=cpu")
    return devices[index]


class JAXLinker(Backend):
    """``linker="jax"``: compile with ``jax.jit`` (CPU here, a GPU where JAX sees one)."""

    name = "jax"
    capabilities = NO_FUSION                   # XLA fuses; theanine's kernels are not used
    excluded_rewrites = ("fusion", "inplace", "dot_to_blas")
    # ops this backend cannot run yet: compiling them raises ``JAXLoweringError``
    # naming the op and the user's line (the op checker holds it to that)
    unsupported_ops = (Nonzero, JacobianLoop)
    same_random_numbers = False    # JAX's generators: reproducible by seed, not NumPy's draws
    fixed_shapes = True      # shapes computed from data (not from shapes) are refused

    def __init__(self, device=None):
        self.device = resolve_device(config.device if device is None else device)

    def make_function(self, fgraph, spec: CallSpec):
        traced = JAXEmitter(fgraph, pure_spec(fgraph)).compile()   # JAXLoweringError
        jitted = jax.jit(traced)
        n_out = spec.n_outputs

        device = self.device
        phases = {"first call (trace, XLA compile, run)": 0.0, "transfers to the device": 0.0,
                  "runs on the device": 0.0}
        first, transfer, running = phases
        calls = [0]

        generators = [k for k, v in enumerate(fgraph.inputs)
                      if isinstance(v.type, RandomGeneratorType)]
        updated_from = dict(fgraph.update_mapping)        # output index -> input index

        def run(*args):
            start = perf_counter()
            drawn = {}
            if generators:
                args = list(args)
                for k in generators:                  # see random.py: a key per call
                    drawn[k] = copy.deepcopy(args[k])
                    args[k] = jax.random.key(int(drawn[k].integers(2 ** 63 - 1)))
            with jax.enable_x64(True), jax.default_device(device):
                # every argument as an array on the device, so the jitted function
                # sees one signature whether a value comes from NumPy or is already
                # there (a shared value after its first update): it compiles once
                args = jax.block_until_ready([jax.device_put(a, device) for a in args])
                moved = perf_counter()
                outs = jax.block_until_ready(jitted(*args))
            done = perf_counter()
            if calls[0]:
                phases[transfer] += moved - start
                phases[running] += done - moved
            else:
                phases[first] += done - start
            calls[0] += 1
            # outputs go to the caller as NumPy arrays; updated shared values stay
            # on the device for the next call (``get_value`` brings them back); an
            # updated generator is the advanced copy of the NumPy one
            result = [np.array(o) for o in outs[:n_out]] + list(outs[n_out:])
            for out, inp in updated_from.items():
                if inp in drawn:
                    result[out] = drawn[inp]
            return result

        # device arrays are immutable: no copies of update values, and device
        # arrays in shared containers or as arguments are taken as they are
        spec = replace(spec, copy_updates=[False] * len(spec.update_containers),
                       host_shared=[], array_types=(jax.Array,))
        ns = {"_run": run}
        names = [f"_in{k}" for k in range(len(fgraph.inputs))]
        outs = [f"_out{k}" for k in range(len(fgraph.outputs))]
        lines = [f"_r = _run({', '.join(names)})"] + \
            [f"{o} = _r[{k}]" for k, o in enumerate(outs)]
        def_line, entry = entry_source(spec, names, ns, lines, outs)
        src = "\n".join([def_line, *entry]) + "\n"
        filename = f"<theanine-jax-{spec.fn_name}-{next(_counter)}>"
        exec(compile(src, filename, "exec"), ns)
        fn = ns[spec.fn_name]
        fn.source = src + "\n# traced and compiled by jax.jit:\n" + traced.source
        fn.jitted = jitted
        fn.phase_times = phases          # the profiler prints them (profile=True)
        return fn


__all__ = ["JAXLinker"]
