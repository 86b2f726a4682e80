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
Where arguments and outputs live is the placement's business (``sharding.py``):
one device, or a mesh for ``function(..., mesh=)``.

A graph with a value known only when it runs (a shape computed from the data, a
while loop keeping every step, ``nonzero``) cannot be one XLA program: tracing
says so (``NeedsConcreteValues``) and the function then runs op by op on the
device, each op (and each loop) compiled by JAX on its own; ``f.jax_execution``,
``f.source`` and the profile say which way it runs.

The old buffer of an updated shared value is given to XLA for the new one
(buffer donation, ``donation.py``) when nothing else can still read it.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from time import perf_counter

import jax
import numpy as np

from theanine.config import config
from theanine.link.backend import Backend
from theanine.link.callspec import CallSpec, entry_source
from theanine.link.jax import conv as _conv  # noqa: F401  (registers the convolution ops)
from theanine.link.jax import jacobian as _jacobian  # noqa: F401  (registers JacobianLoop)
from theanine.link.jax import linalg as _linalg  # noqa: F401  (registers nlinalg/slinalg ops)
from theanine.link.jax import neighbours as _neighbours  # noqa: F401  (images2neibs)
from theanine.link.jax import pool as _pool  # noqa: F401  (registers the pooling ops)
from theanine.link.jax import random as _random  # noqa: F401  (registers random draws)
from theanine.link.jax import scan as _scan  # noqa: F401  (registers Scan as lax.scan)
from theanine.link.jax.checks import with_checks
from theanine.link.jax.dispatch import NeedsConcreteValues, checked_after_the_call
from theanine.link.jax.donation import Donation
from theanine.link.jax.emitter import JAXEmitter, pure_spec
from theanine.link.jax.sharding import MeshPlacement, OneDevice
from theanine.link.python.rerun import default_engine_rerun
from theanine.tensor.random.type import RandomGeneratorType
from theanine.tensor.rewriting.fusion import NO_FUSION
from theanine.tensor.type import TensorType

_counter = iter(range(1 << 62))


def resolve_device(name: str):
    """The JAX device ``config.device`` names (``cpu``, ``cuda``/``gpu`` = the first GPU,
    ``cudaN``), or a clear error listing what JAX sees."""
    kind, index = ("cpu", 0) if name == "cpu" else ("gpu", int(name[4:] or 0)) \
        if name.startswith("cuda") else ("gpu", 0)
    try:
        devices = jax.local_devices(backend=kind)     # this process's own (jax.distributed)
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
    same_random_numbers = False    # JAX's generators: reproducible by seed, not NumPy's draws
    per_node_guide = True    # profile=True: the default engine's per-node table as a guide

    sharding = None          # a ShardingRequest (``function(..., mesh=)``): sharding.py

    def __init__(self, device=None):
        self.device = resolve_device(config.device if device is None else device)

    def with_sharding(self, request):
        """This linker placing its functions on ``request``'s mesh."""
        placed = copy.copy(self)
        placed.sharding = request
        return placed

    def placement(self, fgraph, n_outputs):
        """Where arguments and outputs live: one device, or the requested mesh."""
        if self.sharding is None:
            return OneDevice(self.device)
        return MeshPlacement(self.sharding, fgraph, n_outputs)

    def make_function(self, fgraph, spec: CallSpec):
        traced = JAXEmitter(fgraph, pure_spec(fgraph)).compile()   # JAXLoweringError
        n_out = spec.n_outputs
        updated_from = dict(fgraph.update_mapping)        # output index -> input index
        checked_after = any(checked_after_the_call(n) for n in fgraph.apply_nodes)
        donation = Donation([] if checked_after else sorted(
            inp for inp in updated_from.values()
            if isinstance(fgraph.inputs[inp].type, TensorType)
            and spec.input_sources[inp][0] == "shared"))
        placement = self.placement(fgraph, n_out)
        jitted = jax.jit(with_checks(placement.constrain(traced)),
                         donate_argnums=donation.positions)

        device = placement.device
        phases = {"first call (trace, XLA compile, run)": 0.0, "transfers to the device": 0.0,
                  "runs on the device": 0.0}
        first, transfer, running = phases
        calls = [0]
        execution = {"mode": "one XLA program (jax.jit)"}

        generators = [k for k, v in enumerate(fgraph.inputs)
                      if isinstance(v.type, RandomGeneratorType)]

        def execute(args):
            if execution["mode"].startswith("one"):
                try:
                    if not donation.positions:
                        outs, checks_ok = jitted(*args)
                    else:
                        with warnings.catch_warnings():   # a donated buffer XLA cannot reuse
                            warnings.filterwarnings("ignore", "Some donated buffers")
                            outs, checks_ok = jitted(*args)
                    if checks_ok is not None and not bool(checks_ok):   # (waits for it)
                        raise ValueError("a value NumPy refuses (an index out of range, "
                                         "a negative integer exponent)")
                    return outs, True
                except NeedsConcreteValues as exc:
                    execution["mode"] = f"op by op on the device: {exc}"
            return traced(*args), False

        def run(*args):
            try:
                return attempt(args)
            except NeedsConcreteValues:
                raise
            except (TypeError, ValueError, IndexError) as exc:
                # JAX raises its own types for what the user passed (a TypeError for
                # operands of incompatible shapes): the default engine says what every
                # backend says.  (A failure of the device, such as memory, is not rerun.)
                rerun(exc, *[np.asarray(a) if isinstance(a, jax.Array) else copy.deepcopy(a)
                             for a in args])
                raise

        def attempt(args):
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
                args = donation.protect(args, placement.put(args))
                moved = perf_counter()
                outs, compiled = execute(args)
                outs = placement.wait(outs)
            done = perf_counter()
            if calls[0]:
                phases[transfer] += moved - start
                phases[running] += done - moved
            else:
                phases[first] += done - start
            calls[0] += 1
            if compiled:
                donation.adopt(outs[n_out:])
            # outputs go to the caller as NumPy arrays; updated shared values stay
            # on the device for the next call (``get_value`` brings them back); an
            # updated generator is the advanced copy of the NumPy one
            result = [placement.to_host(o) for o in outs[:n_out]] + list(outs[n_out:])
            for out, inp in updated_from.items():
                if inp in drawn:
                    result[out] = drawn[inp]
            return result

        # device arrays are immutable: no copies of update values, and device
        # arrays in shared containers or as arguments are taken as they are
        spec = replace(spec, copy_updates=[False] * len(spec.update_containers),
                       host_shared=[], array_types=(jax.Array,))
        rerun = default_engine_rerun(fgraph)
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
        fn.jax_execution = execution     # how it runs: one XLA program, or op by op
        fn.phase_times = phases          # the profiler prints them (profile=True), after
        fn.measure_phases = lambda: setattr(placement, "blocking", True)   # asking for them
        if placement.profile_report is not None:     # a mesh: placement, collectives
            fn.profile_report = lambda: placement.profile_report(jitted)
        return fn


__all__ = ["JAXLinker"]
