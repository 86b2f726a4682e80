"""``FusedReduce``: a reduction of a fused elementwise expression in one op.

``FusedReduce(composite, "sum", axis)(x, y)`` means
``CAReduce("sum", axis)(Elemwise(composite)(x, y))``; a kernel engine computes it
in one loop without materialising the elementwise result.  ``perform`` is the
NumPy meaning (it does materialise it).  Made only by the fusion pass.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.tensor.elemwise import CAReduce, Elemwise, normalize_axis


class FusedReduce(Op):
    """Reduce (``kind`` over ``axis``) the single output of ``scalar_op`` broadcast."""

    __props__ = ("scalar_op", "kind", "axis")

    def __init__(self, scalar_op, kind: str, axis=None):
        if scalar_op.nout != 1:
            raise ValueError(f"FusedReduce needs a single-output scalar op, got {scalar_op}")
        self.scalar_op = scalar_op
        self.kind = kind
        self.axis = None if axis is None else tuple(axis)
        self.reducer = CAReduce(kind, self.axis)

    def __str__(self):
        return f"{self.reducer}{{{self.scalar_op}}}"

    def make_node(self, *inputs):
        elem = Elemwise(self.scalar_op).make_node(*inputs)
        red = self.reducer.make_node(elem.outputs[0])
        return Apply(self, list(elem.inputs), [red.outputs[0].type()])

    def perform(self, node, inputs, output_storage):
        value = np.asarray(self.scalar_op.impl(*inputs))
        ndim = max(i.ndim for i in node.inputs)
        full = np.broadcast_shapes(*(np.shape(i) for i in inputs))
        if value.shape != full:
            value = np.broadcast_to(value, full)
        axis = normalize_axis(self.axis, ndim)
        out = self.reducer.fn(value, axis=axis)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def L_op(self, inputs, outputs, output_grads):
        """The chain rule through the reduction, then through the elementwise op."""
        elem_node = Elemwise(self.scalar_op).make_node(*inputs)
        elem = elem_node.outputs[0]
        red_node = self.reducer.make_node(elem)
        (g_elem,) = red_node.op.L_op([elem], red_node.outputs, output_grads)
        return elem_node.op.L_op(elem_node.inputs, [elem], [g_elem])

    def infer_shape(self, fgraph, node, input_shapes):
        elem = Elemwise(self.scalar_op).make_node(*node.inputs)
        (shape,) = elem.op.infer_shape(fgraph, elem, input_shapes)
        axis = normalize_axis(self.axis, len(shape))
        return [tuple(s for i, s in enumerate(shape) if i not in axis)]
