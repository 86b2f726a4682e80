"""The engine pieces this branch adds: patterns, matchers, rule selection by mode/flags."""

import numpy as np
import pytest
from rewrite_helpers import REWRITE, compile_both, fired, op_names

import theanine as th
import theanine.tensor as tt
from theanine.graph.fg import FunctionGraph
from theanine.graph.rewriting.basic import EquilibriumPass
from theanine.scalar import basic as ts
from theanine.tensor.rewriting.utils import (
    PatternRule,
    Var,
    as_replacement,
    constant_value,
    is_constant_value,
    known_nonnegative,
    match,
)


def test_is_constant_value_sees_through_broadcasting():
    x = tt.dmatrix("x")
    one = tt.constant(1.0).dimshuffle("x", "x")
    assert one.owner is not None and is_constant_value(one, 1)
    assert is_constant_value((x + 1).owner.inputs[1], 1)  # a [[1.]] constant
    assert not is_constant_value(one, 2) and not is_constant_value(x, 1)
    assert constant_value(tt.constant(np.array([3.0, 3.0]))) == 3.0
    assert constant_value(tt.constant(np.array([3.0, 4.0]))) is None


def test_match_binds_names_and_tries_both_orders():
    x, y = tt.dvectors("x", "y")
    assert match(1 + tt.exp(x), (ts.add, (ts.exp, "u"), 1)) == {"u": x}
    assert match(x * x, (ts.mul, "a", "a")) == {"a": x}
    assert match(x * y, (ts.mul, "a", "a")) is None
    assert match(x - 1, (ts.sub, 1, "a")) is None         # sub is not commutative
    assert match(tt.exp(x), (ts.exp, Var("v", known_nonnegative))) is None
    assert match(tt.exp(tt.abs(x)), (ts.exp, Var("v", known_nonnegative))) is not None


def test_pattern_rule_in_a_pass_of_its_own():
    x = tt.dvector("x")
    rule = PatternRule((ts.mul, "x", 2), (ts.add, "x", "x"), name="double")
    rewrite = EquilibriumPass("test")
    rewrite.register(rule)
    fg = FunctionGraph([x], [x * 2])
    report = rewrite.apply(fg)
    assert report.applied["double"] == 1
    (node,) = fg.toposort()
    assert node.op.scalar_op == ts.add and node.inputs[0] is node.inputs[1]
    fg2 = FunctionGraph([x], [x * 3])
    assert rewrite.apply(fg2).applied["double"] == 0


def test_as_replacement_refuses_a_type_change():
    x = tt.dvector("x")
    assert as_replacement(x, tt.ivector("i")) is None               # would lose precision
    i = tt.ivector("i")
    widened = as_replacement(i, tt.cast(i, "float64"))
    assert widened is not None and widened.dtype == "float64"
    row = tt.TensorType("float64", (1, None))("row")
    assert as_replacement(row, tt.dmatrix("m")) is None            # would broadcast


def test_mode_excluding_a_rule_by_name_and_by_flag():
    x = tt.dmatrix("x")
    out = tt.log(1 + tt.exp(x))
    assert fired(th.function([x], out, mode=REWRITE))["log(add(1, exp(x))) -> softplus(x)"]
    off = REWRITE.excluding("log(add(1, exp(x))) -> softplus(x)",
                            "log1p(exp(x)) -> softplus(x)")
    f = th.function([x], out, mode=off)
    assert "softplus" not in op_names(f) and "log1p" in op_names(f)
    with th.change_flags(optimizer_excluding="stabilize"):
        f = th.function([x], out, mode=REWRITE)
    assert "softplus" not in op_names(f) and "log1p" not in op_names(f)
    f = th.function([x], out, mode=REWRITE.excluding("stabilize"))
    assert op_names(f) == ["exp", "add", "log"]


