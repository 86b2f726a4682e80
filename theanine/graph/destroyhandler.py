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
* no alias is a graph output (its value is returned after the body runs), and
* every other reader can run before it: ``orderings()`` adds those edges and
  ``validate`` rejects a graph where they close a cycle.

``validate`` raises ``InconsistencyError`` naming the node and the reason, which
makes the rewrite engine revert the in-place rewrite that caused it.
"""

from __future__ import annotations

from theanine.graph.basic import Constant, Variable, io_toposort
from theanine.graph.fg import OUTPUT, Feature, InconsistencyError


def view_source(var: Variable) -> Variable | None:
    """The input ``var`` is a view of, or None."""
    node = var.owner
    if node is None:
        return None
    for out_idx, in_idxs in node.op.view_map.items():
        if node.outputs[out_idx] is var and in_idxs:
            return node.inputs[in_idxs[0]]
    return None


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

    Validation is incremental, so the inplace pass stays near-linear: a
    destroyer is (re)checked when it is new or when a node starts reading its
    buffer, and the global cycle check (a toposort with the ordering edges) runs
    only when a checked destroyer has other readers or a rewrite added data
    edges while some destroyer has readers.
    """

    def __init__(self, mutable=(), updates=None):
        self.mutable = set(mutable)
        self.updates = dict(updates or {})
        self._reset()

    def _reset(self):
        self.destroyers: set = set()
        self._owner: dict = {}       # destroyed root -> destroyer (checked ones)
        self._before: dict = {}      # destroyer -> readers that must run first
        self._pending: set = set()   # destroyers to (re)check
        self._with_readers: set = set()
        self._edges_changed = False

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
        if node.op.destroy_map:
            self.destroyers.add(node)
            self._pending.add(node)
        if self.destroyers:
            for inp in node.inputs:
                self._touch(inp)

    def on_prune(self, fgraph, node, reason):
        if node in self.destroyers:
            self.destroyers.discard(node)
            self._pending.discard(node)
            self._before.pop(node, None)
            self._with_readers.discard(node)
            for root in [r for r, d in self._owner.items() if d is node]:
                del self._owner[root]

    def on_change_input(self, fgraph, node, i, old, new, reason):
        if not self.destroyers:
            return
        self._touch(new)
        # swapping a node for one with the same inputs (the in-place form)
        # rewires its clients without adding dependencies
        same = (old.owner is not None and new.owner is not None and old.index == new.index
                and old.owner.inputs == new.owner.inputs)
        if not same:
            self._edges_changed = True
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

    def check_destroyer(self, fgraph, node, out_idx: int, root: Variable) -> None:
        """Raise InconsistencyError if ``node`` may not overwrite ``root``'s buffer."""
        where = f"{node.op} (output {out_idx} overwrites the buffer of {root})"
        if isinstance(root, Constant):
            raise InconsistencyError(f"{where}: it is a constant")
        if root.owner is None and root not in self.mutable:
            upd = self.updates.get(root)
            if upd is None or fgraph.outputs[upd] is not node.outputs[out_idx]:
                raise InconsistencyError(
                    f"{where}: it is a function input; mark it In(x, mutable=True) to "
                    "allow overwriting it")
        aliases = self.aliases(fgraph, root)
        for alias in aliases:
            if any(c == OUTPUT for c, _ in fgraph.clients.get(alias, ())):
                raise InconsistencyError(f"{where}: {alias} is also a graph output, "
                                         "needed after the body has run")
        destroyed = {node.inputs[i] for o, i in destroyed_inputs(node) if o == out_idx}
        alias_set = set(aliases)
        for pos, inp in enumerate(node.inputs):
            if inp in alias_set and inp not in destroyed:
                raise InconsistencyError(f"{where}: input {pos} ({inp}) reads the same "
                                         "buffer through another view")

    # -- Feature hooks --------------------------------------------------------------
    def validate(self, fgraph):
        if not self.destroyers:
            self._edges_changed = False
            return
        new_readers = False
        for node in list(self._pending):
            if node not in fgraph.apply_nodes:
                self._pending.discard(node)
                continue
            readers: list = []
            for out_idx, _, root in self._destroyed_roots(node):
                other = self._owner.get(root)
                if other is not None and other is not node and other in fgraph.apply_nodes:
                    raise InconsistencyError(f"{node.op} and {other.op} both overwrite the "
                                             f"buffer of {root}")
                self.check_destroyer(fgraph, node, out_idx, root)
                readers.extend(r for r in self.readers(fgraph, node, root)
                               if r not in readers)
            for _, _, root in self._destroyed_roots(node):
                self._owner[root] = node
            self._before[node] = readers
            if readers:
                self._with_readers.add(node)
            else:
                self._with_readers.discard(node)
            self._pending.discard(node)
            new_readers = new_readers or bool(readers)
        if new_readers or (self._edges_changed and self._with_readers):
            try:
                io_toposort(fgraph.inputs, fgraph.outputs, self.orderings(fgraph))
            except ValueError as exc:
                raise InconsistencyError(
                    f"an in-place node would overwrite a value that a later node still "
                    f"reads ({exc})") from None
        self._edges_changed = False

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
