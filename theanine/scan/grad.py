"""Backpropagation through time for Scan: the gradient is another (reverse) Scan."""

from __future__ import annotations


def connection_pattern(op, node):
    """``[input][output]``: which outer outputs depend on which outer inputs.

    An outer input reaches the inner outputs that read it, and through the
    recurrence every output fed by a state it reaches, until nothing changes.
    """
    info = op.info
    slices = info.inner_in_slices()
    pos = info.outer_in_positions()
    n_out = len(node.outputs)
    readers = _inner_dependencies(op)           # inner input -> inner outputs reading it
    fed_by = {}                                 # inner output -> inner inputs it feeds
    for j, group in enumerate(slices["sot"]):
        fed_by[j] = group
    for j, group in enumerate(slices["carry"]):
        fed_by[info.n_sot + info.n_nit + j] = group

    def reached(start):
        todo, seen_in, outs = list(start), set(start), set()
        while todo:
            k = todo.pop()
            for o in readers[k]:
                if o < n_out and o not in outs:
                    outs.add(o)
                    for k2 in fed_by.get(o, ()):
                        if k2 not in seen_in:
                            seen_in.add(k2)
                            todo.append(k2)
        return outs

    pattern = [[False] * n_out for _ in node.inputs]
    for name in ("seq", "sot", "carry", "nonseq"):
        for j, (p, group) in enumerate(zip(pos[name], slices[name])):
            hit = reached(group)
            if name == "carry":
                hit.add(info.n_sot + info.n_nit + j)   # zero steps: the final value is it
            for o in hit:
                pattern[p][o] = True
    return pattern


def _inner_dependencies(op) -> list[set]:
    """For each inner input, the indices of inner outputs that depend on it."""
    fgraph = op.fgraph
    index = {v: i for i, v in enumerate(fgraph.inputs)}
    deps: dict = {v: {i} for v, i in index.items()}
    for node in op._inner_order():
        got = set()
        for inp in node.inputs:
            got |= deps.get(inp, set())
        for out in node.outputs:
            deps[out] = got
    result = [set() for _ in fgraph.inputs]
    for o, out in enumerate(fgraph.outputs):
        for i in deps.get(out, set()):
            result[i].add(o)
    return result