@pytest.mark.parametrize("optimizer, passes", [
    ("fast_run", {"merge1", "canonicalize", "stabilize", "specialize", "merge2"}),
    ("fast_compile", {"merge1", "canonicalize", "merge2"}),
    ("merge", {"merge1", "merge2"}),
    (None, set()),
])
def test_optimizer_names_select_passes(optimizer, passes):
    x = tt.dvector("x")
    mode = th.Mode(linker="py", optimizer=optimizer).excluding("fusion", "inplace", "scan")
    f = th.function([x], tt.log(1 + x) * 1, mode=mode)
    ran = {p.name for p in f.maker.rewrite_report.passes} if f.maker.rewrite_report else set()
    assert ran == passes


def test_fast_compile_mode_canonicalizes_but_does_not_stabilize():
    x = tt.dvector("x")
    f = th.function([x], tt.log(1 + x) * 1, mode="FAST_COMPILE")
    assert op_names(f) == ["add", "log"]
    f = th.function([x], tt.log(1 + x) * 1, mode="FAST_RUN")
    assert fired(f)["log(add(1, x)) -> log1p(x)"] == 1


def test_every_pass_reports_time_and_counts():
    x = tt.dvector("x")
    f, _, counts = compile_both([x], tt.log(1 + x) * 1)
    report = f.maker.rewrite_report
    assert all(p.time >= 0 for p in report.passes)
    assert "log1p" in report.summary() and counts["mul(x, 1) -> x"] == 1


def test_a_rule_is_not_offered_nodes_while_a_kind_it_needs_is_missing():
    """``needs``: a pass skips the rule on a graph without a sigmoid (a pattern rule
    derives its needs from the pattern's inner heads)."""
    from theanine.graph.rewriting.basic import Rule
    from theanine.tensor.elemwise import Elemwise
    tried = []

    def record(fgraph, node):
        tried.append(node)

    rewrite = EquilibriumPass("test")
    rewrite.register(Rule(record, [Elemwise], "record", needs=(ts.Sigmoid,)))
    x = tt.dvector("x")
    rewrite.apply(FunctionGraph([x], [tt.exp(x) * 2.0]))
    assert tried == []
    rewrite.apply(FunctionGraph([x], [tt.nnet.sigmoid(x) * 2.0]))
    assert len(tried) == 2
    deep = PatternRule((ts.add, (ts.exp, (ts.neg, "x")), -1), "x")
    assert deep.needs == (ts.Exp, ts.Neg) and not deep.adjacent
    near = PatternRule((ts.add, (ts.exp, "x"), -1), "x")
    assert near.needs == (ts.Exp,) and near.adjacent
    assert PatternRule((ts.mul, "x", 1), "x").needs == ()


def test_a_need_given_as_a_tuple_is_met_by_any_of_its_kinds():
    from theanine.graph.rewriting.basic import Rule
    from theanine.tensor.elemwise import Elemwise
    tried = []

    def record(fgraph, node):
        tried.append(node)

    rewrite = EquilibriumPass("test")
    rewrite.register(Rule(record, [Elemwise], "record", needs=((ts.Sigmoid, ts.Log),)))
    x = tt.dvector("x")
    rewrite.apply(FunctionGraph([x], [tt.exp(x) * 2.0]))
    assert tried == []
    rewrite.apply(FunctionGraph([x], [tt.log(x) * 2.0]))
    assert len(tried) == 2
    rewrite.apply(FunctionGraph([x], [tt.nnet.sigmoid(x) * 2.0]))
    assert len(tried) == 4


def test_a_rule_wakes_when_a_rewrite_brings_the_kind_it_needs():
    """The mul is visited first, while the graph has no sigmoid; once a rewrite makes
    one (elsewhere in the graph), the mul is offered to the rule again."""
    from theanine.graph.rewriting.basic import Rule
    rewrite = EquilibriumPass("test")
    rewrite.register(PatternRule((ts.exp, "x"), (ts.sigmoid, "x"), name="exp_to_sigmoid"))

    def mul_to_add(fgraph, node):
        return [tt.add(*node.inputs)]

    rewrite.register(Rule(mul_to_add, [tt.elemwise.Elemwise(ts.mul)], "mul_to_add",
                          needs=(ts.Sigmoid,)))
    x, y = tt.dvectors("x", "y")
    fg = FunctionGraph([x, y], [x * y, tt.exp(x)])
    assert fg.toposort()[0].op.scalar_op == ts.mul
    report = rewrite.apply(fg)
    assert report.applied["exp_to_sigmoid"] == 1 and report.applied["mul_to_add"] == 1
    assert sorted(n.op.scalar_op.name for n in fg.toposort()) == ["add", "sigmoid"]


