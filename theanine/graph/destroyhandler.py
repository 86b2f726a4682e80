"""Destroy/view bookkeeping: which in-place operations a FunctionGraph allows.

Ops declare aliasing: ``view_map`` (an output is a view of an input) and
``destroy_map`` (an output is written into an input's buffer).  A *buffer* is
named by its root: follow view_map edges upwards until a value that is not a
view.  Every value reachable from the root through views is an *alias*; a node
that reads an alias is a *reader*.

A destroyer is legal when

* no other node destroys the same buffer,
* the buffer is not a Constant, nor a graph input unless the compile layer
  marked it mutable (``In(x, mutable=True)``) or it is a shared variable whose
  update value is the destroyer's own output,
* no alias is a graph output (its value is returned after the body runs),
* the destroyed value is not a view of one of several inputs (an ``ifelse``
  output: the buffer it shares is chosen at run time), and
* every other reader can run before it: ``orderings()`` adds those edges and
  ``validate`` rejects a graph where they close a cycle.

``validate`` raises ``InconsistencyError`` naming the node and the reason, which
makes the rewrite engine revert the in-place rewrite that caused it.
"""

from __future__ import annotations

import math

from theanine.graph.basic import Constant, Variable, io_toposort
from theanine.graph.fg import OUTPUT, Feature, InconsistencyError


def _viewed(var: Variable) -> list:
    """The inputs ``var`` may be a view of (several: one is chosen at run time)."""
    node = var.owner
    if node is not None:
        for out_idx, in_idxs in node.op.view_map.items():
            if node.outputs[out_idx] is var and in_idxs:
                return [node.inputs[i] for i in in_idxs]
    return []


def view_source(var: Variable) -> Variable | None:
    """The input ``var`` is a view of, or None."""
    viewed = _viewed(var)
    return viewed[0] if viewed else None


def views_several(var: Variable) -> bool:
    """Whether ``var``, or a value it views, is a view of one of several inputs
    (an ``ifelse`` output is a view of its then- or its else-value): which buffer
    it shares is known only when the function runs, so it is never overwritten."""
    while True:
        viewed = _viewed(var)
        if len(viewed) != 1:
            return len(viewed) > 1
        var = viewed[0]


def buffer_root(var: Variable) -> Variable:
    """The value whose memory ``var`` shares through a chain of views."""
    while True:
        src = view_source(var)
        if src is None:
            return var
        var = src


def destroyed_inputs(node) -> list[tuple[int, int]]:
    """``(output index, input index)`` pairs of the node's destroy_map."""
    return [(o, i) for o, ins in node.op.destroy_map.items() for i in ins]


