"""Multi-output fusion: elementwise nodes that read the same values become one node.

After the single-output groups are built, a value read by several elementwise
nodes of one broadcast pattern (a forward activation and the gradient terms that
reuse it, a prediction and its comparison) is still computed by one node and read
again by each of the others, every node a pass over memory and a call.  Here a
node and its elementwise clients are merged into one ``Elemwise(Composite)`` with
an output for every value still read outside it: one pass over the data, and a
native kernel computes shared subexpressions (``exp(-|x|)`` of a sigmoid and a
softplus) once.

Merging must not make a node depend on itself: no path may leave the merged set
and come back.  Positions in one topological order of the graph certify it: when
every producer of a value the set reads from outside comes before every outside
reader of its results, no such path exists (it would have to go from a reader
back to an earlier producer), whatever other sets are merged.  Groups are grown
on the graph as it is and each is built once; an attempt costs the edges of the
set it tries: linear in the graph.  Graphs with a lazy op (``IfElse``) are
left as they are: a value of one branch merged with a value of the other would
compute both.
"""

from __future__ import annotations

from collections import Counter

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


def merge_siblings(fgraph, mergeable) -> Counter:
    """Merge each elementwise node with its elementwise clients of the same broadcast
    pattern (``mergeable(node)``: the backend's kernels can run it), while the
    positions certify the result acyclic.  Groups are decided on the graph as it is,
    then each is built once."""
    counts: Counter = Counter()
    if any(node.op.lazy for node in fgraph.apply_nodes):
        return counts
    order = fgraph.toposort()
    position = {node: i for i, node in enumerate(order)}
    group_of = {node: _Group.of(fgraph, node, position) for node in order
                if len(node.inputs) < MAX_KERNEL_OPERANDS and mergeable(node)}
    done: set = set()           # groups that took every partner they could
    for node in order:
        group = group_of.get(node)
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
    for group in sorted(groups.values(), key=lambda g: g.order[0]):
        if _replace(fgraph, [order[i] for i in group.order]):
            counts["fuse_siblings"] += 1
    return counts


class _Group:
    """A set of nodes to merge, with what its certificate needs: the positions of
    the producers it reads from outside (highest first) and of its outside readers
    (lowest first), so that trying a union looks at a few entries, not every edge."""

    __slots__ = ("members", "order", "producers", "readers", "inputs", "n_ops", "outputs")

    @classmethod
    def of(cls, fgraph, node, position) -> _Group:
        self = cls()
        self.members = frozenset((node,))
        self.order = (position[node],)
        self.producers = sorted(((position[i.owner], i.owner) for i in node.inputs
                                 if i.owner is not None), key=_first, reverse=True)
        self.readers = sorted(((position[c], c) for o in node.outputs
                               for c, _ in fgraph.clients[o] if c is not OUTPUT),
                              key=_first)
        self.inputs = frozenset(node.inputs)
        self.n_ops = _n_ops(node)
        # each output with its reading nodes (None: a graph output, always exposed)
        self.outputs = tuple((o, frozenset(c if c is not OUTPUT else None
                                           for c, _ in fgraph.clients[o]))
                             for o in node.outputs)
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


def _replace(fgraph, group) -> bool:
    """Replace ``group`` (in topological order) by one node; False (graph unchanged)
    where the merged node's types do not fit."""
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


def _n_ops(node) -> int:
    comp = node.op.scalar_op
    return len(comp.code) if hasattr(comp, "code") else 1


__all__ = ["merge_siblings"]
