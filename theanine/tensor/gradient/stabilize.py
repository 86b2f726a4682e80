"""Differentiate a numerically stable copy of the cost.

Gradients of expressions such as ``log(1 / (1 + exp(-z)))`` written by hand are
unstable even when the forward graph is later rewritten (the gradient graph has
``g / sigmoid(z)`` factors that overflow to inf * 0).  Applying the
``canonicalize`` and ``stabilize`` passes to a copy of the cost *before*
differentiating gives gradients of the stable forms (``softplus``, ``sigmoid``),
as the tutorial's logistic regression needs.  The user's graph is not changed.

A cost without what a ``stabilize`` rule looks for (an exp, log, sigmoid, softmax:
each rule's needs and the ops it tracks) is differentiated as written, without the
copy: ``canonicalize`` only rewrites arithmetic and removes ops, so it cannot bring
one in.
"""

from __future__ import annotations

from theanine.graph.basic import ancestors, applys_between, clone_get_equiv, graph_inputs
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting.basic import RewriteError
from theanine.graph.rewriting.pipeline import Query, get_pass, run_pipeline

_PASSES = Query(frozenset({"canonicalize", "stabilize"}), name="grad-stabilize")


def stable_cost(cost, wrt):
    """A rewritten copy of ``cost`` over the same leaves, or ``cost`` itself when the
    copy cannot serve (an intermediate ``wrt``, or a rewrite dropping a dependence)."""
    if cost.owner is None or any(w.owner is not None for w in wrt):
        return cost
    nodes = applys_between([], [cost])
    if not get_pass("stabilize").could_fire(nodes):
        return cost
    leaves = graph_inputs([cost])
    equiv = clone_get_equiv(leaves, [cost], copy_inputs=False, copy_orphans=False,
                            order=nodes)        # (owner-less leaves: the same order)
    inputs = [v for v in leaves if not hasattr(v, "data")]
    try:
        fgraph = FunctionGraph(inputs, [equiv[cost]], clone=False)
        report = run_pipeline(fgraph, _PASSES)
    except (RewriteError, TypeError, ValueError):
        return cost
    if not any(p.applied for p in report.passes):
        return cost         # already stable: the user's own nodes (and no walks to check)
    new_cost = fgraph.outputs[0]
    before = set(ancestors([cost]))
    after = set(ancestors([new_cost]))
    if any(w in before and w not in after for w in wrt):
        return cost
    return new_cost
