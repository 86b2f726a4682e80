"""DebugMode: run a function slowly while checking every promise the compiler relies on.

Each call (up to ``DebugMode__patience`` calls) checks:

- every rewrite: the replaced variable's value equals its replacement's on this
  call's inputs (``BadOptimization``, naming the rule and the node), except where
  the replaced formula is shown to be at the mercy of rounding (what stabilizing
  rewrites exist for; ``_within_rounding``);
- every node: its ``perform`` and the linker's thunk agree (``BadThunkOutput``);
  it modifies only inputs declared in ``destroy_map`` (``BadDestroyMap``); its
  outputs share memory with inputs only as ``view_map``/``destroy_map`` say
  (``BadViewMap``); outputs match their declared type and, unless allowed, are
  finite (``InvalidValueError``);
- the order: a second valid execution order gives the same outputs
  (``StochasticOrder``).
"""

from __future__ import annotations

import copy

import numpy as np

from theanine.compile.mode import Mode, register_linker, register_mode
from theanine.config import config
from theanine.debug.errors import (
    BadDestroyMap,
    BadOptimization,
    BadThunkOutput,
    BadViewMap,
    InvalidValueError,
    StochasticOrder,
)
from theanine.graph.basic import Constant, io_toposort
from theanine.graph.rewriting.basic import add_rewrite_observer
from theanine.graph.rewriting.pipeline import get_pass
from theanine.graph.utils import user_line
from theanine.link.backend import Backend
from theanine.link.callspec import entry_source
from theanine.link.python.dispatch import perform_thunk, python_funcify
from theanine.link.python.dispatch_fused import KERNEL_CAPABILITIES


def _record_rewrite(fgraph, node, pairs, rule_name) -> None:
    history = getattr(fgraph, "debug_rewrite_history", None)
    if history is not None:
        history.extend((old, new, rule_name, node) for old, new in pairs)


add_rewrite_observer(_record_rewrite)


def _where(node) -> str:
    return f"{node} (created at {user_line(getattr(node.tag, 'trace', ()))})"


def _same(var, a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.allclose(a, b, rtol=1e-4 if a.dtype.itemsize <= 4 else 1e-6,
                                    atol=1e-6, equal_nan=True))
        return bool(np.array_equal(a, b))
    try:
        return bool(var.type.values_eq(a, b))
    except Exception:
        return a is b


def _snapshot(value):
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)


def _destroyed(op, i) -> bool:
    return any(i in ins for ins in op.destroy_map.values())


def _may_alias(op, out_index, in_index) -> bool:
    return in_index in op.view_map.get(out_index, ()) or \
        in_index in op.destroy_map.get(out_index, ())


def _aliases_any(value, others) -> bool:
    """``value`` shares memory with one of ``others`` (the same buffer read twice, as in
    an in-place ``x * x``, is covered by the declaration for the other input)."""
    return isinstance(value, np.ndarray) and any(
        isinstance(o, np.ndarray) and np.shares_memory(value, o) for o in others)


