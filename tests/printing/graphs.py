"""Fixed graphs the printing tests look at: the tutorial's logistic regression and a
small op with inner graphs (standing in for fused kernels, ifelse and scan)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.graph.basic import Apply
from theanine.graph.op import Op
from theanine.ifelse import ifelse
from theanine.scalar import basic as ts
from theanine.tensor.elemwise import Elemwise


def logreg(feats: int = 3) -> SimpleNamespace:
    """The tutorial's logistic regression, ``train`` with ``th.grad``'s gradients."""
    rng = np.random.default_rng(0)
    x = tt.matrix("x")
    y = tt.vector("y")
    w = th.shared(rng.standard_normal(feats), name="w")
    b = th.shared(0.0, name="b")
    p_1 = 1 / (1 + tt.exp(-tt.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * tt.log(p_1) - (1 - y) * tt.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = th.grad(cost, [w, b])
    predict = th.function([x], prediction, name="predict")
    train = th.function([x, y], [prediction, xent], name="train",
                        updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    return SimpleNamespace(x=x, y=y, w=w, b=b, p_1=p_1, prediction=prediction, xent=xent,
                           predict=predict, train=train)


def scan_pow_function():
    """The tutorial's ``A ** k`` by repeated multiplication with ``scan``, compiled."""
    k = tt.iscalar("k")
    A = tt.vector("A")
    result, updates = th.scan(fn=lambda prior_result, A: prior_result * A,
                              outputs_info=tt.ones_like(A), non_sequences=A, n_steps=k)
    return th.function(inputs=[A, k], outputs=result[-1], updates=updates, name="power")


def scan_poly_function():
    """The tutorial's polynomial: a map over coefficients and powers, then a sum.
    Compiled, the loop is gone (per-step elementwise work is pushed out of scan)."""
    coefficients = tt.vector("coefficients")
    x = tt.scalar("x")
    components, updates = th.scan(fn=lambda coeff, power, free_var: coeff * (free_var ** power),
                                  outputs_info=None,
                                  sequences=[coefficients, tt.arange(10000)],
                                  non_sequences=x)
    return th.function(inputs=[coefficients, x], outputs=components.sum(),
                       name="calculate_polynomial")


def lazy_ifelse_function():
    """The tutorial's ``f_lazyifelse``: only the mean of the chosen matrix is computed."""
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    z_lazy = ifelse(tt.lt(a, b), tt.mean(x), tt.mean(y))
    return th.function([a, b, x, y], z_lazy, mode=th.Mode(linker="vm"), name="f_lazyifelse")


def _scalar_inputs(n: int):
    return [ts.get_scalar_type("float64")() for _ in range(n)]


class ScalarKernel(ts.ScalarOp):
    """A fused-kernel-like scalar op: ``exp(-i0) + i1 * i1``, with its inner graph."""

    nin = 2
    kernel_name = "kernel"

    @staticmethod
    def nfunc(a, b):
        return np.exp(-np.asarray(a)) + np.asarray(b) * b

    def inner_graphs(self):
        i0, i1 = _scalar_inputs(2)
        out = ts.add(ts.exp(ts.neg(i0)), ts.mul(i1, i1))
        return [([i0, i1], [out])]


kernel = Elemwise(ScalarKernel())


class Branch(Op):
    """An ifelse-like op: ``then`` or ``else`` inner graph applied to ``x`` by ``cond``.

    Its inner graphs have named inputs and titles, and the ``then`` branch holds a
    fused kernel (an inner graph inside an inner graph).
    """

    def make_node(self, cond, x):
        cond, x = tt.as_tensor_variable(cond), tt.as_tensor_variable(x)
        return Apply(self, [cond, x], [x.type()])

    def inner_graphs(self):
        a = tt.vector("x_inner")
        b = tt.vector()
        return [("then branch", [a], [kernel(a, a) * 2]),
                ("else branch", [b], [tt.exp(b)])]

    def perform(self, node, inputs, output_storage):
        cond, x = inputs
        out = (np.exp(-x) + x * x) * 2 if cond else np.exp(x)
        output_storage[0][0] = np.asarray(out, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [input_shapes[1]]


def inner_graph_example():
    """``Branch`` and a fused kernel in one graph."""
    c = tt.scalar("c", dtype="bool")
    x = tt.vector("x")
    return Branch()(c, kernel(x, x + 1))