class DestroyHandler(Feature):
    """Tracks destroyers and vetoes clobbering; see the module docstring.

    ``mutable`` are graph inputs the caller lets the function overwrite;
    ``updates`` maps a shared-variable graph input to the index of the graph
    output holding its new value.

    Validation is incremental, so the inplace pass stays linear: a destroyer is
    (re)checked when it is new or when a node starts reading its buffer, and the
    cycle check uses positions in a topological order of the graph with its
    ordering edges.  A new edge ``reader -> destroyer`` that agrees with the
    positions costs nothing; one that does not is inserted by a search bounded to
    the positions between the two (Pearce and Kelly's dynamic topological order),
    which either finds the cycle or reorders that window.  A search that would
    visit more than ``search_limit`` nodes is refused as if it had found a cycle:
    the in-place form is then not taken, which is always safe.  A rewrite that
    changes data edges (anything but swapping a node for one with the same
    inputs) drops the positions; the next check recomputes them in one toposort.
    """

    search_limit = 64

    def __init__(self, mutable=(), updates=None):
        self.mutable = set(mutable)
        self.updates = dict(updates or {})
        self._reset()

    def _reset(self):
        self.destroyers: set = set()
        self._owner: dict = {}       # destroyed root -> destroyer (checked ones)
        self._roots: dict = {}       # destroyer -> roots it owns in ``_owner``
        self._before: dict = {}      # destroyer -> readers that must run first
        self._after: dict = {}       # reader -> destroyers it must run before
        self._pending: set = set()   # destroyers to (re)check
        self._with_readers: set = set()
        self._pos: dict | None = None  # node -> position in a valid order, or unknown
        self._unplaced: set = set()    # nodes imported since, without a position

    # -- tracking ---------------------------------------------------------------
    def on_attach(self, fgraph):
        if getattr(fgraph, "destroy_handler", None) not in (None, self):
            raise ValueError("this FunctionGraph already has a destroy handler")
        fgraph.destroy_handler = self
        self._reset()
        self.destroyers = {n for n in fgraph.apply_nodes if n.op.destroy_map}
        self._pending = set(self.destroyers)

    def on_detach(self, fgraph):
        fgraph.destroy_handler = None
        self._reset()

    def _touch(self, var) -> None:
        """A node now reads ``var``: recheck the destroyer of its buffer, if any."""
        owner = self._owner.get(buffer_root(var))
        if owner is not None:
            self._pending.add(owner)

    def on_import(self, fgraph, node, reason):
        if self._pos is not None:
            self._unplaced.add(node)
        if node.op.destroy_map:
            self.destroyers.add(node)
            self._pending.add(node)
        if self.destroyers:
            for inp in node.inputs:
                self._touch(inp)

    def on_prune(self, fgraph, node, reason):
        self._unplaced.discard(node)
        for destroyer in self._after.pop(node, ()):
            before = self._before.get(destroyer)
            if before is not None and node in before:
                before.remove(node)
        if node in self.destroyers:
            self.destroyers.discard(node)
            self._pending.discard(node)
            self._set_before(node, [])
            self._with_readers.discard(node)
            for root in self._roots.pop(node, ()):
                if self._owner.get(root) is node:
                    del self._owner[root]

    def on_change_input(self, fgraph, node, i, old, new, reason):
        # swapping a node for one with the same inputs (the in-place form, or
        # back) rewires its clients without adding dependencies: the new node
        # takes the old one's position
        twin_old, twin_new = old.owner, new.owner
        if (twin_old is not None and twin_new is not None and old.index == new.index
                and twin_old.inputs == twin_new.inputs):
            if self._pos is not None and twin_new in self._unplaced and twin_old in self._pos:
                self._pos[twin_new] = self._pos[twin_old]
                self._unplaced.discard(twin_new)
        else:
            self._pos = None
            self._unplaced.clear()
        if self.destroyers:
            self._touch(new)
            if node in self.destroyers:     # what it overwrites may have changed
                self._pending.add(node)

    def _set_before(self, node, readers: list) -> None:
        for reader in self._before.pop(node, ()):
            after = self._after.get(reader)
            if after is not None:
                after.discard(node)
        if readers:
            self._before[node] = readers
            for reader in readers:
                self._after.setdefault(reader, set()).add(node)

    # -- queries ------------------------------------------------------------------
    def aliases(self, fgraph, root: Variable) -> list[Variable]:
        """``root`` and every value viewing it (through view_map, any depth)."""
        found, stack, seen = [], [root], {root}
        while stack:
            var = stack.pop()
            found.append(var)
            for client, pos in fgraph.clients.get(var, ()):
                if client == OUTPUT:
                    continue
                for out_idx, in_idxs in client.op.view_map.items():
                    if pos in in_idxs:
                        out = client.outputs[out_idx]
                        if out not in seen:
                            seen.add(out)
                            stack.append(out)
        return found

    def readers(self, fgraph, node, root: Variable) -> list:
        """Nodes other than ``node`` that read the buffer of ``root`` (in a fixed order)."""
        result, seen = [], {node}
        for alias in self.aliases(fgraph, root):
            for client, _ in fgraph.clients.get(alias, ()):
                if client != OUTPUT and client not in seen:
                    seen.add(client)
                    result.append(client)
        return result

    def _destroyed_roots(self, node):
        for out_idx, in_idx in destroyed_inputs(node):
            yield out_idx, in_idx, buffer_root(node.inputs[in_idx])

    def may_destroy(self, fgraph, var: Variable) -> bool:
        """A cheap necessary condition for a new node to overwrite ``var``'s
        buffer: not a constant, not a function input it may not touch, not owned
        by another destroyer.  (``validate`` still decides.)"""
        root = buffer_root(var)
        if isinstance(root, Constant) or views_several(var):
            return False
        if root.owner is None and root not in self.mutable and root not in self.updates:
            return False
        owner = self._owner.get(root)
        return owner is None or owner not in fgraph.apply_nodes

    def check_destroyer(self, fgraph, node, out_idx: int, root: Variable) -> None:
        """Raise InconsistencyError if ``node`` may not overwrite ``root``'s buffer."""
        def refuse(why):
            raise InconsistencyError(
                f"{node.op} (output {out_idx} overwrites the buffer of {root}): {why}")

        if isinstance(root, Constant):
            refuse("it is a constant")
        if root.owner is None and root not in self.mutable:
            upd = self.updates.get(root)
            if upd is None or fgraph.outputs[upd] is not node.outputs[out_idx]:
                refuse("it is a function input; mark it In(x, mutable=True) to allow "
                       "overwriting it")
        aliases = self.aliases(fgraph, root)
        for alias in aliases:
            if any(c == OUTPUT for c, _ in fgraph.clients.get(alias, ())):
                refuse(f"{alias} is also a graph output, needed after the body has run")
        destroyed = {node.inputs[i] for o, i in destroyed_inputs(node) if o == out_idx}
        alias_set = set(aliases)
        for pos, inp in enumerate(node.inputs):
            if inp in alias_set and inp not in destroyed:
                refuse(f"input {pos} ({inp}) reads the same buffer through another view")

    # -- Feature hooks --------------------------------------------------------------
    def validate(self, fgraph):
        if not self.destroyers:
            return
        checked = []
        for node in list(self._pending):
            if node not in fgraph.apply_nodes:
                self._pending.discard(node)
                continue
            readers: list = []
            roots = []
            for root in self._roots.pop(node, ()):      # ownership recorded earlier
                if self._owner.get(root) is node:
                    del self._owner[root]
            for out_idx, in_idx, root in self._destroyed_roots(node):
                if views_several(node.inputs[in_idx]):
                    raise InconsistencyError(
                        f"{node.op} (output {out_idx}) would overwrite {node.inputs[in_idx]}, "
                        "a view of one of several buffers (an ifelse output): which one is "
                        "known only at run time")
                other = self._owner.get(root)
                if other is not None and other is not node and other in fgraph.apply_nodes \
                        and any(r is root for _, _, r in self._destroyed_roots(other)):
                    raise InconsistencyError(f"{node.op} and {other.op} both overwrite the "
                                             f"buffer of {root}")
                self.check_destroyer(fgraph, node, out_idx, root)
                roots.append(root)
                readers.extend(r for r in self.readers(fgraph, node, root)
                               if r not in readers)
            for root in roots:
                self._owner[root] = node
            self._roots[node] = roots
            self._set_before(node, readers)
            if readers:
                self._with_readers.add(node)
                checked.append(node)
            else:
                self._with_readers.discard(node)
            self._pending.discard(node)
        if not self._with_readers:
            return
        if self._pos is not None and self._unplaced:
            self._pos = None
        if self._pos is None:
            self._compute_positions(fgraph, skip=set(checked))
        pos = self._pos
        for node in checked:
            for reader in self._before.get(node, ()):
                if pos[reader] > pos[node]:
                    self._insert_edge(fgraph, reader, node)

    def _compute_positions(self, fgraph, skip) -> None:
        """Positions from one toposort honouring the ordering edges of the
        destroyers not in ``skip`` (those checked before, so it succeeds)."""
        orderings = {d: r for d, r in self.orderings(fgraph).items() if d not in skip}
        try:
            order = io_toposort(fgraph.inputs, fgraph.outputs, orderings)
        except ValueError as exc:
            raise InconsistencyError(
                f"an in-place node would overwrite a value that a later node still "
                f"reads ({exc})") from None
        self._pos = {node: i for i, node in enumerate(order)}
        self._unplaced.clear()

    def _successors(self, fgraph, node) -> list:
        found = [c for out in node.outputs for c, _ in fgraph.clients.get(out, ())
                 if c != OUTPUT]
        found.extend(self._after.get(node, ()))
        return found

    def _predecessors(self, fgraph, node) -> list:
        nodes = fgraph.apply_nodes
        found = [i.owner for i in node.inputs if i.owner is not None and i.owner in nodes]
        found.extend(self._before.get(node, ()))
        return found

    def _window(self, fgraph, start, step, low, high, target, destroyer, reader) -> list:
        """Nodes reached from ``start`` through ``step`` (data and ordering edges, one
        way) whose positions lie in ``[low, high]``; raises on reaching ``target``
        (a cycle) or on visiting more than ``search_limit`` nodes."""
        pos, limit = self._pos, self.search_limit
        found, stack, seen = [start], [start], {start}
        while stack:
            for nxt in step(fgraph, stack.pop()):
                if nxt is target:
                    self._refuse(destroyer, reader, True)
                if nxt not in seen and low <= pos[nxt] <= high:
                    if len(seen) >= limit:
                        self._refuse(destroyer, reader, False)
                    seen.add(nxt)
                    found.append(nxt)
                    stack.append(nxt)
        return found

    @staticmethod
    def _refuse(destroyer, reader, cycle: bool):
        raise _OrderRefused(destroyer, reader, cycle)

    def may_run_last(self, fgraph, node, var: Variable) -> bool:
        """Whether ``node`` could run after every other reader of ``var``'s buffer
        (the other condition for overwriting it), judged on the current order
        without changing anything; True when the order is not known yet."""
        pos = self._pos
        if pos is None or self._unplaced or node not in pos:
            return True
        for reader in self.readers(fgraph, node, buffer_root(var)):
            if pos[reader] > pos[node]:
                try:
                    self._insert_edge(fgraph, reader, node, commit=False)
                except InconsistencyError:
                    return False
        return True

    def _insert_edge(self, fgraph, reader, destroyer, commit=True) -> None:
        """Make the order run ``reader`` before ``destroyer`` (now after it); with
        ``commit=False`` only check that it can."""
        pos = self._pos
        low, high = pos[destroyer], pos[reader]
        later = self._window(fgraph, destroyer, self._successors, -math.inf, high, reader,
                             destroyer, reader)
        earlier = self._window(fgraph, reader, self._predecessors, low, math.inf, destroyer,
                               destroyer, reader)
        if not commit:
            return
        earlier.sort(key=pos.__getitem__)
        later.sort(key=pos.__getitem__)
        slots = sorted(pos[n] for n in earlier + later)
        for node, slot in zip(earlier + later, slots):
            pos[node] = slot

    def consistent(self, fgraph) -> bool:
        """A check from scratch, independent of the incremental bookkeeping: no two
        destroyers share a buffer and the orderings leave an executable order."""
        fresh = DestroyHandler(self.mutable, self.updates)
        fresh.destroyers = {n for n in fgraph.apply_nodes if n.op.destroy_map}
        fresh._pending = set(fresh.destroyers)
        owner: dict = {}
        for node in fresh.destroyers:
            for _, _, root in fresh._destroyed_roots(node):
                if owner.setdefault(root, node) is not node:
                    return False
        try:
            io_toposort(fgraph.inputs, fgraph.outputs, fresh.orderings(fgraph))
        except ValueError:
            return False
        return True

    def orderings(self, fgraph) -> dict:
        """Every other reader of a destroyed buffer runs before its destroyer."""
        result: dict = {}
        for node in self.destroyers:
            before = self._before.get(node)
            if before is None or node in self._pending:
                before = []
                for _, _, root in self._destroyed_roots(node):
                    before.extend(r for r in self.readers(fgraph, node, root)
                                  if r not in before)
            before = [r for r in before if r in fgraph.apply_nodes]
            if before:
                result[node] = before
        return result


class _OrderRefused(InconsistencyError):
    """A reader that cannot run before a destroyer.  The message is written when
    shown: the in-place pass asks about every candidate and discards most refusals,
    and naming a fused op spells out its whole expression."""

    def __init__(self, destroyer, reader, cycle: bool):
        super().__init__()
        self.destroyer, self.reader, self.cycle = destroyer, reader, cycle

    def __str__(self) -> str:
        if self.cycle:
            return (f"an in-place node would overwrite a value that a later node still "
                    f"reads ({self.reader.op} reads it and depends on {self.destroyer.op})")
        return (f"cannot cheaply order {self.reader.op} before the in-place "
                f"{self.destroyer.op}: not taking the in-place form")


def attach_destroy_handler(fgraph, mutable=(), updates=None) -> DestroyHandler:
    """Attach a DestroyHandler (or update the attached one's mutable/updates)."""
    handler = getattr(fgraph, "destroy_handler", None)
    if handler is None:
        handler = DestroyHandler(mutable, updates)
        fgraph.attach_feature(handler)
    else:
        handler.mutable |= set(mutable)
        handler.updates.update(updates or {})
    return handler
