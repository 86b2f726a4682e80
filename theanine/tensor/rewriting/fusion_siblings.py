"""Multi-output fusion: elementwise nodes that read the same values become one node.

Single-output fusion groups leave a value read by several elementwise nodes of
one broadcast pattern (a forward activation and the gradient terms that reuse it,
a prediction and its comparison) computed by one node and read again by each of
the others, every node a pass over memory and a call.  Here a unit (a node, or a
fusion group not built yet) and the units that read it are merged into one
``Elemwise(Composite)`` with an output for every value still read outside it: one
pass over the data, and a native kernel computes shared subexpressions
(``exp(-|x|)`` of a sigmoid and a softplus) once.  The fusion pass plans the
merges before it builds anything, so each final node is built once.

Merging must not make a node depend on itself: no path may leave the merged set
and come back.  Positions in one topological order of the graph certify it: when
every producer of a value the set reads from outside comes before every outside
reader of its results, no such path exists (it would have to go from a reader
back to an earlier producer).  An attempt costs the edges of the set it tries:
linear in the graph.  The certificate holds for one set in the original graph;
two certified sets whose nodes interleave can still close a cycle together, so
when merged sets overlap in position the plan is checked once on the contracted
graph and a set on a cycle is left unmerged.  Graphs with a lazy op (``IfElse``) are
left as they are: a value of one branch merged with a value of the other would
compute both.
"""

from __future__ import annotations

from theanine.graph.fg import OUTPUT
from theanine.graph.utils import inherit_trace
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.rewriting.fusion_build import (
    MAX_KERNEL_OPERANDS,
    as_input,
    broadcast_pattern,
    build_composite,
)

MAX_MERGED_OPS = 32      # a bigger kernel compiles slowly (as for single-output groups)
# outputs of one merged node: LLVM gave up vectorizing a kernel writing 16 (it could
# not rule out overlaps among so many arrays): a 16-layer forward chain ran 4x slower
MAX_MERGED_OUTPUTS = 4


class Unit:
    """What the merge works on: one node, or a single-output fused group not built
    yet (``root`` computes its output; ``nodes`` in topological order).  Building
    each final node once, from the original nodes, costs half of building the groups
    and then building again what merges them."""

    __slots__ = ("root", "nodes", "inputs", "n_ops")

    def __init__(self, root, nodes, inputs, n_ops):
        self.root, self.nodes, self.inputs, self.n_ops = root, nodes, inputs, n_ops


def plan_merges(fgraph, units: dict, position: dict) -> list:
    """Which units to merge: each merged set as its original nodes in topological
    order.  ``units`` maps a unit's root to its Unit, for the units the backend's
    kernels can run merged; ``position`` numbers the graph's nodes in a topological
    order (a unit stands at its root's position: after everything its nodes read,
    before everything that reads its output, so the numbering stays topological)."""
    if any(node.op.lazy for node in fgraph.apply_nodes):
        return []
    unit_of = {n: root for root, u in units.items() for n in u.nodes}
    group_of = {root: _Group.of(fgraph, u, position, unit_of) for root, u in units.items()
                if len(u.inputs) < MAX_KERNEL_OPERANDS}
    done: set = set()           # groups that took every partner they could
    for root in sorted(group_of, key=position.__getitem__):
        group = group_of.get(root)
        if group is None or group in done:
            continue
        refused: set = set()    # partners this group's growth could not take: a group
        while True:             # only grows, so they are not tried again
            partners = [p for p in _partner_groups(fgraph, group, group_of)
                        if p not in refused]
            merged = group.joined(partners, position)
            if merged is None and len(partners) > 1:
                for p in partners:
                    merged = group.joined([p], position)
                    if merged is not None:
                        break
                    refused.add(p)
            elif merged is None:
                refused.update(partners)
            if merged is None:
                break
            for member in merged.members:
                group_of[member] = merged
            group = merged
        done.add(group)
    groups = {id(g): g for g in group_of.values() if len(g.members) > 1}
    merges = [sorted((n for r in g.members for n in units[r].nodes), key=position.__getitem__)
              for g in sorted(groups.values(), key=lambda g: g.order[0])]
    return _without_cycles(fgraph, merges, position)


def _without_cycles(fgraph, merges, position) -> list:
    """``merges`` less those that would close a cycle together.  Each set's
    certificate holds for it alone; two sets whose nodes interleave (one reads a node
    of the other early, the other reads one of it late) can each be certified and
    still form a cycle once both are merged.  Only sets whose position spans overlap
    can do that, so the graph is checked (one pass over it) only then, and the last
    set Kahn's algorithm cannot order (on a cycle, or after one) is dropped, its units
    built unmerged, until every set is ordered."""
    spans = sorted((position[nodes[0]], position[nodes[-1]]) for nodes in merges)
    if all(spans[k][0] > spans[k - 1][1] for k in range(1, len(spans))):
        return merges
    merges = list(merges)
    while True:
        on_cycle = _merges_on_cycles(fgraph, merges)
        if not on_cycle:
            return merges
        merges.pop(max(on_cycle))


