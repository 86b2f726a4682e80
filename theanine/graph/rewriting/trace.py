"""The rewrite trace: which rule replaced which variable, in which pass.

With ``config.trace_rewrites`` on, ``run_pipeline`` attaches a ``RewriteTrace``
to the graph it rewrites (kept as ``fgraph.rewrite_trace``).  It listens to the
one place every rewrite goes through, ``FunctionGraph.change_node_input``
(whose ``reason`` is the rule's name), so equilibrium rules, merge, fusion and
the inplace pass are all recorded; reverted attempts are dropped.  Off, nothing
is attached and compiling costs what it did.

``explain_variable`` turns the trace into the chain from a user's variable to
what runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from theanine.graph.basic import Apply, Variable
from theanine.graph.fg import OUTPUT, Feature
from theanine.graph.utils import user_line


@dataclass
class RewriteStep:
    """One replacement: ``rule`` (in ``pass_name``) put ``new`` where ``old`` was."""

    rule: str
    pass_name: str
    old: Variable
    new: Variable


class RewriteTrace(Feature):
    """Records every replacement made while it is attached, in order."""

    def __init__(self):
        self.steps: list[RewriteStep] = []
        self.current_pass = ""
        self._index: dict = {}          # (id(old), id(new)) -> step

    def on_change_input(self, fgraph, node, i, old, new, reason):
        if reason == "revert":          # a rejected attempt puts ``new`` back to ``old``
            step = self._index.pop((id(new), id(old)), None)
            if step is not None and step in self.steps:
                self.steps.remove(step)
            return
        key = (id(old), id(new))
        if key in self._index:          # the same replacement reaching another client
            return
        step = RewriteStep(str(reason or self.current_pass), self.current_pass, old, new)
        self._index[key] = step
        self.steps.append(step)

    def replaced(self, var) -> list[RewriteStep]:
        return [s for s in self.steps if s.old is var]


def describe(var) -> str:
    """``exp(x)``-like text of a variable with its op and the user's line."""
    node = var.owner
    if node is None:
        return str(var)
    name = f" '{var.name}'" if var.name else ""
    args = ", ".join(str(i) for i in node.inputs)
    where = user_line(getattr(node.tag, "trace", ()))
    return f"{node.op}({args}){name} [built at {where}]"


def _reads(var, target, limit: int = 10_000) -> bool:
    """Does ``var``'s graph (as it was built) read ``target``?"""
    stack, seen = [var], set()
    while stack and limit > 0:
        v = stack.pop()
        limit -= 1
        if v is target:
            return True
        if v.owner is None or id(v) in seen:
            continue
        seen.add(id(v))
        stack.extend(v.owner.inputs)
    return False


@dataclass
class Explanation:
    """The chain of rewrites from a user's variable to what the function runs."""

    start: Variable
    lines: list
    final: Variable | None

    def __str__(self) -> str:
        return "\n".join(self.lines)

    __repr__ = __str__


def explain_variable(fgraph, target) -> Explanation | list:
    """Which rewrites changed ``target`` (a Variable or Apply of the user's graph, or
    of the compiled one) on its way to ``fgraph``."""
    trace = getattr(fgraph, "rewrite_trace", None)
    if trace is None:
        raise RuntimeError("no rewrite trace was recorded for this function: compile it with "
                           "th.config.change_flags(trace_rewrites=True) (or "
                           "THEANINE_FLAGS=trace_rewrites=True) to record one")
    if isinstance(target, Apply):
        return [explain_variable(fgraph, out) for out in target.outputs]
    if not isinstance(target, Variable):
        raise TypeError(f"explain takes a Variable or an Apply, got {type(target).__name__}")
    equiv = getattr(fgraph, "equiv", None) or {}
    var = equiv.get(target, target)
    lines = [f"{describe(target)}"]
    seen = set()
    while id(var) not in seen:
        seen.add(id(var))
        steps = trace.replaced(var)
        if steps:
            step = steps[0]
            lines.append(f"  {step.pass_name}/{step.rule}: replaced by {describe(step.new)}")
            var = step.new
            continue
        if var in fgraph.variables:
            break
        absorbing = next((s for s in trace.steps if _reads(s.old, var)
                          and not _reads(s.new, var)), None)
        if absorbing is None:
            lines.append("  removed from the graph (no rule replaced it directly)")
            return Explanation(target, lines, None)
        lines.append(f"  {absorbing.pass_name}/{absorbing.rule}: computed inside "
                     f"{describe(absorbing.new)}")
        var = absorbing.new
    if var not in fgraph.variables:
        lines.append("  not computed by the function")
        return Explanation(target, lines, None)
    outputs = [pos for pos, (client, _) in enumerate(fgraph.clients[var]) if client == OUTPUT]
    if len(lines) == 1:
        lines.append("  not changed by any rewrite")
    lines.append(f"runs as: {describe(var)}" + (" (a function output)" if outputs else ""))
    return Explanation(target, lines, var)
