"""``jacobian`` and ``hessian``: one vector-Jacobian product per output element.

The number of rows is only known at run time, so the rows are computed by
``JacobianLoop``: an op whose ``perform`` evaluates the symbolic ``Lop`` graph once
per element of the expression with a one-hot cotangent.  (When the loop op
``scan`` exists this can become a scan; the interface stays.)
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, graph_inputs
from theanine.graph.null_type import grad_not_implemented
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor.gradient.core import Lop, _as_list, _check_wrt, grad
from theanine.tensor.gradient.interp import evaluate
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType


class JacobianLoop(Op):
    """Outputs ``d expression / d wrt[k]`` of shape ``expression.shape + wrt[k].shape``.

    The node's inputs are the free variables of the inner graph (inputs and shared
    variables), so the op is an ordinary node for the compiler.
    """

    __props__ = ("expression", "wrt", "consider_constant")

    def __init__(self, expression, wrt, consider_constant=()):
        self.expression = expression
        self.wrt = tuple(wrt)
        self.consider_constant = tuple(consider_constant)
        self._cotangent = expression.type()
        self._vjps = Lop(expression, list(self.wrt), self._cotangent,
                         consider_constant=list(consider_constant),
                         disconnected_inputs="ignore")
        self._free = [v for v in graph_inputs([expression] + self._vjps)
                      if not isinstance(v, Constant) and v is not self._cotangent]

    def __str__(self):
        return f"JacobianLoop{{{self.expression} by {', '.join(map(str, self.wrt))}}}"

    def make_node(self, *free):
        if list(free) != self._free:
            raise ValueError(f"{self}: inputs must be the inner graph's free variables")
        outs = [TensorType(w.dtype, self.expression.type.shape + w.type.shape)()
                for w in self.wrt]
        return Apply(self, list(free), outs)

    def perform(self, node, inputs, output_storage):
        values = dict(zip(self._free, inputs))
        y = np.asarray(evaluate(self.expression, values))
        wrt_values = [np.asarray(v) for v in evaluate(list(self.wrt), values)]
        rows = [np.zeros((y.size,) + w.shape, dtype=out.dtype)
                for w, out in zip(wrt_values, node.outputs)]
        onehot = np.zeros(y.shape, dtype=y.dtype)
        flat = onehot.reshape(-1)
        for i in range(y.size):
            flat[i] = 1
            values[self._cotangent] = onehot
            for k, g in enumerate(evaluate(self._vjps, values)):
                rows[k][i] = g
            flat[i] = 0
        for store, r, w in zip(output_storage, rows, wrt_values):
            store[0] = r.reshape(y.shape + w.shape)

    def infer_shape(self, fgraph, node, input_shapes):
        ys = tuple(shape_i(self.expression, a) for a in range(self.expression.ndim))
        return [ys + tuple(shape_i(w, a) for a in range(w.ndim)) for w in self.wrt]

    def L_op(self, inputs, outputs, output_grads):
        return [grad_not_implemented(self, i, x, "differentiate the expression before taking "
                                     "its jacobian") for i, x in enumerate(inputs)]


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The Jacobian of ``expression`` with respect to ``wrt`` (one variable or a list).

    Result ``k`` has shape ``expression.shape + wrt[k].shape``; a scalar
    expression gives the gradient.
    """
    expression = tb.as_tensor_variable(expression)
    single = not isinstance(wrt, (list, tuple))
    wrts = _as_list(wrt)
    _check_wrt(wrts)
    if expression.ndim == 0:
        out = grad(expression, wrts, consider_constant=consider_constant,
                   disconnected_inputs=disconnected_inputs)
        return out[0] if single else out
    if disconnected_inputs != "ignore":
        grad(None, wrts, consider_constant=consider_constant,
             disconnected_inputs=disconnected_inputs,
             known_grads={expression: expression.type()})
    op = JacobianLoop(expression, wrts, consider_constant or ())
    outs = op(*op._free)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return outs[0] if single else outs


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The matrix of second derivatives of a scalar ``cost`` (one per ``wrt``).

    For a ``wrt`` of shape ``s`` the result has shape ``s + s``.
    """
    cost = tb.as_tensor_variable(cost)
    single = not isinstance(wrt, (list, tuple))
    wrts = _as_list(wrt)
    grads = grad(cost, wrts, consider_constant=consider_constant,
                 disconnected_inputs=disconnected_inputs)
    out = [jacobian(g, w, consider_constant=consider_constant,
                    disconnected_inputs=disconnected_inputs)
           for g, w in zip(grads, wrts)]
    return out[0] if single else out
