"""``Print``: an identity op that prints its value when the function runs (Theano's
``theano.printing.Print``), for looking at intermediate values without changing
what is computed.

``Print(message, attrs=("__str__",))(x)`` returns ``x``; each run prints
``message`` followed by ``attr = value`` for each attribute name (``__str__`` is the
value itself; ``shape``, ``dtype``, ``min``... are read from the array, called when
they are methods).  Its gradient passes through.  Rewrites never remove it, and
it is never fused or made in place, so it prints on every engine.
"""

from __future__ import annotations

import sys

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.tensor import basic as tb


class Print(Op):
    """Print ``message`` and ``attrs`` of the value, return the value (a view)."""

    __props__ = ("message", "attrs", "global_fn")
    view_map = {0: [0]}

    def __init__(self, message: str = "", attrs=("__str__",), global_fn=None):
        self.message = str(message)
        self.attrs = tuple(attrs)
        self.global_fn = global_fn

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def describe(self, value) -> str:
        """The line printed for ``value``."""
        parts = []
        for attr in self.attrs:
            item = value if attr == "__str__" else getattr(value, attr)
            parts.append(f"{attr} = {item() if callable(item) else item}")
        return f"{self.message} {' '.join(parts)}".strip()

    def perform(self, node, inputs, output_storage):
        value = np.asarray(inputs[0])
        if self.global_fn is not None:
            self.global_fn(self, value)
        else:
            print(self.describe(value), file=sys.stdout)
        output_storage[0][0] = inputs[0]

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]

    def __str__(self):
        return f"Print{{{self.message}}}"


__all__ = ["Print"]