def test_an_adjacent_rule_woken_by_a_new_kind_sees_only_the_nodes_revisited_anyway():
    """``adjacent``: the needed kind computes an input of the matched node, so the new
    node's readers (revisited after any rewrite) are all it is offered."""
    from theanine.graph.rewriting.basic import Rule
    offered = []

    def record(fgraph, node):
        offered.append(node)

    rewrite = EquilibriumPass("test")
    rewrite.register(PatternRule((ts.exp, "x"), (ts.sigmoid, "x"), name="exp_to_sigmoid"))
    rewrite.register(Rule(record, [tt.elemwise.Elemwise(ts.mul)], "record",
                          needs=(ts.Sigmoid,), adjacent=True))
    x, y = tt.dvectors("x", "y")
    fg = FunctionGraph([x, y], [x * y, tt.exp(x) * y])
    rewrite.apply(fg)
    (reader,) = [n for n in fg.toposort()
                 if n.op.scalar_op == ts.mul and n.inputs[0].owner is not None]
    assert offered == [reader]          # not the other product, read before the sigmoid


def test_a_constant_inputs_rule_is_offered_only_nodes_of_constant_inputs_first():
    """``constant_inputs``: the first sweep offers such a rule only nodes whose inputs
    are all constants (when it is a node's only rule); a node a rewrite changes later
    is offered it again, and ``explain_rewrite`` (reasons wanted) sees every node."""
    from theanine.graph.rewriting.basic import Rule
    from theanine.graph.rewriting.reasons import collecting_reasons
    tried = []

    def record(fgraph, node):
        tried.append(str(node.op))

    def fold_exp(fgraph, node):
        if isinstance(node.inputs[0], th.graph.basic.Constant):
            return [tt.constant(np.exp(node.inputs[0].data))]
        return None

    x = tt.dscalar("x")
    rewrite = EquilibriumPass("test")
    rewrite.register(Rule(record, (), "record", constant_inputs=True))
    rewrite.register(Rule(fold_exp, [tt.exp(x).owner.op], "fold_exp"))
    out = tt.exp(tt.constant(0.0)) + x * 2.0
    rewrite.apply(FunctionGraph([x], [out]))
    # exp (its other rule) is visited; add and mul (only the constant rule) are not,
    # until folding exp changed the add's input
    assert tried == ["Elemwise{exp}", "Elemwise{add}"]
    tried.clear()
    with collecting_reasons():
        rewrite.apply(FunctionGraph([x], [out]))
    assert sorted(tried) == ["Elemwise{add}", "Elemwise{exp}", "Elemwise{mul}"]


def test_a_pass_asks_whether_a_rule_tracks_an_op_once_per_op_value():
    from theanine.graph.rewriting.basic import Rule

    class CountingFilter:
        asked = []

        def matches_op(self, op):
            self.asked.append(op)
            return False

    x = tt.dmatrix("x")
    # equal ops as distinct objects: Elemwise instances the user made one by one
    exps = [th.tensor.elemwise.Elemwise(ts.exp) for _ in range(3)]
    assert exps[0] is not exps[1] and exps[0] == exps[1]
    out = exps[2](exps[1](exps[0](x)))
    rewrite = EquilibriumPass("test")
    rewrite.register(Rule(lambda fg, node: None, [CountingFilter()], "never"))
    rewrite.apply(FunctionGraph([x], [out]))
    assert CountingFilter.asked == [exps[0]]
