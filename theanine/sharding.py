"""Scale-out: one compiled function over many devices and many processes (JAX).

    m = th.sharding.mesh({"data": 8})                       # or {"data": 4, "model": 2}
    train = th.function([x, y], cost, updates=..., mode="JAX", mesh=m,
                        shardings={x: ("data", None), y: ("data",)})

Values are split over a ``jax.sharding.Mesh`` with JAX's ``NamedSharding``; XLA
partitions the program and inserts the collectives (``theanine/link/jax/sharding.py``).
Across processes and hosts, ``initialize`` starts ``jax.distributed`` first; then
``jax.devices()`` and so ``mesh`` span every process.  See docs/scaling.md.

JAX is imported only when one of these functions is called, so theanine imports
without it.
"""

from __future__ import annotations

import importlib

from theanine.link import jax as jax_backend
from theanine.link.sharding import ShardingError


def _engine():
    """``theanine.link.jax.sharding`` (imports JAX), or a clear error without JAX."""
    if not jax_backend.available():
        raise RuntimeError("th.sharding needs the jax package: pip install 'jax[cpu]' "
                           "(or jax[cuda12] for NVIDIA GPUs)")
    return importlib.import_module("theanine.link.jax.sharding")


def mesh(axes: dict, devices=None):
    """A ``jax.sharding.Mesh`` with the named axes ``{name: size}`` (in order) over the
    first ``prod(sizes)`` devices of ``devices`` (default ``jax.devices()``: after
    ``initialize``, the devices of every process).  More devices than present is a
    ``ShardingError`` that says how many JAX sees."""
    return _engine().make_mesh(axes, devices)


def initialize(coordinator_address: str, num_processes: int, process_id: int,
               cpu_devices: int | None = None, **kwargs) -> None:
    """Join this process to a ``jax.distributed`` job (``coordinator_address`` is
    ``host:port`` of process 0).  Call it first, before any JAX function runs.
    ``cpu_devices``: virtual CPU devices in this process (testing on one machine);
    other keyword arguments go to ``jax.distributed.initialize``.  On CPU, the
    collectives between processes use Gloo over TCP (JAX's default)."""
    _engine().initialize(coordinator_address, num_processes, process_id, cpu_devices,
                         **kwargs)


def to_host(value):
    """A value as a NumPy array; a JAX array split over several processes' devices
    is gathered (every process must make the same call), e.g.
    ``th.sharding.to_host(W.get_value(borrow=True))``."""
    return _engine().to_host(value)


__all__ = ["ShardingError", "initialize", "mesh", "to_host"]
