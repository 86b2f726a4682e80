"""Reverse-mode differentiation over the graph: ``grad``, ``Lop``, ``Rop``.

``grad`` walks the Apply nodes between the ``wrt`` variables and the cost in
reverse topological order and asks each op for its vector-Jacobian product
(``op.L_op(inputs, outputs, output_grads)``).  Only nodes on a path from a
``wrt`` to the cost are visited.  Terms reaching one variable are added.  The
result is an ordinary graph, so gradients of gradients work the same way.
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.config import config
from theanine.graph.basic import Variable, clone_replace, io_toposort
from theanine.graph.null_type import (
    DisconnectedType,
    NullType,
    disconnected_type,
    is_disconnected,
    is_null,
)
from theanine.graph.utils import capture_user_trace, collector_paused, inherit_trace
from theanine.scalar.basic import CONTINUOUS_DTYPES, DISCRETE_DTYPES, ScalarType
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import filled_like
from theanine.tensor.gradient.stabilize import stable_cost
from theanine.tensor.type import TensorType


class DisconnectedInputError(ValueError):
    """A ``wrt`` variable does not influence the cost (``disconnected_inputs='raise'``)."""


class NullTypeGradError(TypeError):
    """A requested gradient needs an undefined or unimplemented gradient."""


_DISCONNECTED_CHOICES = ("raise", "warn", "ignore")
_RETURN_CHOICES = ("zero", "none", "disconnected")


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_wrt(wrt, allow_discrete=False):
    for pos, var in enumerate(wrt):
        if not isinstance(var, Variable):
            raise TypeError(f"grad: wrt[{pos}] must be a symbolic Variable, got "
                            f"{type(var).__name__} {var!r:.40}")
        if isinstance(var.type, (NullType, DisconnectedType)):
            raise TypeError(f"grad: wrt[{pos}] ({var}) is a gradient marker, not a value")
        dtype = getattr(var.type, "dtype", None)
        if not allow_discrete and dtype in DISCRETE_DTYPES:
            raise TypeError(f"grad: cannot differentiate with respect to {var} of integer/bool "
                            f"dtype {dtype}; only float variables have gradients (cast it "
                            "to a float type in the graph)")


def _seed_for(cost):
    dtype = cost.dtype if cost.dtype in CONTINUOUS_DTYPES else config.floatX
    return tb.constant(np.ones((), dtype=dtype))


def _zeros_like(var):
    """Zeros of ``var``'s type; a disconnected marker for non-numeric types (rng states)."""
    if isinstance(var.type, ScalarType):
        return tb.scalar_from_tensor(tb.constant(np.zeros((), dtype=var.type.dtype)))
    if isinstance(var.type, TensorType):
        return filled_like(var, 0)
    return disconnected_type()


def _depends_on_wrt(nodes, wrt, blockers) -> set:
    """Ids of variables whose value depends on a ``wrt`` through connected inputs."""
    reached = {id(v) for v in wrt if v not in blockers}
    for node in nodes:
        pattern = node.op.connection_pattern(node)
        for j, out in enumerate(node.outputs):
            if out in blockers:
                continue
            if any(id(inp) in reached and pattern[i][j] for i, inp in enumerate(node.inputs)):
                reached.add(id(out))
    return reached


def _sum_terms(terms):
    for t in terms:
        if is_null(t):
            return t
    total = terms[0]
    for t in terms[1:]:
        total = tm.add(total, t)
    return total


def _conform(node, pos, inp, g):
    """Check an op's returned gradient and give it the input's dtype."""
    if not isinstance(g, Variable):
        raise TypeError(f"{node.op}.L_op returned {g!r:.40} for input {pos} ({inp}); expected "
                        "a Variable (use disconnected_type() or grad_undefined(...))")
    if is_null(g) or is_disconnected(g):
        return g
    if isinstance(inp.type, TensorType):
        if not isinstance(g.type, TensorType) or g.ndim != inp.ndim:
            raise TypeError(f"{node.op}.L_op: gradient of input {pos} ({inp}, {inp.type}) has "
                            f"type {g.type}; expected a tensor with {inp.ndim} dims")
        if inp.dtype in CONTINUOUS_DTYPES and g.dtype != inp.dtype:
            g = tb.cast(g, inp.dtype)
    return g


