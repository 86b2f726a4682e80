"""The inplace pass: let ops write their result into an input's buffer.

Runs last in the pipeline.  For each node, in schedule order, it tries the
in-place form and keeps it only if the graph's ``DestroyHandler`` validates it
(the rewrite engine reverts a rejected attempt), and at the end checks the whole
result from scratch (``_settle``):

* ``Elemwise`` (``Composite`` included) overwrites an input of the output's
  dtype and static shape; inputs that are shared variables updated by this very
  node are tried first, so an update ``w - lr*g`` is computed in ``w``'s buffer;
* any op whose ``inplace_variant()`` returns an op (gemm, set_subtensor, ...).
"""

from __future__ import annotations

from collections import Counter

from theanine.graph.basic import Apply, Constant
from theanine.graph.destroyhandler import attach_destroy_handler
from theanine.graph.rewriting.basic import GraphPass, apply_replacements
from theanine.graph.rewriting.pipeline import replace_pass
from theanine.graph.rewriting.reasons import decline, reasons_wanted
from theanine.graph.utils import inherit_trace
from theanine.tensor.elemwise import Elemwise


def _elemwise_choices(fgraph, node, handler):
    """``(output, input position)`` pairs an Elemwise could compute in place: each
    output's candidates best first, outputs in order.  What does not depend on the
    output (constants, repeated inputs, the buffer checks) is decided once per input:
    a merged node has up to 4 outputs and 29 inputs.  The buffer checks (order
    searches in the destroy handler) run in the candidates' order, as they are
    asked for: the caller stops at the first pair that validates, and checking every
    input first was 5% of a 10,000-layer gradient's compile."""
    why = reasons_wanted()      # explain_rewrite is listening: say why inputs are skipped
    inputs = node.inputs
    eligible = []
    seen: set = set()
    for pos, inp in enumerate(inputs):
        if isinstance(inp, Constant):
            why and decline(f"input {pos} is a constant", node)
        elif inp not in seen:
            seen.add(inp)
            eligible.append((pos, inp))
    updated = {fgraph.outputs[k] for k in handler.updates.values()}
    checked: dict = {}
    for index, out in enumerate(node.outputs):
        out_type = out.type
        update_of_out = out in updated
        cands = []
        for pos, inp in eligible:
            if inp.type is not out_type and inp.type != out_type:
                why and decline(f"input {pos} ({inp.type}) is not of the output's type "
                                f"{out_type}", node)
                continue
            priority = 0 if (update_of_out and inp in handler.updates) else (
                1 if len(fgraph.clients[inp]) == 1 else 2)
            cands.append((priority, pos, inp))
        cands.sort()        # (positions differ: the variables are never compared)
        for _, pos, inp in cands:
            ok = checked.get(pos)
            if ok is None:
                ok = checked[pos] = _buffer_free(fgraph, node, handler, pos, inp, why)
            if ok:
                yield index, pos


def _buffer_free(fgraph, node, handler, pos, inp, why) -> bool:
    """Whether ``node`` may overwrite input ``pos``'s buffer as the graph stands."""
    if not handler.may_destroy(fgraph, inp):
        why and decline(f"input {pos} may not be overwritten: it is a constant, a function "
                        "input not marked In(x, mutable=True), or a buffer another node "
                        "overwrites", node)
        return False
    if not handler.may_run_last(fgraph, node, inp):
        why and decline(f"input {pos} is read by another node that must run after this "
                        "one", node)
        return False
    return True


def _try(fgraph, node, new_node, name) -> bool:
    pairs = [(o, n) for o, n in zip(node.outputs, new_node.outputs)]
    for (old, new) in pairs:
        new.name = old.name
    return apply_replacements(fgraph, node, pairs, name)


def make_inplace(fgraph) -> Counter:
    """The pass body: returns how many nodes of each kind became in-place."""
    counts: Counter = Counter()
    handler = attach_destroy_handler(fgraph)
    made: list = []          # (in-place node, the op it replaced), in the order taken
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes or node.op.destroy_map:
            continue
        op = node.op
        if isinstance(op, Elemwise):
            # one output overwrites one input (a merged node: the first output that can)
            for k, pos in _elemwise_choices(fgraph, node, handler):
                new_op = Elemwise(op.scalar_op, {k: pos}, name=op.name)
                with inherit_trace(node.tag.trace):
                    new_node = Apply(new_op, list(node.inputs),
                                     [o.type() for o in node.outputs])
                if _try(fgraph, node, new_node, "inplace_elemwise"):
                    counts["inplace_elemwise"] += 1
                    made.append((new_node, op))
                    break
            continue
        variant = op.inplace_variant()
        if variant is None:
            continue
        with inherit_trace(node.tag.trace):
            new_node = variant.make_node(*node.inputs)
        if _try(fgraph, node, new_node, f"inplace_{type(op).__name__.lower()}"):
            counts[f"inplace_{type(op).__name__.lower()}"] += 1
            made.append((new_node, op))
    _settle(fgraph, handler, made, counts)
    return counts


def _settle(fgraph, handler, made, counts) -> None:
    """Check the result from scratch, undoing the latest in-place forms while it
    fails, and restart the handler's bookkeeping from the final graph.

    The incremental checks can miss a conflict that graph changes made after a
    destroyer was checked (a body that came in with in-place nodes of its own:
    two of them overwriting slices of one buffer were seen in about one LSTM
    gradient compile of ten); a missed conflict would leave no executable order.
    """
    while made and not handler.consistent(fgraph):
        node, op = made.pop()
        if node not in fgraph.apply_nodes:
            continue
        with inherit_trace(node.tag.trace):
            plain = op.make_node(*node.inputs)
        for old, new in zip(node.outputs, plain.outputs):
            new.name = old.name
            fgraph.replace(old, new, reason="inplace_undone")
        counts["inplace_undone"] += 1
    handler.on_attach(fgraph)


replace_pass("inplace", GraphPass("inplace", make_inplace, tags=("fast_run", "inplace"),
                                  rules=("inplace_elemwise", "inplace_gemm", "inplace_gemv",
                                         "inplace_ger", "inplace_incsubtensor",
                                         "inplace_undone")))
