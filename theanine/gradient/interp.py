"""A small reference interpreter: run a graph node by node with each op's ``perform``.

Used by ``verify_grad`` (finite differences need many cheap evaluations and the
reference semantics) and by ``JacobianLoop`` at run time; it keeps this package
below the compile layer.
"""

from __future__ import annotations

from theanine.graph.basic import Constant, io_toposort
from theanine.graph.shared import SharedVariable


def evaluate(outputs, values: dict):
    """Evaluate ``outputs`` with each node's ``perform``; ``values`` maps inputs to data."""
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    env = {id(k): v for k, v in values.items()}
    for node in io_toposort(list(values), outs):
        args = []
        for inp in node.inputs:
            if id(inp) in env:
                args.append(env[id(inp)])
            elif isinstance(inp, Constant):
                args.append(inp.data)
            elif isinstance(inp, SharedVariable):
                args.append(inp.container[0])
            else:
                raise ValueError(f"evaluate: no value for input {inp} of {node.op}")
        storage = [[None] for _ in node.outputs]
        node.op.perform(node, args, storage)
        for out, cell in zip(node.outputs, storage):
            env[id(out)] = cell[0]
    result = []
    for o in outs:
        if id(o) in env:
            result.append(env[id(o)])
        elif isinstance(o, Constant):
            result.append(o.data)
        elif isinstance(o, SharedVariable):
            result.append(o.container[0])
        else:
            raise ValueError(f"evaluate: no value for output {o}")
    return result if isinstance(outputs, (list, tuple)) else result[0]