def _merges_on_cycles(fgraph, merges) -> list:
    """Indices of the merged sets on a cycle of the graph with every set contracted
    to one node (Kahn's algorithm: what it cannot order lies on or after a cycle)."""
    set_of = {node: k for k, nodes in enumerate(merges) for node in nodes}
    succ: dict = {}
    indegree: dict = {}
    for node in fgraph.apply_nodes:
        key = set_of.get(node, node)
        indegree.setdefault(key, 0)
        for var in node.inputs:
            owner = var.owner
            if owner is None:
                continue
            src = set_of.get(owner, owner)
            if src == key:
                continue
            out = succ.setdefault(src, set())
            if key not in out:
                out.add(key)
                indegree[key] += 1
    ready = [key for key, n in indegree.items() if n == 0]
    while ready:
        for nxt in succ.get(ready.pop(), ()):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return sorted(key for key, n in indegree.items() if n and isinstance(key, int))


class _Group:
    """A set of units to merge (``members``: their roots), with what its certificate
    needs: the positions of the producers it reads from outside (highest first) and
    of its outside readers (lowest first), so that trying a union looks at a few
    entries, not every edge."""

    __slots__ = ("members", "order", "producers", "readers", "inputs", "n_ops", "outputs")

    @classmethod
    def of(cls, fgraph, unit, position, unit_of) -> _Group:
        self = cls()
        root = unit.root
        self.members = frozenset((root,))
        self.order = (position[root],)
        # a value a unit reads comes from a unit's root or from a node of no unit
        self.producers = sorted(((position[v.owner], v.owner) for v in unit.inputs
                                 if v.owner is not None), key=_first, reverse=True)
        readers = {unit_of.get(c, c) for o in root.outputs for c, _ in fgraph.clients[o]
                   if c is not OUTPUT}
        self.readers = sorted(((position[r], r) for r in readers), key=_first)
        self.inputs = frozenset(unit.inputs)
        self.n_ops = unit.n_ops
        # each output with its reading units (None: a graph output, always exposed)
        self.outputs = tuple((o, frozenset(unit_of.get(c, c) if c is not OUTPUT else None
                                           for c, _ in fgraph.clients[o]))
                             for o in root.outputs)
        return self

    def joined(self, partners, position):
        """The union with ``partners``, or None where the positions do not certify
        it acyclic or a limit is passed."""
        if not partners:
            return None
        parts = [self, *partners]
        n_ops = sum(p.n_ops for p in parts)
        if n_ops > MAX_MERGED_OPS:
            return None
        members = frozenset().union(*(p.members for p in parts))
        lo = max((_first_outside(p.producers, members, -1) for p in parts))
        hi = min((_first_outside(p.readers, members, len(position)) for p in parts))
        if lo >= hi:
            return None
        inputs = frozenset(v for p in parts for v in p.inputs if v.owner not in members)
        if len(inputs) >= MAX_KERNEL_OPERANDS:
            return None
        outputs = tuple(e for p in parts for e in p.outputs if not e[1] <= members)
        if len(outputs) > MAX_MERGED_OUTPUTS:
            return None
        new = _Group()
        new.members, new.inputs, new.n_ops, new.outputs = members, inputs, n_ops, outputs
        new.order = tuple(sorted(i for p in parts for i in p.order))
        new.producers = sorted((e for p in parts for e in p.producers if e[1] not in members),
                               key=_first, reverse=True)
        new.readers = sorted((e for p in parts for e in p.readers if e[1] not in members),
                             key=_first)
        return new


def _first(entry):
    return entry[0]


def _first_outside(entries, members, default):
    """The position of the first entry whose node is not in ``members``."""
    for pos, node in entries:
        if node not in members:
            return pos
    return default


def _partner_groups(fgraph, group, group_of) -> list:
    """The groups of the elementwise readers of ``group`` with its shape pattern."""
    pattern = None
    found: list = []
    for _, client in group.readers:
        other = group_of.get(client)
        if other is None or other is group or other in found:
            continue
        if pattern is None:
            pattern = broadcast_pattern(next(iter(group.members)).outputs[0])
        if broadcast_pattern(client.outputs[0]) == pattern:
            found.append(other)
    return found


def build_merged(fgraph, group) -> bool:
    """Replace the nodes of ``group`` (in topological order) by one node; False (graph
    unchanged) where the merged node's types do not fit."""
    members = set(group)
    exposed = [out for member in group for out in member.outputs
               if any(c not in members for c, _ in fgraph.clients[out])]
    comp, in_vars = build_composite(group, exposed)
    if not in_vars or len(in_vars) + len(exposed) > MAX_KERNEL_OPERANDS:
        return False
    ndim = group[0].outputs[0].ndim
    with inherit_trace(group[-1].tag.trace):     # the user's line of the last member
        new_outs = Elemwise(comp).make_node(*[as_input(v, ndim) for v in in_vars]).outputs
    for old, new in zip(exposed, new_outs):
        if new.type != old.type and old.type.convert_variable(new) is None:
            return False
    for old, new in zip(exposed, new_outs):
        new.name = old.name
        fgraph.replace(old, new, reason="fuse_siblings")
    return True


__all__ = ["Unit", "build_merged", "plan_merges"]
