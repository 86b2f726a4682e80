"""Fast thunks for indexing, joining and construction ops.

Basic indexing is the hot one: instead of rebuilding the index tuple in
``perform`` on every call, the thunk is a small generated function with the
constant parts of the index written into its source, e.g.
``def subtensor(x, i0): return x[2, i0:]``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.link.python.dispatch import perform_thunk, python_funcify
from theanine.tensor.alloc import Alloc
from theanine.tensor.indexing import format_index
from theanine.tensor.join import Join
from theanine.tensor.shape import ShapeI
from theanine.tensor.subtensor import AdvancedSubtensor, IncSubtensor, Subtensor, index_error


def _index_source(idx_list) -> tuple[str, list[str]]:
    """The Python text of an index and the parameter names of its inputs."""
    params: list[str] = []
    parts = []

    def take():
        name = f"i{len(params)}"
        params.append(name)
        return name

    for e in idx_list:
        if type(e) is int:
            parts.append(repr(e))
        elif e == "i":
            parts.append(f"_int({take()})")
        elif type(e) is str:
            parts.append(take())
        else:
            comps = ["" if c is None else f"_int({take()})" if c == "i" else repr(c)
                     for c in e[1:]]
            parts.append(":".join(comps))
    if not parts:
        return "()", params
    return ", ".join(parts) + ("," if len(parts) == 1 else ""), params


def _compile_indexer(op, node, name: str, wrap_scalar: bool):
    index_text, params = _index_source(op.idx_list)
    result = f"_asarray(x[{index_text}])" if wrap_scalar else f"x[{index_text}]"
    src = (f"def {name}(x, {', '.join(params)}):\n"
           f"    try:\n"
           f"        return {result}\n"
           f"    except IndexError as exc:\n"
           f"        raise _index_error(exc, x, _idx_list, ({', '.join(params)}"
           f"{',' if len(params) == 1 else ''})) from None\n")
    ns = {"_int": int, "_asarray": np.asarray, "_index_error": index_error,
          "_idx_list": op.idx_list}
    exec(compile(src, f"<{name} {format_index(op.idx_list)}>", "exec"), ns)
    return ns[name]


@python_funcify.register(Subtensor)
def _subtensor(op, node):
    return _compile_indexer(op, node, "subtensor", node.outputs[0].ndim == 0)


@python_funcify.register(AdvancedSubtensor)
def _advanced_subtensor(op, node):
    return _compile_indexer(op, node, "advanced_subtensor", True)


@python_funcify.register(IncSubtensor)
def _inc_subtensor(op, node):
    index_text, params = _index_source(op.idx_list)
    write = "=" if op.set_instead_of_inc else "+="
    src = (f"def inc_subtensor(x, y, {', '.join(params)}):\n"
           f"    out = {'x' if op.inplace else 'x.copy()'}\n"
           f"    try:\n"
           f"        out[{index_text}] {write} y\n"
           f"    except IndexError as exc:\n"
           f"        raise _index_error(exc, x, _idx_list, ({', '.join(params)}"
           f"{',' if len(params) == 1 else ''})) from None\n"
           f"    return out\n")
    ns = {"_int": int, "_index_error": index_error, "_idx_list": op.idx_list}
    exec(compile(src, f"<inc_subtensor {format_index(op.idx_list)}>", "exec"), ns)
    return ns["inc_subtensor"]


@python_funcify.register(Alloc)
def _alloc(op, node):
    dtype = np.dtype(node.outputs[0].dtype)
    if node.inputs[0].ndim:
        return perform_thunk(op, node)

    value = node.inputs[0]
    if isinstance(value, Constant) and not np.any(value.data):
        def alloc_zeros(value, *shape):
            return np.zeros(tuple(map(int, shape)), dtype=dtype)
        return alloc_zeros

    def alloc(value, *shape):
        return np.full(tuple(map(int, shape)), value, dtype=dtype)

    return alloc


@python_funcify.register(ShapeI)
def _shape_i(op, node):
    i = op.i
    int64 = np.int64

    def shape_i(x):
        return np.array(x.shape[i], dtype=int64)

    return shape_i


@python_funcify.register(Join)
def _join(op, node):
    axis = op.axis

    def join(*arrays):
        return np.concatenate(arrays, axis=axis)

    if all(i.dtype == node.outputs[0].dtype for i in node.inputs):
        return join
    return perform_thunk(op, node)
