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
    const_rep: dict = {}      # constant -> its representative (itself when first)
    order = fgraph.toposort()

    def rep(var):
        found = canon.get(var)
        if found is not None:
            return found
        if var.owner is not None or not isinstance(var, Constant):
            return var
        found = const_rep.get(var)
        if found is not None:
            return found
        try:
            first = constants.setdefault(var.signature(), var)
        except TypeError:   # unhashable data: never merged
            first = var
        const_rep[var] = first
        if first is not var:
            canon[var] = first
            counts["merge_constant"] += 1
        return first

    op_ids: dict = {}         # id(op) -> id of the first equal op (hash each op once)
    equal_ops: dict = {}
    merged_nodes = set()
    for node in order:
        op = node.op
        if op.destroy_map:
            continue
        op_id = op_ids.get(id(op))
        if op_id is None:
            try:
                op_id = op_ids[id(op)] = id(equal_ops.setdefault(op, op))
            except TypeError:   # an unhashable op: never merged
                continue
        first = seen.setdefault((op_id, *map(id, map(rep, node.inputs))), node)
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
            new = canon.get(inp)
            if new is not None:
                fgraph.change_node_input(node, pos, new, reason="merge")
    return counts
