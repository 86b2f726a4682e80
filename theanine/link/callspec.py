"""What a compiled function's entry point does around the graph.

A ``CallSpec`` says which graph inputs are user arguments (with names, defaults
and types) and which are shared variables, which graph outputs are returned and
which are written back into shared containers.  ``entry_source`` writes the
prologue (argument checks) and epilogue (copies, updates) that every linker
wraps around its body, so that all linkers behave the same at the boundary.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field, replace

import numpy as np

from theanine.graph.basic import Constant


@dataclass
class ArgSpec:
    name: str | None          # user-facing name (keyword) or None
    type: object
    default: object = None
    has_default: bool = False
    allow_downcast: bool | None = None
    mutable: bool = False
    borrow: bool = False


@dataclass
class CallSpec:
    args: list[ArgSpec]
    # for each fgraph input: ("arg", k) or ("shared", container)
    input_sources: list[tuple]
    n_outputs: int
    copy_outputs: list[bool]
    update_containers: list           # fgraph.outputs[n_outputs + j] -> container
    copy_updates: list[bool] = field(default_factory=list)
    return_list: bool = False
    check_inputs: bool = True         # False: ``trust_input``, arguments used as given
    # per input source: a shared value this backend needs as a NumPy array (another
    # backend, e.g. JAX, may have left a device array in the container)
    host_shared: list = field(default_factory=list)
    # array types taken as they are besides ndarray (a device backend's arrays)
    array_types: tuple = ()
    fn_name: str = "fn"


def to_host(container):
    """A shared container's value as a writeable NumPy array, kept there (a device
    backend leaves its arrays in the container; NumPy engines need host memory)."""
    value = np.array(container[0])
    container[0] = value
    return value


class HostCopy:
    """A shared container read as a fresh host copy and never written."""

    def __init__(self, container):
        self.container = container

    def __getitem__(self, index):
        return np.array(self.container[index])


def side_run_spec(spec: CallSpec) -> CallSpec:
    """``spec`` for a run beside the real call (a profile's guide, a trial of another
    engine): the same arguments, shared values read as host copies, no update written,
    so the real call's shared state is left alone."""
    sources = [(kind, HostCopy(src)) if kind == "shared" else (kind, src)
               for kind, src in spec.input_sources]
    return replace(spec, input_sources=sources, update_containers=[], copy_updates=[],
                   host_shared=[], array_types=())


def identifier(name: str | None, fallback: str, taken: set) -> str:
    """A safe Python identifier for a user name (keyword use needs a valid one)."""
    if name and name.isidentifier() and not keyword.iskeyword(name) and name not in taken \
            and not name.startswith("_"):
        taken.add(name)
        return name
    taken.add(fallback)
    return fallback


def make_filter(arg: ArgSpec, position: int):
    """The slow-path converter of one argument, with errors naming it."""
    label = f"argument {position}" + (f" ({arg.name!r})" if arg.name else "")

    def filter_arg(value):
        try:
            return arg.type.filter(value, strict=False, allow_downcast=arg.allow_downcast)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"bad {label}: {exc}") from None

    return filter_arg


def fast_check(var_name: str, arg: ArgSpec, ns: dict, position: int,
               array_types: tuple = ()) -> str:
    """An expression true when the value can be used as is (no conversion)."""
    ttype = arg.type
    dtype = getattr(ttype, "dtype", None)
    shape = getattr(ttype, "shape", None)
    if dtype is None or shape is None:
        return "False"
    ns[f"_dt{position}"] = np.dtype(dtype)
    kind = f"type({var_name}) is _ndarray"
    if array_types:
        ns["_array_types"] = array_types
        kind = f"({kind} or isinstance({var_name}, _array_types))"
    parts = [kind, f"{var_name}.dtype is _dt{position}", f"{var_name}.ndim == {len(shape)}"]
    for axis, size in enumerate(shape):
        if size is not None:
            parts.append(f"{var_name}.shape[{axis}] == {size}")
    return " and ".join(parts)


def _python_float_exact(arg: ArgSpec) -> bool:
    """A 0-d float64 argument, which a Python float converts to without loss."""
    return getattr(arg.type, "dtype", None) == "float64" and getattr(arg.type, "shape", None) == ()


def argument_locals(spec: CallSpec) -> list[str]:
    """The Python parameter names of the entry function, one per user argument."""
    taken: set[str] = set()
    return [identifier(arg.name, f"_a{k}", taken) for k, arg in enumerate(spec.args)]


