"""Where a JAX function's values live: one device, or a mesh of devices.

``OneDevice`` is what the linker does without ``mesh=``: every argument on the
configured device.  ``MeshPlacement`` carries out a ``ShardingRequest``
(``theanine/link/sharding.py``): each argument is put on the mesh with its
``NamedSharding`` (replicated when it has no spec), returned outputs are
constrained to the spec given for them (else XLA's sharding propagation chooses),
and each update keeps the sharding of the shared variable it replaces, so shared
values stay split on their devices from call to call.  XLA's partitioner (GSPMD)
inserts the collectives, e.g. the all-reduce of a data-parallel gradient.

Across processes (``jax.distributed``, see ``theanine/sharding.py``) every process
calls the function with the same global arguments; each puts only its own devices'
pieces, and outputs split over other processes' devices are gathered.

Profiling (``profile=True``) asks ``profile_report()`` for lines: the mesh, each
value's placement, the collectives in the compiled program (counted in XLA's
optimized HLO), XLA's cost analysis and, per device, the time from dispatch until its pieces of the
outputs were ready.
"""

from __future__ import annotations

import re
from collections import Counter
from time import perf_counter

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from theanine.link.sharding import ShardingError, axis_sizes, check_divides, split_factors

COLLECTIVE = re.compile(r"\b(all-reduce|all-gather|reduce-scatter|collective-permute|"
                        r"all-to-all|collective-broadcast)(?:-start)?\(")


def make_mesh(axes, devices=None) -> Mesh:
    """A ``jax.sharding.Mesh`` with ``axes`` (``{name: size}``, in order) over the
    first ``prod(sizes)`` of ``devices`` (default: every device JAX sees)."""
    if not isinstance(axes, dict) or not axes:
        raise ShardingError(f"mesh axes must be a non-empty dict {{name: size}}, e.g. "
                            f"{{'data': 8}}; got {axes!r}")
    for name, size in axes.items():
        if not isinstance(name, str) or not name:
            raise ShardingError(f"mesh axis names must be non-empty strings, got {name!r}")
        if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise ShardingError(f"mesh axis {name!r}: size must be a positive int, got {size!r}")
    present = list(jax.devices()) if devices is None else list(devices)
    needed = int(np.prod(list(axes.values())))
    if needed > len(present):
        kinds = Counter(d.platform for d in present)
        seen = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "none"
        hint = "" if devices is not None else (
            "; for virtual CPU devices start Python with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={needed}")
        grid = " x ".join(map(str, axes.values()))
        where = "the devices given are" if devices is not None else "JAX sees"
        raise ShardingError(f"mesh {axes}: needs {needed} devices ({grid}) but {where} "
                            f"{len(present)} ({seen}){hint}")
    grid = np.array(present[:needed], dtype=object).reshape(tuple(axes.values()))
    return Mesh(grid, tuple(axes))


def initialize(coordinator_address, num_processes, process_id, cpu_devices=None,
               **kwargs) -> None:
    """``jax.distributed.initialize`` (plus, on CPU, ``cpu_devices`` virtual devices
    in this process), with a hint when JAX has already started its backends."""
    if cpu_devices is not None:
        jax.config.update("jax_num_cpu_devices", int(cpu_devices))
    try:
        jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} (call th.sharding.initialize before compiling or running "
                           "any JAX function in this process)") from None


def to_host(value):
    """A JAX array as a NumPy array; pieces on other processes' devices are gathered
    (every process must then make the same call)."""
    if not isinstance(value, jax.Array) or value.is_fully_addressable \
            or value.is_fully_replicated:
        return np.asarray(value)
    return np.asarray(multihost_utils.process_allgather(value, tiled=True))


class OneDevice:
    """Every argument on one device (the linker's default placement)."""

    def __init__(self, device):
        self.device = device
        self.here = jax.sharding.SingleDeviceSharding(device)
        # profiling: wait for the transfers and the run, so that each phase is timed
        # (otherwise JAX's dispatch stays asynchronous: NumPy outputs wait as needed)
        self.blocking = False

    def constrain(self, traced):
        return traced

    def put(self, args):
        here = self.here       # an array already there is passed as it is (a put costs)
        placed = [a if isinstance(a, jax.Array) and a.sharding == here
                  else jax.device_put(a, self.device) for a in args]
        return jax.block_until_ready(placed) if self.blocking else placed

    def wait(self, outs):
        return jax.block_until_ready(outs) if self.blocking else outs

    def to_host(self, value):
        return np.array(value)

    profile_report = None