class DebugRunner:
    """Evaluates a FunctionGraph node by node with all checks."""

    def __init__(self, fgraph, check_finite: bool, check_py: bool, patience: int):
        self.fgraph = fgraph
        self.order = fgraph.toposort()
        self.alt_order = self._alternative_order()
        self.thunks = {node: python_funcify(node.op, node) for node in self.order}
        self.performs = {node: perform_thunk(node.op, node) for node in self.order}
        self.check_finite = check_finite
        self.check_py = check_py
        self.patience = patience
        self.calls = 0
        history = getattr(fgraph, "debug_rewrite_history", [])
        self.rewrites = [(o, n, r, nd) for o, n, r, nd in history
                         if not any(x.op.destroy_map for x in io_toposort(fgraph.inputs, [n]))]

    def _alternative_order(self):
        """Another valid order: later branches first (reversed input lists)."""
        orderings = self.fgraph.orderings()
        nodes = io_toposort(self.fgraph.inputs, list(reversed(self.fgraph.outputs)), orderings)
        return nodes

    def __call__(self, *inputs):
        self.calls += 1
        checking = self.calls <= self.patience
        outputs = self._run(self.order, inputs, checking)
        if checking:
            again = self._run(self.alt_order, inputs, False)
            for i, (a, b) in enumerate(zip(outputs, again)):
                if not _same(self.fgraph.outputs[i], a, b):
                    raise StochasticOrder(f"output {i} differs between two valid execution "
                                          f"orders: {a!r:.80} vs {b!r:.80}")
            self._check_rewrites(inputs)
        return tuple(outputs)

    def _run(self, order, inputs, checking):
        values = {var: _snapshot(val) for var, val in zip(self.fgraph.inputs, inputs)}
        for node in order:
            args = [v.data if isinstance(v, Constant) else values[v] for v in node.inputs]
            before = [_snapshot(a) for a in args] if checking else None
            result = self.thunks[node](*args)
            results = result if len(node.outputs) > 1 else (result,)
            if checking:
                self._check_node(node, args, before, results)
            for var, val in zip(node.outputs, results):
                values[var] = val
        return [v.data if isinstance(v, Constant) else values[v] for v in self.fgraph.outputs]

    def _check_node(self, node, args, before, results) -> None:
        op = node.op
        destroyed = [args[i] for i in range(len(args)) if _destroyed(op, i)]
        for i, (now, was) in enumerate(zip(args, before)):
            if not _destroyed(op, i) and isinstance(now, np.ndarray) and \
                    not _aliases_any(now, destroyed) and \
                    not np.array_equal(now, was, equal_nan=True):
                raise BadDestroyMap(f"{_where(node)} modified its input {i} "
                                    f"({node.inputs[i]}) without declaring it in destroy_map")
        for o, value in enumerate(results):
            var = node.outputs[o]
            if not var.type.is_valid_value(value):
                raise InvalidValueError(
                    f"output {o} of {_where(node)} is {type(value).__name__} "
                    f"{getattr(value, 'dtype', '')} {getattr(value, 'shape', '')}, which does "
                    f"not match its declared type {var.type}")
            if self.check_finite and isinstance(value, np.ndarray) and \
                    value.dtype.kind in "fc" and not np.isfinite(value).all():
                raise InvalidValueError(f"output {o} of {_where(node)} is not finite "
                                        "(set DebugMode__check_finite=False to allow)")
            allowed = [args[k] for k in range(len(args)) if _may_alias(op, o, k)]
            for i, arg in enumerate(args):
                if isinstance(value, np.ndarray) and isinstance(arg, np.ndarray) and \
                        value.size and np.shares_memory(value, arg) and \
                        not _may_alias(op, o, i) and not _aliases_any(arg, allowed):
                    raise BadViewMap(f"output {o} of {_where(node)} shares memory with input "
                                     f"{i} ({node.inputs[i]}) without declaring it in "
                                     "view_map")
        if self.check_py and self.thunks[node] is not self.performs[node]:
            fresh = [_snapshot(b) for b in before]
            ref = self.performs[node](*fresh)
            refs = ref if len(node.outputs) > 1 else (ref,)
            for o, (a, b) in enumerate(zip(results, refs)):
                if not _same(node.outputs[o], a, b):
                    raise BadThunkOutput(f"output {o} of {_where(node)}: the linker's "
                                         f"implementation gave {a!r:.80} but perform gave "
                                         f"{b!r:.80}")

    def _check_rewrites(self, inputs) -> None:
        if not self.rewrites:
            return
        targets = [v for old, new, _, _ in self.rewrites for v in (old, new)]
        env = _evaluate_with_perform(self.fgraph.inputs, inputs, targets)
        for old, new, rule, node in self.rewrites:
            a, b = _value(env, old), _value(env, new)
            if not _same(old, a, b) and not _within_rounding(
                    old, new, a, b, env, rule in _rule_names("stabilize")):
                raise BadOptimization(
                    f"rewrite rule {rule!r} on {_where(node)} replaced {old} by {new}, but "
                    f"they differ on this call's inputs: {a!r:.100} vs {b!r:.100}")


def _rule_names(pass_name: str) -> set:
    return {r.name for r in getattr(get_pass(pass_name), "rules", ())}


def _value(env, var):
    return var.data if isinstance(var, Constant) else env[var]


def _evaluate_with_perform(graph_inputs, values, targets) -> dict:
    """Values of ``targets`` (and all above them) computed node by node with ``perform``."""
    env = {var: _snapshot(val) for var, val in zip(graph_inputs, values)}
    for node in io_toposort(list(graph_inputs), targets):
        args = [_value(env, v) for v in node.inputs]
        result = perform_thunk(node.op, node)(*[_snapshot(a) for a in args])
        for var, val in zip(node.outputs, result if len(node.outputs) > 1 else (result,)):
            env[var] = val
    return env