def entry_source(spec: CallSpec, input_names: list[str], ns: dict, body: list[str],
                 output_names: list[str], indent: str = "    ") -> tuple[str, list[str]]:
    """Return ``(def_line, lines)`` of an entry function around ``body``.

    ``input_names`` are the local names the body reads for each fgraph input;
    ``output_names`` the local names holding each fgraph output after the body.
    """
    ns["_ndarray"] = np.ndarray
    ns["_copy"] = np.array
    params = []
    arg_locals = argument_locals(spec)
    for k, (arg, local) in enumerate(zip(spec.args, arg_locals)):
        if arg.has_default:
            ns[f"_default{k}"] = arg.default
            params.append(f"{local}=_default{k}")
        else:
            params.append(local)
    lines = []
    for k, (arg, local) in enumerate(zip(spec.args, arg_locals)):
        if not spec.check_inputs:
            break
        ns[f"_filter{k}"] = make_filter(arg, k)
        check = fast_check(local, arg, ns, k, spec.array_types)
        convert = f"_filter{k}({local})"
        if _python_float_exact(arg):
            # a Python float is a float64 scalar as is: one array call, no filter
            ns[f"_scalar{k}"] = np.array
            convert = f"_scalar{k}({local}) if type({local}) is float else {convert}"
        if check == "False":
            lines.append(f"{local} = {convert}")
        else:
            lines.append(f"if not ({check}):")
            lines.append(f"    {local} = {convert}")
    for pos, (source, name) in enumerate(zip(spec.input_sources, input_names)):
        if source[0] == "arg":
            if name != arg_locals[source[1]]:
                lines.append(f"{name} = {arg_locals[source[1]]}")
        else:
            ns[f"_shared{pos}"] = source[1]
            lines.append(f"{name} = _shared{pos}[0]")
            if spec.host_shared and spec.host_shared[pos]:
                ns["_to_host"] = to_host
                lines.append(f"if type({name}) is not _ndarray:")
                lines.append(f"    {name} = _to_host(_shared{pos})")
    lines.extend(body)
    results = []
    for i in range(spec.n_outputs):
        name = output_names[i]
        results.append(f"_copy({name})" if spec.copy_outputs[i] else name)
    if spec.n_outputs and (spec.update_containers or spec.return_list):
        lines.append(f"_results = ({', '.join(results)},)")
    for j, container in enumerate(spec.update_containers):
        ns[f"_update{j}"] = container
        value = output_names[spec.n_outputs + j]
        if spec.copy_updates and spec.copy_updates[j]:
            value = f"_copy({value})"
        lines.append(f"_update{j}[0] = {value}")
    if spec.return_list:
        lines.append("return list(_results)" if spec.n_outputs else "return []")
    elif spec.n_outputs == 1:
        lines.append("return _results[0]" if spec.update_containers else f"return {results[0]}")
    else:
        lines.append("return None")
    def_line = f"def {spec.fn_name}({', '.join(params)}):"
    return def_line, [indent + line for line in lines]


def alias_roots(fgraph, var) -> set:
    """The graph inputs and constants whose memory ``var`` may share (via view_map)."""
    roots, stack, seen = set(), [var], set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v.owner is None:
            roots.add(v)
            continue
        op = v.owner.op
        for out_idx, in_idxs in list(op.view_map.items()) + list(op.destroy_map.items()):
            if v.owner.outputs[out_idx] is v:
                stack.extend(v.owner.inputs[i] for i in in_idxs)
    return roots


def output_copy_flags(fgraph, n_outputs: int, borrow: list[bool],
                      update_containers=()) -> tuple[list, list]:
    """Which outputs / update values must be copied so none aliases stored memory.

    An output is copied (unless borrowed) when it may share memory with an input,
    a shared value, a constant, an update or an earlier output.  An update value
    is copied when it may share memory with anything but its own shared value.
    """
    copy_out = []
    seen_roots: set = set()
    update_vals = fgraph.outputs[n_outputs:]
    update_roots = set()
    for var in update_vals:
        update_roots |= alias_roots(fgraph, var) | {var}
    for i in range(n_outputs):
        var = fgraph.outputs[i]
        roots = alias_roots(fgraph, var)
        stored = any(r.owner is None for r in roots) or var in update_roots
        clash = bool((roots | {var}) & seen_roots)
        copy_out.append(not borrow[i] and (stored or clash or isinstance(var, Constant)))
        seen_roots |= roots | {var}
    copy_upd = []
    seen_upd: set = set()
    for var, container in zip(update_vals, update_containers):
        roots = alias_roots(fgraph, var)
        foreign = [r for r in roots if r.owner is None
                   and getattr(r, "container", None) is not container]
        clash = bool((roots | {var}) & seen_upd)
        copy_upd.append(bool(foreign) or clash or isinstance(var, Constant))
        seen_upd |= roots | {var}
    return copy_out, copy_upd