class MeshPlacement:
    """Arguments and outputs placed per a ``ShardingRequest`` (module docstring)."""

    def __init__(self, request, fgraph, n_outputs: int):
        mesh = self.mesh = request.mesh
        self.sizes = axis_sizes(mesh)
        self.in_shardings = [_named(mesh, s) for s in request.input_specs]
        self.labels = request.input_labels
        updated_from = dict(fgraph.update_mapping)
        self.out_shardings = [_named(mesh, s) if s is not None else None
                              for s in request.output_specs] + \
            [self.in_shardings[updated_from[k]] for k in range(n_outputs, len(fgraph.outputs))]
        # sizes not fixed by the type are checked on every call
        self.checks = [(k, request.input_labels[k], factors)
                       for k, spec in enumerate(request.input_specs)
                       if (factors := split_factors(spec, self.sizes))]
        local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
        self.device = local[0] if local else mesh.devices.flat[0]
        self.n_outputs = n_outputs
        self.clock = None          # {device: seconds} while profiling
        self.calls = 0
        self.seen_args = None      # the first call's argument shapes and shardings
        self.seen_outs = None      # and its outputs': what the profile reports

    def constrain(self, traced):
        """``traced`` with each output held to its sharding (None: XLA's choice)."""
        shardings = self.out_shardings

        def placed(*args):
            outs = traced(*args)
            return [o if s is None else jax.lax.with_sharding_constraint(o, s)
                    for o, s in zip(outs, shardings)]

        placed.source = getattr(traced, "source", "")
        return placed

    def put(self, args):
        for k, label, factors in self.checks:
            check_divides(label, np.shape(args[k]), factors)
        placed = jax.block_until_ready([jax.device_put(a, s)
                                        for a, s in zip(args, self.in_shardings)])
        if self.seen_args is None:
            self.seen_args = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding)
                              for a in placed]
        return placed

    def wait(self, outs):
        if self.seen_outs is None:
            self.seen_outs = [(tuple(o.shape), o.sharding) for o in outs]
        if self.clock is None:
            return jax.block_until_ready(outs)
        start = perf_counter()
        by_device: dict = {}
        for out in outs:
            for shard in getattr(out, "addressable_shards", ()):
                by_device.setdefault(shard.device, []).append(shard.data)
        for device, pieces in by_device.items():
            jax.block_until_ready(pieces)
            if self.calls:
                self.clock[device] = self.clock.get(device, 0.0) + perf_counter() - start
        self.calls += 1
        return outs

    def to_host(self, value):
        return to_host(value)

    def profile_report(self, jitted):
        """Turn on per-device clocks; return a function giving the report's lines."""
        self.clock = {}
        return lambda: self._report(jitted)

    def _report(self, jitted) -> list[str]:
        mesh = self.mesh
        devices = list(mesh.devices.flat)
        out = [f"mesh {dict(self.sizes)} over {len(devices)} {devices[0].platform} devices "
               f"(process {jax.process_index()} of {jax.process_count()})"]
        for k, (label, sharding) in enumerate(zip(self.labels, self.in_shardings)):
            shape = tuple(self.seen_args[k].shape) if self.seen_args else None
            pieces = "" if shape is None else \
                f", shape {shape}, pieces {sharding.shard_shape(shape)}"
            out.append(f"  {label}: {_describe(sharding)}{pieces}")
        for k, (shape, sharding) in enumerate(self.seen_outs or ()):
            what = f"output {k}" if k < self.n_outputs else f"update {k - self.n_outputs}"
            text = _describe(sharding) if isinstance(sharding, NamedSharding) else sharding
            out.append(f"  {what}: {text}, shape {shape}, pieces {sharding.shard_shape(shape)}")
        if self.seen_args is not None:
            compiled = compile_for(jitted, self.seen_args)
            counts = collective_counts(compiled)
            text = ", ".join(f"{op} x{n}" for op, n in sorted(counts.items())) or "none"
            out.append(f"  collectives in the compiled program: {text}")
            cost = compiled.cost_analysis() or {}
            cost = cost[0] if isinstance(cost, list) else cost
            if "flops" in cost:
                out.append(f"  XLA's cost analysis, per device: {cost['flops']:.4g} flops, "
                           f"{cost.get('bytes accessed', 0.0):.4g} bytes accessed")
        if self.clock:
            calls = max(self.calls - 1, 1)
            out.append(f"  per device, dispatch to outputs ready (mean of {calls} calls):")
            times = [f"{d.platform}:{d.id} {1e3 * t / calls:.3f} ms"
                     for d, t in sorted(self.clock.items(), key=lambda e: e[0].id)]
            out.extend("    " + ", ".join(times[i:i + 4]) for i in range(0, len(times), 4))
        return out


def compile_for(jitted, args):
    """XLA's compiled program of ``jitted`` for ``args`` (arrays or shape structs)."""
    with jax.enable_x64(True):
        return jitted.lower(*args).compile()


def collective_counts(compiled) -> Counter:
    """How many of each collective a compiled program (its optimized HLO) holds."""
    text = compiled.as_text()
    return Counter(m.group(1) for m in COLLECTIVE.finditer(text))


def _named(mesh, spec) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec() if spec is None else PartitionSpec(*spec))


def _describe(sharding: NamedSharding) -> str:
    spec = tuple(sharding.spec)
    if not any(e is not None for e in spec):
        return "replicated"
    return "split " + ", ".join(f"dim {d} over {e!r}" for d, e in enumerate(spec)
                                if e is not None)


__all__ = ["MeshPlacement", "OneDevice", "collective_counts", "compile_for", "initialize",
           "make_mesh",
           "to_host"]
