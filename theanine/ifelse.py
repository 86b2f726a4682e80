"""Lazy conditionals: ``ifelse(cond, then, else)`` runs only the branch it takes.

``switch`` (``tt.switch``) is elementwise and computes both sides.  ``IfElse``
takes a scalar condition; the default linker places the nodes needed only by
one branch inside that branch's ``if`` block of the generated code, so the
other branch costs nothing.  The ``py`` linker is eager (both branches run) and
only the choice is made by ``perform``.
"""

from __future__ import annotations

import theanine.tensor as tt
from theanine.graph.basic import Apply, Variable, is_in_ancestors
from theanine.graph.op import Op
from theanine.graph.rewriting.basic import Rule
from theanine.graph.rewriting.pipeline import register_rule
from theanine.tensor import basic as tb
from theanine.tensor.type import TensorType


class IfElse(Op):
    """Choose ``n_outs`` values from the then- or else-branch by a scalar condition.

    Inputs: ``[cond, then_0 .. then_{n-1}, else_0 .. else_{n-1}]``.  Outputs are
    the chosen inputs themselves (views), so no data is copied.
    """

    __props__ = ("n_outs", "name")
    lazy = True

    def __init__(self, n_outs: int, name: str | None = None):
        self.n_outs = int(n_outs)
        self.name = name
        self.view_map = {i: [1 + i, 1 + self.n_outs + i] for i in range(self.n_outs)}

    def __str__(self):
        return f"if{{{self.name}}}" if self.name else "if"

    def make_node(self, cond, *branches):
        if len(branches) != 2 * self.n_outs:
            raise TypeError(f"{self}: expected {2 * self.n_outs} branch values, "
                            f"got {len(branches)}")
        cond = _as_condition(cond)
        thens = [tb.as_tensor_variable(v) for v in branches[:self.n_outs]]
        elses = [tb.as_tensor_variable(v) for v in branches[self.n_outs:]]
        outs = []
        for i, (t, e) in enumerate(zip(thens, elses)):
            t, e = _unify_branch_pair(t, e, i)
            thens[i], elses[i] = t, e
            shape = tuple(a if a == b else None for a, b in zip(t.type.shape, e.type.shape))
            outs.append(TensorType(t.dtype, shape)())
        return Apply(self, [cond, *thens, *elses], outs)

    def perform(self, node, inputs, output_storage):
        cond = inputs[0]
        chosen = inputs[1:1 + self.n_outs] if cond else inputs[1 + self.n_outs:]
        for store, value in zip(output_storage, chosen):
            store[0] = value

    def infer_shape(self, fgraph, node, input_shapes):
        n = self.n_outs
        out = []
        for i in range(n):
            t_shape, e_shape = input_shapes[1 + i], input_shapes[1 + n + i]
            static = node.outputs[i].type.shape
            dims = []
            for axis, (a, b) in enumerate(zip(t_shape, e_shape)):
                if static[axis] is not None:
                    dims.append(static[axis])
                elif a is b:
                    dims.append(a)
                else:
                    dims.append(IfElse(1)(node.inputs[0], a, b))
            out.append(tuple(dims))
        return out

    def L_op(self, inputs, outputs, output_grads):
        cond = inputs[0]
        n = self.n_outs
        thens, elses = inputs[1:1 + n], inputs[1 + n:]
        grads_then, grads_else = [], []
        for g, t, e in zip(output_grads, thens, elses):
            zeros_t = _zeros_like(t)
            zeros_e = _zeros_like(e)
            g_t = g if g.type == t.type else _cast_like(g, t)
            g_e = g if g.type == e.type else _cast_like(g, e)
            grads_then.append(IfElse(1)(cond, g_t, zeros_t))
            grads_else.append(IfElse(1)(cond, zeros_e, g_e))
        return [_zeros_like(cond)] + grads_then + grads_else


def _zeros_like(x):
    return tt.zeros_like(x)


def _cast_like(g, ref):
    return tb.cast(g, ref.dtype)


