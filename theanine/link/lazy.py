"""Lazy scheduling: which nodes run only inside one branch of an ``IfElse``.

Every node gets a *context*: the path of (ifelse node, branch) pairs under
which its outputs are needed, e.g. ``()`` (always) or ``((n1, 0),)`` (only in
n1's then-branch).  A node's context is the longest common prefix of its
clients' contexts, computed in one reverse topological sweep, so a node needed
by both branches (or by the condition, or by an output) runs before the ``if``.
"""

from __future__ import annotations

from theanine.ifelse import IfElse

THEN, ELSE = 0, 1


def _common_prefix(paths: list[tuple]) -> tuple:
    if not paths:
        return ()
    first = paths[0]
    length = len(first)
    for p in paths[1:]:
        length = min(length, len(p))
        for i in range(length):
            if p[i] != first[i]:
                length = i
                break
        if length == 0:
            return ()
    return first[:length]


def branch_contexts(fgraph, order) -> dict:
    """Map each node to its context; nodes tied by extra orderings stay at the top."""
    pinned = set()
    for node, deps in fgraph.orderings().items():
        pinned.add(node)
        pinned.update(deps)
    contexts: dict = {}
    for node in reversed(order):
        if node in pinned:
            contexts[node] = ()
            continue
        needs = []
        for out in node.outputs:
            for client, pos in fgraph.clients.get(out, ()):
                if client == "output":
                    needs.append(())
                    continue
                outer = contexts.get(client, ())
                if isinstance(client.op, IfElse) and pos >= 1:
                    branch = THEN if pos <= client.op.n_outs else ELSE
                    needs.append(outer + ((client, branch),))
                else:
                    needs.append(outer)
                if not needs[-1]:
                    break
            if needs and not needs[-1]:
                break
        contexts[node] = _common_prefix(needs)
    return contexts


def group_by_context(order, contexts) -> dict:
    """Nodes of each context, in topological order."""
    groups: dict = {}
    for node in order:
        groups.setdefault(contexts.get(node, ()), []).append(node)
    return groups
