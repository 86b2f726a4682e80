"""The rewrite trace (``config.trace_rewrites``), ``f.maker.explain`` and ``th.explain_rewrite``."""

from collections import Counter

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import get_mode
from theanine.graph.basic import Apply
from theanine.graph.destroyhandler import attach_destroy_handler
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting.basic import apply_replacements
from theanine.graph.rewriting.reasons import collecting_reasons, decline, reasons_wanted
from theanine.graph.rewriting.trace import RewriteTrace
from theanine.link.python import dispatch_fused
from theanine.tensor.elemwise import Elemwise

# single-output fusion and in-place decisions, without the multi-output merge
UNMERGED = get_mode("FAST_RUN").excluding("fuse_siblings")


def traced(inputs, outputs, **kwargs):
    with th.config.change_flags(trace_rewrites=True):
        return th.function(inputs, outputs, **kwargs)


def softplus_graph():
    x = tt.dvector("x")
    e = tt.exp(x)
    y = tt.log(1 + e)
    return x, e, y, (y * 2).sum()


def test_trace_is_off_by_default_and_explain_says_how_to_turn_it_on():
    x, e, y, z = softplus_graph()
    f = th.function([x], z)
    assert not hasattr(f.maker.fgraph, "rewrite_trace")
    assert not any(isinstance(feat, RewriteTrace) for feat in f.maker.fgraph.features)
    with pytest.raises(RuntimeError, match="trace_rewrites=True"):
        f.maker.explain(y)


def test_explain_follows_the_chain_to_what_runs():
    x, e, y, z = softplus_graph()
    f = traced([x], z)
    why = f.maker.explain(y)
    text = str(why)
    assert "stabilize/log(add(1, exp(x))) -> softplus(x)" in text
    # the fused group is built straight into the reduction when the engine reduces
    reduces = dispatch_fused.engine_name() != "numpy"
    assert ("fusion/fuse_reduce" if reduces else "fusion/fuse_elemwise") in text
    assert why.final in f.maker.fgraph.variables and why.final in f.maker.fgraph.outputs
    assert text.splitlines()[-1].startswith("runs as: ") and "softplus" in text.splitlines()[-1]
    # exp(x) is not replaced itself: it disappears into the softplus
    absorbed = str(f.maker.explain(e))
    assert "computed inside Elemwise{softplus}" in absorbed
    # an Apply explains each of its outputs; the result still computes what it did
    assert [str(w) for w in f.maker.explain(y.owner)] == [text]
    np.testing.assert_allclose(f(np.array([0.5, -2.0])),
                               2 * np.log1p(np.exp([0.5, -2.0])).sum())


def test_an_untouched_node_is_said_to_be_unchanged():
    x = tt.dmatrix("x")
    s = tt.argmax(x, axis=1)
    f = traced([x], s)
    text = str(f.maker.explain(s))
    assert "not changed by any rewrite" in text and "runs as" in text


def test_trace_matches_the_pass_reports_and_drops_reverted_attempts():
    x = tt.dvector("x")
    e = tt.exp(x)
    f = traced([x], [e * 2, e + 1],      # only one of mul/add may overwrite exp's buffer
               mode=get_mode("FAST_RUN").excluding("fuse_siblings"))
    steps = f.maker.fgraph.rewrite_trace.steps
    report = {p.name: p.applied for p in f.maker.rewrite_report.passes}
    inplace = Counter(s.rule for s in steps if s.pass_name == "inplace")
    assert inplace == report["inplace"] and sum(inplace.values()) == 1
    assert all(s.new in f.maker.fgraph.variables or s.pass_name != "inplace" for s in steps)


def test_decline_records_only_while_collecting():
    assert not reasons_wanted() and decline("no one listens") is None
    with collecting_reasons() as found:
        assert reasons_wanted()
        assert decline("because", node="n") is None
    assert found == [("n", "because")] and not reasons_wanted()


def test_why_a_pattern_rule_did_not_fire():
    x = tt.dvector("x")
    expl = th.explain_rewrite(tt.log(2 + tt.exp(x)), "log(add(1, exp(x))) -> softplus(x)")
    (finding,) = expl.findings
    assert not finding.fired
    assert finding.reasons == ["log(add(1, exp(x))) does not match: input 0 of add ([2.]) "
                               "is not the constant 1"]
    fires = th.explain_rewrite(tt.log(1 + tt.exp(x)), "log(add(1, exp(x))) -> softplus(x)")
    assert [f.fired for f in fires.findings] == [True]


def test_why_hand_written_rules_did_not_fire():
    x = tt.dvector("x")
    (finding,) = th.explain_rewrite(tt.cast(x, "float32"), "useless_cast").findings
    assert "is not itself a cast" in finding.reasons[0]
    expl = th.explain_rewrite(tt.sigmoid(x) * tt.exp(x), "sigmoid_times_exp")
    assert "no sigmoid(v) factor next to an exp(-v) factor" in str(expl)
    assert th.explain_rewrite(tt.sigmoid(x) * tt.exp(-x), "sigmoid_times_exp").findings[0].fired
    folding = th.explain_rewrite(tt.exp(x) + 1, "constant_folding")
    assert any("is not a constant" in r for f in folding.findings for r in f.reasons)


def test_why_fusion_stopped():
    x = tt.dvector("x")
    e = tt.exp(x)
    f = th.function([x], [e * 2, e.sum()], mode=UNMERGED)
    expl = th.explain_rewrite(f, "fuse_elemwise")
    stopped = {str(f.node.op): f.reasons for f in expl.declined}
    assert stopped["Elemwise{exp}"] == [
        "fusion stopped here: the output has a client outside the group"]
    fused = th.explain_rewrite(tt.exp(x) * 2, "fuse_elemwise")
    assert all(f.fired for f in fused.findings) and len(fused.findings) == 2


def test_why_a_node_is_not_in_place():
    x = tt.dvector("x")
    e = tt.exp(x)
    f = th.function([x], [e * 2, e + 1], mode=UNMERGED)
    expl = th.explain_rewrite(f, "inplace_elemwise")
    by_op = {str(f.node.op): f for f in expl.findings}
    assert "not marked In(x, mutable=True)" in by_op["Elemwise{exp}"].reasons[0]
    assert by_op["Elemwise{mul}"].fired                  # mul took exp's buffer first ...
    assert not by_op["Elemwise{add}"].fired              # ... so add may not have it too
    assert "another node overwrites" in " ".join(by_op["Elemwise{add}"].reasons)


def test_unknown_rule_names_the_known_ones():
    with pytest.raises(KeyError, match="known rules: .*useless_cast"):
        th.explain_rewrite(tt.dvector("x"), "no_such_rule")


def test_a_refused_rewrite_reports_the_handlers_reason():
    x = tt.dvector("x")
    fgraph = FunctionGraph([x], [tt.exp(x)], clone=True)
    attach_destroy_handler(fgraph)                     # x is not mutable
    (node,) = fgraph.apply_nodes
    inplace = Apply(Elemwise(node.op.scalar_op, {0: 0}), list(node.inputs),
                    [node.outputs[0].type()])
    with collecting_reasons() as found:
        accepted = apply_replacements(fgraph, node, [(node.outputs[0], inplace.outputs[0])],
                                      "inplace_elemwise")
    assert not accepted and node in fgraph.apply_nodes       # reverted
    ((where, reason),) = found
    assert where is node and reason.startswith("inplace_elemwise was refused: ")
    assert "In(x, mutable=True)" in reason
