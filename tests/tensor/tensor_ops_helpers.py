"""Checks shared by the indexing, join and construction tests.

``run_both`` compiles with the reference ``py`` linker and the default ``vm``;
``check_infer_shape`` compiles an op's ``infer_shape`` and compares it with the
real output shape and with the static shape; ``check_vjp`` compares an op's
``L_op`` with central differences of ``sum(g * f(x))``.
"""

from __future__ import annotations

import numpy as np

import theanine as th
import theanine.tensor as tt
from theanine.tensor.shape import shape_tuple

LINKERS = ("py", "vm")


def run_both(inputs, outputs, values):
    """Outputs of one graph under both linkers (checked equal), from the vm."""
    results = []
    for linker in LINKERS:
        f = th.function(inputs, outputs, mode=th.Mode(linker=linker), on_unused_input="ignore")
        results.append(f(*values))
    ref, got = results
    if isinstance(ref, list):
        assert len(ref) == len(got)
        for r, g in zip(ref, got):
            np.testing.assert_array_equal(r, g)
    else:
        np.testing.assert_array_equal(ref, got)
    return got


def assert_static_shape(var, value):
    """The static shape of ``var`` agrees with the computed ``value``."""
    value = np.asarray(value)
    assert var.ndim == value.ndim, (var.type, value.shape)
    for s, v in zip(var.type.shape, value.shape):
        assert s is None or s == v, (var.type, value.shape)


def check_infer_shape(out, inputs, values, which=None):
    """Compile ``infer_shape`` of ``out``'s node and compare with the real shapes."""
    node = out.owner
    shapes = node.op.infer_shape(None, node, [shape_tuple(i) for i in node.inputs])
    outs = node.outputs if which is None else [node.outputs[which]]
    shapes = shapes if which is None else [shapes[which]]
    real = th.function(inputs, list(outs), on_unused_input="ignore")(*values)
    flat = [tt.as_tensor_variable(d) for shape in shapes for d in shape]
    if flat:
        computed = th.function(inputs, flat, on_unused_input="ignore")(*values)
    else:
        computed = []
    pos = 0
    for var, value, shape in zip(outs, real, shapes):
        got = tuple(int(v) for v in computed[pos:pos + len(shape)])
        pos += len(shape)
        assert got == np.shape(value), (node.op, got, np.shape(value))
        assert_static_shape(var, value)


def numeric_vjp(fn, values, gs, wrt, eps=1e-6):
    """Central differences of ``sum_k <g_k, fn(values)_k>`` w.r.t. ``values[wrt]``."""
    base = [np.array(v, dtype="float64") if i == wrt else np.array(v)
            for i, v in enumerate(values)]
    grad = np.zeros_like(base[wrt])
    flat = grad.reshape(-1)
    for k in range(flat.size):
        total = 0.0
        for sign in (1, -1):
            vals = [v.copy() for v in base]
            vals[wrt].reshape(-1)[k] += sign * eps
            outs = fn(*vals)
            outs = outs if isinstance(outs, list) else [outs]
            total += sign * sum(float(np.sum(g * o)) for g, o in zip(gs, outs))
        flat[k] = total / (2 * eps)
    return grad


def check_vjp(out, inputs, values, wrt, rng, atol=1e-6):
    """``out.owner.op.L_op`` for the inputs ``wrt`` (positions in ``inputs``) vs numbers."""
    node = out.owner
    g_vars = [o.type() for o in node.outputs]
    gs = [rng.normal(size=np.shape(v)) for v in
          th.function(inputs, list(node.outputs), on_unused_input="ignore")(*values)]
    grads = node.op.L_op(node.inputs, node.outputs, g_vars)
    forward = th.function(inputs, list(node.outputs), on_unused_input="ignore")
    for k in wrt:
        pos = node.inputs.index(inputs[k])
        gvar = grads[pos]
        assert gvar is not None, f"no gradient for input {pos} of {node.op}"
        symbolic = th.function(list(inputs) + g_vars, gvar, on_unused_input="ignore")(
            *values, *gs)
        numeric = numeric_vjp(forward, values, gs, k)
        np.testing.assert_allclose(symbolic, numeric, atol=atol, rtol=1e-5)
        assert symbolic.shape == np.shape(values[k])
