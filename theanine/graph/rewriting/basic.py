"""Rules and passes: the pieces the rewrite pipeline is made of.

A *rule* looks at one Apply node and returns replacements for its outputs (a
list aligned with ``node.outputs``, or a dict ``{old_var: new_var}``) or None.
A *pass* applies rules to a FunctionGraph (``EquilibriumPass`` repeats until no
rule fires) or transforms the whole graph (``GraphPass``).  Every pass reports
its time and how often each rule fired.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.fg import Feature, InconsistencyError
from theanine.graph.rewriting.reasons import decline, reasons_wanted
from theanine.graph.utils import _inherited as inherited

_rewrite_observers: list = []


def add_rewrite_observer(fn) -> None:
    """``fn(fgraph, node, pairs, rule_name)`` is called after every accepted rewrite."""
    _rewrite_observers.append(fn)


def remove_rewrite_observer(fn) -> None:
    _rewrite_observers.remove(fn)


class RewriteError(RuntimeError):
    """A rule raised while rewriting a node; names the rule and the node."""


class Rule:
    """A node rewrite: ``fn(fgraph, node) -> list | dict | None``.

    ``tracks`` restricts the nodes it is offered: Op classes (isinstance), objects
    with a ``matches_op(op)`` method (e.g. "an Elemwise of a Cast"), or Op instances
    (equality); empty means every node.  Passes cache the answer per op.
    ``needs``: classes of computation (``Op.kinds``) the rule can only fire with,
    each somewhere in the graph (``sigmoid(v) * exp(-v)`` needs a sigmoid and an
    exp; a tuple of classes is met by any of them); a pass does not offer it nodes
    while one is missing.  ``adjacent``: each
    needed kind computes an input of the node the rule fires on (``add(exp(x), -1)``),
    so when one appears, the nodes a pass revisits anyway (the new ones and the
    readers of replaced values) are all that can match.  ``constant_inputs``: it can
    only fire on a node whose inputs are all constants (constant folding); a pass's
    first sweep skips the nodes that only such rules would be offered.
    """

    def __init__(self, fn: Callable, tracks: Iterable = (), name: str | None = None,
                 tags: Iterable[str] = (), needs: Iterable[type] = (),
                 adjacent: bool = False, constant_inputs: bool = False):
        self.fn = fn
        self.needs = tuple(needs)
        self.adjacent = adjacent
        self.constant_inputs = constant_inputs
        self.tracks = tuple(tracks)
        self.name = name or fn.__name__
        self.tags = frozenset(tags)
        self._classes = tuple(t for t in self.tracks if isinstance(t, type))
        self._filters = [t for t in self.tracks
                         if not isinstance(t, type) and hasattr(t, "matches_op")]
        self._instances = [t for t in self.tracks
                           if not isinstance(t, type) and not hasattr(t, "matches_op")]

    def matches(self, node: Apply) -> bool:
        """Whether the rule is offered ``node``; looks at ``node.op`` only (passes cache it)."""
        if not self.tracks:
            return True
        op = node.op
        if self._classes and isinstance(op, self._classes):
            return True
        if any(f.matches_op(op) for f in self._filters):
            return True
        return any(op == t for t in self._instances)

    def __call__(self, fgraph, node):
        return self.fn(fgraph, node)

    def __repr__(self):
        return f"Rule({self.name})"


def rule(tracks: Iterable = (), name: str | None = None, tags: Iterable[str] = ()):
    """Decorator: ``@rule([Elemwise])`` makes a Rule from a function."""

    def wrap(fn):
        return Rule(fn, tracks, name, tags)

    return wrap


@dataclass
class PassReport:
    name: str
    time: float = 0.0
    applied: Counter = field(default_factory=Counter)
    iterations: int = 0
    nodes_before: int = 0
    nodes_after: int = 0

    def summary(self) -> str:
        rules = ", ".join(f"{k}: {v}" for k, v in self.applied.most_common())
        return (f"{self.name}: {self.time * 1000:.1f} ms, {self.iterations} iteration(s), "
                f"{self.nodes_before} -> {self.nodes_after} nodes" + (f"; {rules}" if rules
                                                                       else ""))


class _ChangeLog(Feature):
    """Records input changes so a rejected rewrite can be undone."""

    def __init__(self):
        self.changes: list = []

    def on_change_input(self, fgraph, node, i, old, new, reason):
        self.changes.append((node, i, old, new))


def normalize_replacements(node: Apply, result) -> list[tuple[Variable, Variable]]:
    if result is None or result is False:
        return []
    if isinstance(result, dict):
        return [(k, v) for k, v in result.items() if k is not v]
    if isinstance(result, Variable):
        result = [result]
    if len(result) != len(node.outputs):
        raise RewriteError(f"rule returned {len(result)} replacements for "
                           f"{len(node.outputs)} outputs of {node}")
    return [(o, n) for o, n in zip(node.outputs, result) if n is not None and o is not n]


def apply_replacements(fgraph, node, pairs, rule_name: str) -> bool:
    """Replace in ``fgraph``; validate; undo and return False if a feature objects."""
    if not pairs:
        return False
    for old, new in pairs:
        if old.type != new.type and old.type.convert_variable(new) is None:
            raise RewriteError(f"rule {rule_name} replaced {old} ({old.type}) with {new} "
                               f"({new.type}) on node {node}: incompatible types")
    log = _ChangeLog()
    fgraph.attach_feature(log)
    try:
        for old, new in pairs:
            fgraph.replace(old, new, reason=rule_name)
        fgraph.validate()
    except InconsistencyError as exc:
        decline(f"{rule_name} was refused: {exc}", node)
        for nd, i, old, _ in reversed(log.changes):
            fgraph.change_node_input(nd, i, old, reason="revert")
        return False
    finally:
        fgraph.remove_feature(log)
    for observer in _rewrite_observers:
        observer(fgraph, node, pairs, rule_name)
    return True


def try_rule(fgraph, node, rw: Rule):
    """Run one rule on one node, turning its exceptions into a RewriteError."""
    try:
        result = rw.fn(fgraph, node)
        if result is None:            # the common case: the rule does not apply
            return ()
        return normalize_replacements(node, result)
    except (InconsistencyError, RewriteError):
        raise
    except Exception as exc:
        raise RewriteError(f"rewrite rule {rw.name} failed on node {node}: "
                           f"{type(exc).__name__}: {exc}") from exc


class RewritePass:
    """A named step of the pipeline, selected by tags."""

    def __init__(self, name: str, tags: Iterable[str] = ("fast_run",)):
        self.name = name
        self.tags = frozenset(tags)

    def selected(self, query) -> bool:
        if self.name in query.exclude or self.tags & query.exclude:
            return False
        return self.name in query.include or bool(self.tags & query.include)

    def apply(self, fgraph, query=None) -> PassReport:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


class EquilibriumPass(RewritePass):
    """Apply rules over the graph repeatedly until none fires (or a cap is hit)."""

    def __init__(self, name, tags=("fast_run",), max_iterations: int = 50):
        super().__init__(name, tags)
        self.rules: list[Rule] = []
        self.max_iterations = max_iterations

    def register(self, rw: Rule | Callable, *, position: int | None = None) -> Rule:
        if not isinstance(rw, Rule):
            rw = Rule(rw)
        if position is None:
            self.rules.append(rw)
        else:
            self.rules.insert(position, rw)
        return rw

    def active_rules(self, query) -> list[Rule]:
        if query is None:
            return list(self.rules)
        return [r for r in self.rules
                if r.name not in query.exclude and not (r.tags & query.exclude)]

    def apply(self, fgraph, query=None) -> PassReport:
        """Worklist rewriting: after a rule fires, only the new nodes and the
        clients of the new variables are revisited, so the cost stays close to
        linear in the graph size."""
        report = PassReport(self.name, nodes_before=len(fgraph.apply_nodes))
        start = time.perf_counter()
        rules = self.active_rules(query)
        if rules:
            self._run(fgraph, rules, report)
        report.time = time.perf_counter() - start
        report.nodes_after = len(fgraph.apply_nodes)
        return report

    def could_fire(self, nodes, query=None) -> bool:
        """Whether a rule of this pass that does not need all-constant inputs would be
        offered one of ``nodes`` (the kinds it needs present, an op it tracks): a cheap
        test that running the pass on a graph of these nodes could change it."""
        nodes = list(nodes)
        rules = [rw for rw in self.active_rules(query) if not rw.constant_inputs]
        active = _Census(nodes, rules).active
        probes = [_OpProbe(op) for op in {id(n.op): n.op for n in nodes}.values()]
        return any(rw.matches(probe) for rw in active for probe in probes)

    def _run(self, fgraph, all_rules, report) -> None:
        census = _Census(fgraph.apply_nodes, all_rules)
        # id(op) -> (op, the rules tracking it, ...): non-matching rules cost 0.  A
        # graph holds many equal op objects (a gradient makes its own per node), and
        # a rule looks at an op's type and value only: equal ops share one answer.
        by_op: dict = {}
        by_value: dict = {}

        def entry(op):
            """(op, its rules, whether they all need constant inputs), cached."""
            found = by_op.get(id(op))
            if found is None:
                try:
                    found = by_value.get(op)
                except TypeError:       # an unhashable op: answered for itself
                    found = None
                if found is None:
                    probe = _OpProbe(op)
                    rules = [rw for rw in census.active if rw.matches(probe)]
                    found = (op, rules, all(rw.constant_inputs for rw in rules))
                    try:
                        by_value[op] = found
                    except TypeError:
                        pass
                by_op[id(op)] = found = (op,) + found[1:]
            return found

        def rules_for(op):
            return entry(op)[1]

        order = fgraph.toposort()
        if reasons_wanted():
            queue = deque(order)
        else:       # the first sweep: no node whose rules would all refuse it at once
            queue = deque()
            for node in order:
                _, rules, constant_only = entry(node.op)
                if rules and (not constant_only or all(isinstance(i, Constant)
                                                       for i in node.inputs)):
                    queue.append(node)
        queued = set(queue)
        # every node the pass has seen, in a deterministic order (the first sweep's,
        # then imports as they came): a rule woken late is offered these still in the
        # graph, with no new sort of the whole graph
        known = list(order)
        tracker = _ImportTracker()
        fgraph.attach_feature(tracker)
        budget = self.max_iterations * (len(queue) + 10)
        try:
            while queue and budget > 0:
                node = queue.popleft()
                queued.discard(node)
                if node not in fgraph.apply_nodes:
                    continue
                node_rules = rules_for(node.op)
                if not node_rules:
                    continue
                # the rules' new nodes take the user's line of the node they rewrite
                inherited.append(getattr(node.tag, "trace", ()))
                try:
                    for rw in node_rules:
                        pairs = try_rule(fgraph, node, rw)
                        if not pairs:
                            continue
                        tracker.imported.clear()
                        if not apply_replacements(fgraph, node, pairs, rw.name):
                            continue
                        budget -= 1
                        report.applied[rw.name] += 1
                        revisit = list(tracker.imported)
                        known.extend(revisit)
                        woken = census.add(tracker.imported)
                        if woken:           # a kind they need appeared
                            by_op.clear()
                            by_value.clear()
                            far = [w for w in woken if not w.adjacent]
                            nodes = fgraph.apply_nodes
                            revisit.extend(n for n in dict.fromkeys(known)  # offer them all
                                           if n in nodes and any(w.matches(n) for w in far))
                        for _, new in pairs:
                            revisit.extend(c for c, _ in fgraph.clients.get(new, ())
                                           if c != "output")
                        for n in revisit:
                            if n not in queued:
                                queued.add(n)
                                queue.append(n)
                        break
                finally:
                    inherited.pop()
        finally:
            fgraph.remove_feature(tracker)
        report.iterations = 1


class _Census:
    """The kinds of computation (``Op.kinds``) in a graph, and the rules whose
    ``needs`` they meet (``active``, in the pass's order); ``add`` counts the nodes
    a rewrite brought in and returns the rules that became active."""

    def __init__(self, nodes, rules):
        self.rules = rules
        self.waiting = [rw for rw in rules if rw.needs]
        self.kinds: set = set()
        if self.waiting:
            for op in {id(node.op): node.op for node in nodes}.values():
                self.kinds.update(op.kinds())
        self.active = rules
        self._update()

    def _met(self, rw) -> bool:
        return all(any(issubclass(k, need) for k in self.kinds) for need in rw.needs)

    def _update(self) -> list:
        woken = [rw for rw in self.waiting if self._met(rw)]
        if woken or self.active is self.rules:
            self.waiting = [rw for rw in self.waiting if rw not in woken]
            self.active = [rw for rw in self.rules if rw not in self.waiting]
        return woken

    def add(self, nodes) -> list:
        if not self.waiting:
            return []
        before = len(self.kinds)
        for node in nodes:
            self.kinds.update(node.op.kinds())
        return self._update() if len(self.kinds) != before else []


class _OpProbe:
    """Stands in for a node in ``Rule.matches`` (which looks at ``.op`` only)."""

    __slots__ = ("op",)

    def __init__(self, op):
        self.op = op


class _ImportTracker(Feature):
    """Collects nodes imported into the graph (the output of a rewrite)."""

    def __init__(self):
        self.imported: list = []

    def on_import(self, fgraph, node, reason):
        self.imported.append(node)


class GraphPass(RewritePass):
    """A whole-graph transformation ``fn(fgraph) -> Counter | None``.

    ``optional_rules``: rules of ``fn`` a query may exclude by name; ``fn`` is then
    called as ``fn(fgraph, skip=<the excluded ones>)``."""

    def __init__(self, name, fn: Callable, tags=("fast_run",), rules=(), optional_rules=()):
        super().__init__(name, tags)
        self.fn = fn
        self.rules = tuple(rules) or (name,)     # the rule names its report counts
        self.optional_rules = frozenset(optional_rules)

    def apply(self, fgraph, query=None) -> PassReport:
        report = PassReport(self.name, nodes_before=len(fgraph.apply_nodes), iterations=1)
        start = time.perf_counter()
        skip = self.optional_rules & query.exclude if query is not None else frozenset()
        counts = self.fn(fgraph, skip=skip) if skip else self.fn(fgraph)
        if counts:
            report.applied.update(counts)
        report.time = time.perf_counter() - start
        report.nodes_after = len(fgraph.apply_nodes)
        return report
