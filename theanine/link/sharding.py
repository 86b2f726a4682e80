"""What ``function(..., mesh=, shardings=, out_shardings=)`` asks of a backend.

A ``ShardingRequest`` says, for every graph input (explicit inputs, then shared
variables) and every returned output, how its axes are split over the named axes
of a device mesh: a *spec*, one entry per array dimension, each ``None``
(replicated), an axis name, or a tuple of axis names (split over their product).
This module turns the user's ``{variable: spec}`` into that per-position form and
checks it, with errors naming the variable and the axis, before any backend is
involved; a backend that places arrays on several devices offers
``with_sharding(request)`` (the JAX linker does), any other refuses ``mesh=``.

The mesh is read as a mapping of axis names to sizes (``mesh.shape``), so nothing
here needs the backend's own library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from theanine.graph.basic import Variable


class ShardingError(ValueError):
    """A sharding that cannot be applied: unknown axis, wrong rank, a size that an
    axis does not divide, or a mesh the devices cannot hold."""


@dataclass(frozen=True)
class ShardingRequest:
    """Per graph input and per returned output: a normalized spec or None."""

    mesh: object
    input_specs: tuple          # one per graph input: tuple of entries, None = replicated
    input_labels: tuple         # how errors name each graph input
    output_specs: tuple         # one per returned output: None = XLA's choice


def axis_sizes(mesh) -> dict:
    """``{axis name: size}`` of a mesh (a ``jax.sharding.Mesh`` or any object whose
    ``shape`` is such a mapping)."""
    return dict(mesh.shape)


def _label(var, fallback: str) -> str:
    return f"{fallback} {var.name!r}" if getattr(var, "name", None) else f"{fallback} {var}"


def normalize_spec(spec, label: str, ndim: int, sizes: dict):
    """The spec as a tuple of entries (``None``, an axis name, or a tuple of names),
    or None for fully replicated; errors name ``label`` and the axis."""
    if spec is None:
        return None
    if isinstance(spec, str):
        raise ShardingError(f"sharding of {label}: give one entry per dimension, e.g. "
                            f"({spec!r},{' None,' * (ndim - 1)}), not the bare name {spec!r}")
    try:
        entries = tuple(spec)
    except TypeError:
        raise ShardingError(f"sharding of {label}: expected a tuple with one entry per "
                            f"dimension (None or mesh axis names), got {spec!r}") from None
    if len(entries) != ndim:
        raise ShardingError(f"sharding of {label}: the spec {entries!r} has {len(entries)} "
                            f"entries but {label} has {ndim} dimension(s); give one entry "
                            "per dimension (None = not split)")
    used: set = set()
    out = []
    for dim, entry in enumerate(entries):
        names = () if entry is None else (entry,) if isinstance(entry, str) else entry
        try:
            names = tuple(names)
        except TypeError:
            names = (entry,)
        for name in names:
            if name not in sizes:
                known = ", ".join(f"{a!r} (size {s})" for a, s in sizes.items())
                raise ShardingError(f"sharding of {label}: dimension {dim} names the axis "
                                    f"{name!r}, which is not an axis of the mesh (its axes: "
                                    f"{known})")
            if name in used:
                raise ShardingError(f"sharding of {label}: the mesh axis {name!r} is used "
                                    "for two dimensions; an axis splits one dimension only")
            used.add(name)
        out.append(None if not names else names[0] if len(names) == 1 else names)
    return tuple(out) if any(e is not None for e in out) else None


def split_factors(spec, sizes: dict) -> list[tuple]:
    """``[(dimension, number of pieces, axis text)]`` for each split dimension."""
    factors = []
    for dim, entry in enumerate(spec or ()):
        if entry is None:
            continue
        names = (entry,) if isinstance(entry, str) else entry
        pieces = 1
        for name in names:
            pieces *= sizes[name]
        text = repr(entry) if isinstance(entry, str) else repr(tuple(names))
        factors.append((dim, pieces, text))
    return factors


def check_divides(label: str, shape, factors) -> None:
    """Raise unless each split dimension of ``shape`` is a multiple of its pieces."""
    for dim, pieces, axis in factors:
        size = shape[dim]
        if size is not None and size % pieces:
            raise ShardingError(f"sharding of {label}: dimension {dim} has size {size}, "
                                f"which mesh axis {axis} (size {pieces}) does not divide; "
                                f"make it a multiple of {pieces} or leave it unsplit (None)")


def sharding_request(mesh, shardings, out_shardings, user_inputs, graph_inputs,
                     shared_vars, outputs) -> ShardingRequest:
    """The per-position request for one function.

    ``user_inputs`` are the input variables as the user gave them (keys of
    ``shardings`` may be these or shared variables), ``graph_inputs`` the graph's
    inputs (the explicit ones as the graph uses them, then ``shared_vars``, the
    shared variables it reads), ``outputs`` the returned variables.  Shared values
    are known now, so their sizes are checked here; explicit inputs are checked here
    when their type fixes the size, else on each call by the backend.
    """
    if mesh is None:
        raise ShardingError("shardings= and out_shardings= place values on a device mesh: "
                            "pass mesh=th.sharding.mesh({...}) as well")
    sizes = axis_sizes(mesh)
    shardings = _as_mapping(shardings, "shardings")
    position = {}
    for k, var in enumerate(user_inputs):
        position[var] = k
    for j, var in enumerate(shared_vars):
        position[var] = len(user_inputs) + j
    all_vars = list(user_inputs) + list(shared_vars)
    labels = [_label(v, "input") for v in user_inputs] + \
        [_label(v, "shared variable") for v in shared_vars]
    specs: list = [None] * len(all_vars)
    for key, spec in shardings.items():
        if not isinstance(key, Variable):
            raise ShardingError(f"shardings: keys must be the function's input or shared "
                                f"variables, got {key!r:.60}")
        if key not in position:
            raise ShardingError(f"shardings: {key} is neither an input of this function nor a "
                                "shared variable its outputs or updates use")
        k = position[key]
        ndim = getattr(graph_inputs[k].type, "ndim", None)
        if ndim is None:
            raise ShardingError(f"sharding of {labels[k]}: only tensors can be sharded "
                                f"(its type is {graph_inputs[k].type})")
        specs[k] = normalize_spec(spec, labels[k], ndim, sizes)
        static = getattr(graph_inputs[k].type, "shape", None)
        if k >= len(user_inputs):
            static = getattr(key.get_value(borrow=True), "shape", static)
        if static is not None:
            check_divides(labels[k], static, split_factors(specs[k], sizes))
    out_specs = _output_specs(out_shardings, outputs, sizes)
    return ShardingRequest(mesh, tuple(specs), tuple(labels), out_specs)


def _as_mapping(shardings, what: str) -> Mapping:
    if shardings is None:
        return {}
    if not isinstance(shardings, Mapping):
        raise ShardingError(f"{what} must be a dict {{variable: spec}}, e.g. "
                            f"{{x: ('data', None)}}; got {type(shardings).__name__}")
    return shardings


def _output_specs(out_shardings, outputs, sizes) -> tuple:
    """One spec (or None) per returned output, from a dict keyed by output variables
    or a list with one entry per output."""
    labels = [_label(v, f"output {k}") if v.name else f"output {k}"
              for k, v in enumerate(outputs)]
    if out_shardings is None:
        return (None,) * len(outputs)
    if isinstance(out_shardings, Mapping):
        given = [None] * len(outputs)
        for key, spec in out_shardings.items():
            matches = [k for k, v in enumerate(outputs) if v is key]
            if not matches:
                raise ShardingError(f"out_shardings: {key} is not an output of this function")
            for k in matches:
                given[k] = spec
    else:
        given = list(out_shardings)
        if len(given) != len(outputs):
            raise ShardingError(f"out_shardings has {len(given)} entries for {len(outputs)} "
                                "output(s): give one spec (or None) per output, or a dict "
                                "{output: spec}")
    return tuple(normalize_spec(spec, label, getattr(v.type, "ndim", 0), sizes)
                 for spec, label, v in zip(given, labels, outputs))


def with_sharding(linker, request: ShardingRequest):
    """The linker placing the function per ``request``, or a clear error for a
    backend that runs on one device."""
    place = getattr(linker, "with_sharding", None)
    if place is None:
        name = getattr(linker, "name", type(linker).__name__)
        raise ShardingError(f"mesh= places a function on several devices, which the {name!r} "
                            "linker does not do: compile it with mode='JAX'")
    return place(request)


__all__ = ["ShardingError", "ShardingRequest", "axis_sizes", "check_divides",
           "normalize_spec", "sharding_request", "split_factors", "with_sharding"]
