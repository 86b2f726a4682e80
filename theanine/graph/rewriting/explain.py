"""``explain_rewrite``: why a rule did not fire, node by node.

The rule is run again on the graph as its pass would see it, with
``collecting_reasons`` active, so every ``decline(reason, node)`` it makes is
kept.  An equilibrium rule is offered each node it tracks; a whole-graph pass
(fusion, inplace) runs on a copy of the graph.  The graph is rebuilt from the
user's variables and taken through the passes before the rule's pass: for a
compiled Function with its mode's query, in-place permissions and updates, so
the rule sees what it saw while compiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from theanine.graph.basic import Apply, Constant, Variable, graph_inputs
from theanine.graph.destroyhandler import attach_destroy_handler
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting.basic import EquilibriumPass, GraphPass, try_rule
from theanine.graph.rewriting.pipeline import OPTIMIZER_QUERIES, PIPELINE
from theanine.graph.rewriting.reasons import collecting_reasons
from theanine.graph.utils import user_line


@dataclass
class NodeFinding:
    """What the rule made of one node: it would fire, or the reasons it declined."""

    node: Apply
    fired: bool
    reasons: list = field(default_factory=list)

    def __str__(self) -> str:
        where = user_line(getattr(self.node.tag, "trace", ()))
        head = f"{self.node.op}({', '.join(str(i) for i in self.node.inputs)}) " \
               f"[built at {where}]"
        if self.fired:
            return f"{head}: fires"
        return f"{head}:\n" + "\n".join(f"    {r}" for r in self.reasons)


@dataclass
class RuleExplanation:
    """Every node the rule looked at and what it decided."""

    rule: str
    pass_name: str
    findings: list

    @property
    def declined(self) -> list:
        return [f for f in self.findings if not f.fired]

    def __str__(self) -> str:
        if not self.findings:
            return f"{self.rule} ({self.pass_name}): no node of the graph is of a kind it looks at"
        fired = sum(f.fired for f in self.findings)
        lines = [f"{self.rule} ({self.pass_name}): fires on {fired} of "
                 f"{len(self.findings)} node(s) it looked at"]
        lines += [f"  {f}" for f in self.findings]
        return "\n".join(lines)

    __repr__ = __str__


def find_rule(rule_name: str):
    """``(pass, rule or None)`` for a rule name (or a whole-graph pass or its counted rule)."""
    for rewrite_pass in PIPELINE:
        if isinstance(rewrite_pass, EquilibriumPass):
            for rw in rewrite_pass.rules:
                if rw.name == rule_name:
                    return rewrite_pass, rw
        elif isinstance(rewrite_pass, GraphPass) and rule_name in (
                rewrite_pass.name, *rewrite_pass.rules):
            return rewrite_pass, None
    names = sorted({rw.name for p in PIPELINE if isinstance(p, EquilibriumPass)
                    for rw in p.rules} | {n for p in PIPELINE if isinstance(p, GraphPass)
                                          for n in (p.name, *p.rules)})
    raise KeyError(f"no rewrite rule named {rule_name!r}; known rules: {', '.join(names)}")


def _rebuilt(compiled: FunctionGraph) -> FunctionGraph | None:
    """A fresh copy of the user's graph a compiled FunctionGraph started from, with the
    same updates and in-place permissions (None when that is not known)."""
    source = getattr(compiled, "cloned_from", None)
    if source is None or len(source[0]) != len(compiled.inputs):
        return None
    ins, outs = source
    fgraph = FunctionGraph(ins, outs, clone=True, update_mapping=compiled.update_mapping)
    handler = getattr(compiled, "destroy_handler", None)
    if handler is not None:
        where = {var: pos for pos, var in enumerate(compiled.inputs)}
        attach_destroy_handler(
            fgraph, mutable=[fgraph.inputs[where[v]] for v in handler.mutable if v in where],
            updates={fgraph.inputs[where[v]]: k for v, k in handler.updates.items()
                     if v in where})
    return fgraph


def _graph_for(graph, rewrite_pass):
    """The FunctionGraph to probe, as ``rewrite_pass`` would see it, and the query
    (the compiled Function's mode, else FAST_RUN's) the pass runs under."""
    maker = getattr(graph, "maker", None)
    query = OPTIMIZER_QUERIES["fast_run"]
    if maker is not None and isinstance(getattr(maker, "fgraph", None), FunctionGraph):
        effective = getattr(maker.mode, "effective_query", None)
        query = effective() if effective is not None else query
        fgraph = _rebuilt(maker.fgraph)
        if fgraph is None:
            return maker.fgraph, query
    elif isinstance(graph, FunctionGraph):
        return graph, query
    else:
        outputs = [graph] if isinstance(graph, Variable) else list(graph.outputs) \
            if isinstance(graph, Apply) else list(graph)
        inputs = [v for v in graph_inputs(outputs) if not isinstance(v, Constant)]
        fgraph = FunctionGraph(inputs, outputs, clone=True)
    fgraph.capabilities = query.capabilities
    for earlier in PIPELINE:
        if earlier is rewrite_pass:
            break
        if earlier.selected(query):
            earlier.apply(fgraph, query)
    return fgraph, query


def _probe_rule(fgraph, rw) -> list:
    findings = []
    for node in fgraph.toposort():
        if not rw.matches(node):
            continue
        with collecting_reasons() as reasons:
            pairs = try_rule(fgraph, node, rw)
        texts = [r for _, r in reasons] or ["its pattern does not apply here "
                                            "(the rule gives no reason)"]
        findings.append(NodeFinding(node, bool(pairs), [] if pairs else texts))
    return findings


def _probe_pass(fgraph, rewrite_pass, query) -> list:
    """Run a whole-graph pass on a copy; map what it said back to the graph's nodes."""
    copy, equiv = fgraph.clone_get_equiv()
    back = {equiv[n]: n for n in fgraph.apply_nodes if n in equiv}
    handler = getattr(fgraph, "destroy_handler", None)
    if handler is not None:
        from_copy = {equiv.get(v, v) for v in handler.mutable}
        updates = {equiv.get(v, v): k for v, k in handler.updates.items()}
        attach_destroy_handler(copy, mutable=from_copy, updates=updates)
    copy.capabilities = getattr(fgraph, "capabilities", None)
    before = set(copy.apply_nodes)
    with collecting_reasons() as reasons:
        rewrite_pass.apply(copy, query)
    by_node: dict = {}
    for node, reason in reasons:
        original = back.get(node, node)
        by_node.setdefault(original, []).append(reason)
    replaced = {back[n] for n in before - copy.apply_nodes if n in back}
    findings = [NodeFinding(n, n in replaced, [] if n in replaced else rs)
                for n, rs in by_node.items()]
    findings += [NodeFinding(n, True) for n in replaced if n not in by_node]
    return findings


def explain_rewrite(graph, rule_name: str) -> RuleExplanation:
    """For each node ``rule_name`` looks at in ``graph`` (a Function, FunctionGraph,
    Variable or list of Variables): does it fire, and if not, which condition failed."""
    rewrite_pass, rw = find_rule(rule_name)
    fgraph, query = _graph_for(graph, rewrite_pass)
    findings = _probe_rule(fgraph, rw) if rw is not None else \
        _probe_pass(fgraph, rewrite_pass, query)
    return RuleExplanation(rule_name, rewrite_pass.name, findings)
