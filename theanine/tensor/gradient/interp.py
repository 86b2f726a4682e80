"""A small reference interpreter: run a graph node by node with each op's ``perform``.

Used by ``verify_grad`` (finite differences need many cheap evaluations and the
reference semantics) and by ``JacobianLoop`` at run time; it keeps this package
below the compile layer.
"""

from __future__ import annotations

from theanine.graph.basic import Constant, io_toposort
from theanine.graph.shared import SharedVariable


def _value_of(var, env: dict, node=None):
    """Data of ``var`` (an input of ``node``, or an output when ``node`` is None): computed
    or given (``env``), a constant's, or a shared variable's."""
    if id(var) in env:
        return env[id(var)]
    if isinstance(var, Constant):
        return var.data
    if isinstance(var, SharedVariable):
        return var.container[0]
    what = f"output {var}" if node is None else f"input {var} of {node.op}"
    raise ValueError(f"evaluate: no value for {what}")


def evaluate(outputs, values: dict):
    """Evaluate ``outputs`` with each node's ``perform``; ``values`` maps inputs to data."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    env = {id(k): v for k, v in values.items()}
    for node in io_toposort(list(values), outs):
        args = [_value_of(inp, env, node) for inp in node.inputs]
        storage = [[None] for _ in node.outputs]
        node.op.perform(node, args, storage)
        for out, cell in zip(node.outputs, storage):
            env[id(out)] = cell[0]
    result = [_value_of(o, env) for o in outs]
    return result if isinstance(outputs, (list, tuple)) else result[0]