def _within_rounding(old, new, a, b, env, stabilizing: bool) -> bool:
    """Whether ``new`` differs from ``old`` only where ``old`` carries no information.

    A stabilizing rewrite (``log(1 + exp(x)) -> softplus(x)``) replaces a formula that
    loses its digits, or overflows, for some inputs, so comparing with it there is
    meaningless.  Where nudging the results of the nodes computing ``old`` by a few
    ulps moves ``old`` (``_rounding_spread``), the difference may be that large; a rule
    of the ``stabilize`` pass may also turn a non-finite ``old`` into a finite value.
    Elsewhere the usual tolerance holds.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != "f":
        return False
    rtol = 1e-4 if a.dtype.itemsize <= 4 else 1e-6
    with np.errstate(all="ignore"):
        ok = (a == b) | (np.isnan(a) & np.isnan(b))
        if stabilizing:
            ok |= ~np.isfinite(a) & np.isfinite(b)
        ok |= np.abs(a - b) <= 1e-6 + rtol * np.abs(b) + 4 * _rounding_spread(old, new, a, env)
    return bool(ok.all())


def _rounding_spread(old, new, a, env):
    """How far ``old`` moves when the nodes computing it (and not ``new``) have each
    result scaled by 1 + 4 eps, then 1 - 4 eps: infinite where finiteness changes."""
    shared = set(io_toposort([], [new]))
    own = [n for n in io_toposort([], [old]) if n not in shared]
    spread = np.zeros(a.shape)
    for sign in (1, -1) if own else ():
        nudged = np.asarray(_nudged_value(own, old, env, sign), dtype=float)
        with np.errstate(all="ignore"):
            same = (nudged == a) | (np.isnan(nudged) & np.isnan(a))
            moved = np.where(same, 0.0, np.abs(nudged - a))
        spread = np.maximum(spread, np.where(np.isnan(moved), np.inf, moved))
    return spread


def _nudged_value(nodes, target, env, sign):
    """``target`` recomputed over ``nodes`` with every float result scaled by 1 ± 4 eps."""
    local = {}
    for node in nodes:
        args = [local[v] if v in local else _value(env, v) for v in node.inputs]
        result = perform_thunk(node.op, node)(*[_snapshot(x) for x in args])
        outs = result if len(node.outputs) > 1 else (result,)
        for var, val in zip(node.outputs, outs):
            if isinstance(val, np.ndarray) and val.dtype.kind == "f":
                with np.errstate(all="ignore"):
                    val = val * (1 + sign * 4 * np.finfo(val.dtype).eps)
            local[var] = val
    return local[target]


class DebugLinker(Backend):
    """Makes a function that runs through ``DebugRunner`` (slow, thorough)."""

    name = "debug"
    capabilities = KERNEL_CAPABILITIES     # it checks the graphs the default engine runs

    def __init__(self, check_finite=None, check_py=None, patience=None):
        self.check_finite = config.DebugMode__check_finite if check_finite is None \
            else check_finite
        self.check_py = config.DebugMode__check_py if check_py is None else check_py
        self.patience = config.DebugMode__patience if patience is None else patience

    def make_function(self, fgraph, spec):
        runner = DebugRunner(fgraph, self.check_finite, self.check_py, self.patience)
        ns = {"_debug_run": runner}
        ins = [f"i{k}" for k in range(len(fgraph.inputs))]
        outs = [f"o{k}" for k in range(len(fgraph.outputs))]
        call = f"_debug_run({', '.join(ins)})"
        body = [f"{', '.join(outs)}, = {call}"] if outs else [call]
        def_line, lines = entry_source(spec, ins, ns, body, outs)
        src = "\n".join([def_line, *lines]) + "\n"
        exec(compile(src, f"<theanine-debug-{spec.fn_name}>", "exec"), ns)
        fn = ns[spec.fn_name]
        fn.source = src
        fn.runner = runner
        return fn


class DebugMode(Mode):
    """``mode='DebugMode'`` or ``DebugMode(check_finite=..., check_py=..., patience=...)``."""

    def __init__(self, optimizer="fast_run", check_finite=None, check_py=None, patience=None):
        super().__init__(DebugLinker(check_finite, check_py, patience), optimizer,
                         name="DebugMode")

    def prepare_fgraph(self, fgraph) -> None:
        fgraph.debug_rewrite_history = []
        fgraph.keeps_replaced_values = True     # the history evaluates them on each call


register_mode("DebugMode", DebugMode)
register_linker("debug", DebugLinker)