def _vjp(node, gouts):
    if type(node.op).__module__.startswith("theanine."):
        return node.op.L_op(list(node.inputs), list(node.outputs), gouts)
    with inherit_trace(None):      # a user's own op: its gradient nodes take its lines
        return node.op.L_op(list(node.inputs), list(node.outputs), gouts)


def _backprop(seeds: dict, wrt, blockers):
    """Propagate output gradients from ``seeds`` ({var: grad}) down to ``wrt``."""
    roots = list(seeds)
    nodes = io_toposort([], roots)
    live = _depends_on_wrt(nodes, wrt, blockers)
    terms: dict[int, list] = {}
    for var, g in seeds.items():
        terms.setdefault(id(var), []).append(g)
    for node in reversed(nodes):
        if not any(id(o) in terms for o in node.outputs):
            continue
        wanted = [id(i) in live and i not in blockers for i in node.inputs]
        if not any(wanted):
            continue
        gouts = []
        for out in node.outputs:
            got = terms.get(id(out))
            if got:
                g = _sum_terms(got)
                if (not is_null(g) and isinstance(out.type, TensorType)
                        and out.dtype in CONTINUOUS_DTYPES and g.dtype != out.dtype):
                    g = tb.cast(g, out.dtype)
            else:
                g = _zeros_like(out)
            gouts.append(g)
        nulls = [g for g in gouts if is_null(g)]
        if nulls:
            igrads = [nulls[0]] * len(node.inputs)
        else:
            igrads = _vjp(node, gouts)
            if len(igrads) != len(node.inputs):
                raise ValueError(f"{node.op}.L_op returned {len(igrads)} gradients for "
                                 f"{len(node.inputs)} inputs")
        for pos, (inp, g) in enumerate(zip(node.inputs, igrads)):
            if not wanted[pos]:
                continue
            g = _conform(node, pos, inp, g)
            if not is_disconnected(g):
                terms.setdefault(id(inp), []).append(g)
    return terms


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", add_names=True,
         known_grads=None, return_disconnected="zero", null_gradients="raise"):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt`` (one or a list).

    ``consider_constant``: variables through which no gradient flows.
    ``disconnected_inputs``: what to do for a ``wrt`` the cost does not depend on
    ('raise', 'warn', 'ignore'); ``return_disconnected`` says what is returned for
    it ('zero': zeros like it, 'none': None, 'disconnected': a DisconnectedType
    marker).  ``known_grads``: ``{variable: gradient}`` to start from (with or
    without a cost).  ``null_gradients``: 'raise' when a requested gradient is
    undefined, or 'return' the NullType marker.

    The nodes it builds take the user's line that called ``grad``, found once: a walk
    up the stack per node was the largest cost of differentiating a deep graph.  The
    garbage collector is paused meanwhile (``collector_paused``).
    """
    with inherit_trace(capture_user_trace()), collector_paused():
        return _grad(cost, wrt, consider_constant, disconnected_inputs, add_names,
                     known_grads, return_disconnected, null_gradients)


def _grad(cost, wrt, consider_constant, disconnected_inputs, add_names, known_grads,
          return_disconnected, null_gradients):
    if disconnected_inputs not in _DISCONNECTED_CHOICES:
        raise ValueError(f"grad: disconnected_inputs must be one of {_DISCONNECTED_CHOICES}, "
                         f"got {disconnected_inputs!r}")
    if return_disconnected not in _RETURN_CHOICES:
        raise ValueError(f"grad: return_disconnected must be one of {_RETURN_CHOICES}, "
                         f"got {return_disconnected!r}")
    if null_gradients not in ("raise", "return"):
        raise ValueError(f"grad: null_gradients must be 'raise' or 'return', got "
                         f"{null_gradients!r}")
    if cost is None and not known_grads:
        raise ValueError("grad: give a cost, known_grads, or both")
    single = not isinstance(wrt, (list, tuple))
    wrt = _as_list(wrt)
    _check_wrt(wrt)
    seeds: dict = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            cost = tb.as_tensor_variable(cost)
        if not isinstance(cost.type, TensorType) or cost.ndim != 0:
            ndim = getattr(cost.type, "ndim", "?")
            raise TypeError(f"grad: the cost must be a scalar (0-d tensor), but {cost} has "
                            f"ndim={ndim} (type {cost.type}); reduce it first, e.g. "
                            "cost.sum() or cost.mean()")
        if not known_grads and not consider_constant:
            cost = stable_cost(cost, wrt)
        seeds[cost] = _seed_for(cost)
    for var, g in (known_grads or {}).items():
        if not isinstance(var, Variable):
            raise TypeError(f"grad: known_grads keys must be Variables, got {var!r:.40}")
        g = g if isinstance(g, Variable) else tb.as_tensor_variable(g)
        if isinstance(var.type, TensorType) and (not isinstance(g.type, TensorType)
                                                 or g.ndim != var.ndim):
            raise TypeError(f"grad: known_grads[{var}] has type {g.type}; expected "
                            f"{var.ndim} dims like {var.type}")
        seeds[var] = _sum_terms([seeds[var], g]) if var in seeds else g
    blockers = set(_as_list(consider_constant or []))
    terms = _backprop(seeds, wrt, blockers)
    results = []
    for pos, var in enumerate(wrt):
        got = terms.get(id(var))
        if not got or var in blockers:
            results.append(_disconnected(var, pos, cost, disconnected_inputs,
                                         return_disconnected))
            continue
        g = _sum_terms(got)
        if is_null(g) and null_gradients == "raise":
            raise NullTypeGradError(f"grad: cannot compute the gradient with respect to "
                                    f"wrt[{pos}] ({var}): {g.type.why_null}")
        if isinstance(var.type, TensorType) and not is_null(g) and g.dtype != var.dtype:
            g = tb.cast(g, var.dtype)
        if add_names and g.owner is not None and g.name is None and cost is not None \
                and cost.name and var.name:
            g.name = f"(d{cost.name}/d{var.name})"
        results.append(g)
    return results[0] if single else results


def _disconnected(var, pos, cost, policy, returned):
    message = (f"grad: wrt[{pos}] ({var}) is not part of the computational graph of the cost "
               f"{cost if cost is not None else '(known_grads)'}, or reaches it only through "
               "non-differentiable operations (shapes, indices) or consider_constant; pass "
               "disconnected_inputs='ignore' or 'warn' to get a zero gradient")
    if policy == "raise":
        raise DisconnectedInputError(message)
    if policy == "warn":
        warnings.warn(message, stacklevel=3)
    if returned == "none":
        return None
    if returned == "disconnected":
        return disconnected_type()
    return _zeros_like(var)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Vector-Jacobian product: ``eval_points`` times the Jacobian of ``f`` by ``wrt``."""
    fs, points = _as_list(f), _as_list(eval_points)
    if len(fs) != len(points):
        raise ValueError(f"Lop: {len(fs)} expressions but {len(points)} eval_points")
    known = {}
    for fi, pi in zip(fs, points):
        pi = pi if isinstance(pi, Variable) else tb.as_tensor_variable(pi)
        known[fi] = pi
    single = not isinstance(wrt, (list, tuple))
    out = grad(None, _as_list(wrt), consider_constant=consider_constant,
               disconnected_inputs=disconnected_inputs, known_grads=known)
    return out[0] if single else out


def Rop(f, wrt, eval_points, disconnected_outputs="raise"):
    """Jacobian-vector product (forward mode) by transposing ``Lop`` once more.

    ``Lop(f, wrt, u)`` is linear in ``u``; its gradient against ``u`` projected on
    ``eval_points`` is ``J v``.  ``u`` is then replaced by zeros, so the result does
    not depend on it.
    """
    fs, wrts, points = _as_list(f), _as_list(wrt), _as_list(eval_points)
    if len(wrts) != len(points):
        raise ValueError(f"Rop: {len(wrts)} wrt but {len(points)} eval_points")
    us = [fi.type() for fi in fs]
    vjps = Lop(fs, wrts, us, disconnected_inputs="ignore")
    inner = None
    for vj, v in zip(vjps, points):
        term = tm.sum(tm.mul(vj, v))
        inner = term if inner is None else tm.add(inner, term)
    jvps = grad(inner, us, disconnected_inputs="ignore" if disconnected_outputs != "raise"
                else "raise")
    jvps = clone_replace(jvps, {u: _zeros_like(fi) for u, fi in zip(us, fs)})
    return jvps if isinstance(f, (list, tuple)) else jvps[0]
