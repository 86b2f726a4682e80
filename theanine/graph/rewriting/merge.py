"""Merge: equal constants and identical Apply nodes become one (CSE)."""

from __future__ import annotations

from collections import Counter

from theanine.graph.basic import Constant


def merge_graph(fgraph) -> Counter:
    """One topological sweep: later duplicates are replaced by the first seen.

    Inputs of a node are canonical by the time it is visited, so a single
    sweep merges whole duplicated subgraphs.  Nodes that destroy an input are
    never merged (running them once would break the other reader).
    """
    counts: Counter = Counter()
    constants: dict = {}
    for var in list(fgraph.variables):
        if isinstance(var, Constant) and var in fgraph.variables:
            try:
                sig = var.signature()
                hash(sig)
            except TypeError:
                continue
            first = constants.setdefault(sig, var)
            if first is not var and fgraph.clients.get(var):
                fgraph.replace(var, first, reason="merge")
                counts["merge_constant"] += 1
    seen: dict = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes or node.op.destroy_map:
            continue
        key = (node.op, tuple(id(i) for i in node.inputs))
        try:
            first = seen.setdefault(key, node)
        except TypeError:
            continue
        if first is node:
            continue
        for old, new in zip(node.outputs, first.outputs):
            fgraph.replace(old, new, reason="merge")
        counts["merge_node"] += 1
    return counts
