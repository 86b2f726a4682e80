"""Merge: equal constants and identical Apply nodes become one (CSE)."""

from __future__ import annotations

from collections import Counter

from theanine.graph.basic import Constant
from theanine.graph.fg import OUTPUT


def merge_graph(fgraph) -> Counter:
    """One topological sweep finds the duplicates; then only the edges from a surviving
    node (or a graph output) into a duplicate are redirected.

    Inputs of a node are canonical by the time it is visited, so a single sweep merges
    whole duplicated subgraphs.  Redirecting only at the frontier keeps the cost linear:
    a duplicated subgraph is pruned from its far end, never by moving all its edges onto
    the surviving copy first.  Nodes that destroy an input are never merged (running
    them once would break the other reader).
    """
    counts: Counter = Counter()
    canon: dict = {}          # merged-away Variable -> its representative
    constants: dict = {}      # constant signature -> first constant seen
    seen: dict = {}           # (op, input ids) -> first node seen
    order = fgraph.toposort()

    def rep(var):
        found = canon.get(var)
        if found is not None:
            return found
        if isinstance(var, Constant):
            try:
                sig = var.signature()
                first = constants.setdefault(sig, var)
            except TypeError:   # unhashable data: never merged
                return var
            if first is not var:
                canon[var] = first
                counts["merge_constant"] += 1
            return first
        return var

    merged_nodes = set()
    canon_get = canon.get
    for node in order:
        ins = []
        for i in node.inputs:
            found = canon_get(i)
            if found is None:
                found = rep(i) if isinstance(i, Constant) else i
            ins.append(id(found))
        ins = tuple(ins)
        if node.op.destroy_map:
            continue
        try:
            first = seen.setdefault((node.op, ins), node)
        except TypeError:
            continue
        if first is node:
            continue
        for old, new in zip(node.outputs, first.outputs):
            canon[old] = new
        merged_nodes.add(node)
        counts["merge_node"] += 1
    if not canon:
        return counts
    for pos, out in enumerate(list(fgraph.outputs)):
        new = canon.get(out)
        if new is not None:
            fgraph.change_node_input(OUTPUT, pos, new, reason="merge")
    for node in order:
        if node in merged_nodes or node not in fgraph.apply_nodes:
            continue
        for pos, inp in enumerate(node.inputs):
            new = canon_get(inp)
            if new is not None:
                fgraph.change_node_input(node, pos, new, reason="merge")
    return counts
