"""``nonzero``: the indices of the non-zero entries, one int64 vector per axis."""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import CAReduce
from theanine.tensor.type import TensorType


class Nonzero(Op):
    """``np.nonzero(x)``: ``x.ndim`` int64 vectors of equal (data-dependent) length."""

    def make_node(self, x):
        x = tb.as_tensor_variable(x)
        if x.ndim == 0:
            raise ValueError(f"nonzero: {x} is 0-d; use nonzero(x.reshape((1,)))")
        return Apply(self, [x], [TensorType("int64", (None,))() for _ in range(x.ndim)])

    def perform(self, node, inputs, output_storage):
        for store, idx in zip(output_storage, np.nonzero(inputs[0])):
            store[0] = idx.astype("int64", copy=False)

    def infer_shape(self, fgraph, node, input_shapes):
        x = node.inputs[0]
        count = CAReduce("sum")(tb.cast(tb.cast(x, "bool"), "int64"))
        return [(count,)] * x.ndim

    def connection_pattern(self, node):
        return [[False] * len(node.outputs)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]


_nonzero = Nonzero()


def nonzero(x, return_matrix=False):
    """A tuple of index vectors, like ``np.nonzero``; a stacked matrix if asked."""
    x = tb.as_tensor_variable(x)
    outs = _nonzero(x)
    outs = tuple(outs) if isinstance(outs, (list, tuple)) else (outs,)
    if return_matrix:
        return tb.as_tensor_variable(list(outs)) if len(outs) > 1 else \
            outs[0].dimshuffle("x", 0)
    return outs


def flatnonzero(x):
    """Indices of the non-zero entries of the flattened ``x``."""
    x = tb.as_tensor_variable(x)
    return nonzero(x.reshape((-1,)) if x.ndim != 1 else x)[0]


__all__ = ["Nonzero", "nonzero", "flatnonzero"]