def _as_condition(cond) -> Variable:
    cond = tb.as_tensor_variable(cond)
    if cond.ndim != 0:
        raise TypeError(f"ifelse: the condition must be a scalar, got {cond} with "
                        f"{cond.ndim} dims ({cond.type}); use tt.switch for an elementwise "
                        "condition, or reduce it (e.g. cond.any())")
    if cond.dtype.startswith("complex"):
        raise TypeError(f"ifelse: the condition must be real, got dtype {cond.dtype}")
    return cond


def _unify_branch_pair(t, e, index: int):
    if t.ndim != e.ndim:
        raise TypeError(f"ifelse: output {index} has {t.ndim} dims in the then-branch "
                        f"({t.type}) but {e.ndim} in the else-branch ({e.type})")
    if t.dtype != e.dtype:
        raise TypeError(f"ifelse: output {index} has dtype {t.dtype} in the then-branch but "
                        f"{e.dtype} in the else-branch; cast one of them, e.g. "
                        f"else_value.astype('{t.dtype}')")
    return t, e


def ifelse(condition, then_branch, else_branch, name=None):
    """Lazy ``then_branch if condition else else_branch`` (scalar condition, 0 = false).

    The branches may be single variables or lists of equal length.
    """
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = [else_branch] if not isinstance(else_branch, (list, tuple)) else list(else_branch)
    if len(thens) != len(elses):
        raise ValueError(f"ifelse: the then-branch has {len(thens)} values but the "
                         f"else-branch has {len(elses)}")
    if not thens:
        raise ValueError("ifelse: the branches are empty")
    outs = IfElse(len(thens), name)(condition, *thens, *elses)
    if not isinstance(outs, list):
        outs = [outs]
    return outs[0] if single else outs


# -- rewrites --------------------------------------------------------------------


def _constant_condition(fgraph, node):
    """``ifelse(constant, a, b)`` -> the branch the constant picks."""
    cond = node.inputs[0]
    try:
        value = tb.get_scalar_constant_value(cond)
    except tb.NotScalarConstantError:
        return None
    n = node.op.n_outs
    chosen = node.inputs[1:1 + n] if bool(value) else node.inputs[1 + n:]
    return [_retype(c, o) for c, o in zip(chosen, node.outputs)]


def _identical_branches(fgraph, node):
    """``ifelse(c, a, a)`` -> ``a``."""
    n = node.op.n_outs
    thens, elses = node.inputs[1:1 + n], node.inputs[1 + n:]
    if all(t is e for t, e in zip(thens, elses)):
        return [_retype(t, o) for t, o in zip(thens, node.outputs)]
    return None


def _retype(value, out):
    if value.type == out.type:
        return value
    conv = out.type.convert_variable(value)
    return conv


def _merge_same_condition(fgraph, node):
    """Two ifelses on the same condition become one with more outputs."""
    cond = node.inputs[0]
    for client, pos in list(fgraph.clients.get(cond, ())):
        if client == "output" or client is node or pos != 0 \
                or not isinstance(client.op, IfElse) or client.op.name != node.op.name:
            continue
        if _depends_on(client, node) or _depends_on(node, client):
            continue
        n1, n2 = node.op.n_outs, client.op.n_outs
        merged = IfElse(n1 + n2, node.op.name).make_node(
            cond, *node.inputs[1:1 + n1], *client.inputs[1:1 + n2],
            *node.inputs[1 + n1:], *client.inputs[1 + n2:])
        pairs = {o: _retype(m, o) for o, m in zip(node.outputs, merged.outputs[:n1])}
        pairs.update({o: _retype(m, o) for o, m in zip(client.outputs, merged.outputs[n1:])})
        if any(v is None for v in pairs.values()):
            return None
        return pairs
    return None


def _depends_on(a, b) -> bool:
    return is_in_ancestors(a, b)


register_rule("canonicalize", Rule(_constant_condition, [IfElse], "ifelse_constant_condition"))
register_rule("canonicalize", Rule(_identical_branches, [IfElse], "ifelse_identical_branches"))
register_rule("specialize", Rule(_merge_same_condition, [IfElse], "ifelse_merge_same_condition"))
