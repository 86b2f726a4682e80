"""debugprint: the tree, ids printed once, options, compiled functions, inner graphs."""

import io

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from tests.printing.graphs import Branch, inner_graph_example, kernel
from theanine.compile.io import In
from theanine.graph.basic import Apply
from theanine.printing import char_id, debugprint, display_text, op_label
from theanine.scalar import basic as ts
from theanine.tensor.elemwise import Elemwise


def test_char_ids():
    assert [char_id(n) for n in (0, 1, 25, 26, 27, 675, 676)] == \
        ["A", "B", "Z", "BA", "BB", "ZZ", "BAA"]


def test_shared_subtree_printed_once_then_referenced():
    x = tt.dvector("x")
    e = tt.exp(x)
    text = debugprint(e + e * 2, file="str")
    assert text == (
        "Elemwise{add} [id A]\n"
        " |Elemwise{exp} [id B]\n"
        " | |x [id C]\n"
        " |Elemwise{mul} [id D]\n"
        " | |Elemwise{exp} [id B]\n"
        " | |[2] [id E]\n")


def test_file_argument_and_aliases(capsys):
    x = tt.dvector("x")
    y = tt.log(x)
    assert debugprint(y) is None
    printed = capsys.readouterr().out
    assert printed == debugprint(y, file="str") == "Elemwise{log} [id A]\n |x [id B]\n"
    buf = io.StringIO()
    debugprint(y, file=buf)
    assert buf.getvalue() == printed
    assert y.dprint() is None and capsys.readouterr().out == printed
    assert th.dprint is th.printing.debugprint
    assert y.dprint(file="str", ids="") == "Elemwise{log}\n |x\n"


def test_options():
    x = tt.dmatrix("x")
    s = (x * 2).sum(axis=0)
    s.name = "colsum"
    out = tt.exp(s) + 1
    assert debugprint(out, depth=2, file="str") == (
        "Elemwise{add} [id A]\n |Elemwise{exp} [id B]\n |[1] [id C]\n")
    stopped = debugprint(out, stop_on_name=True, file="str")
    assert " | |Sum{0} [id C] 'colsum'\n" in stopped and "|x" not in stopped
    typed = debugprint(s, print_type=True, ids="int", file="str")
    assert typed.splitlines()[0] == "Sum{0} [id 0] 'colsum' <float64 (?,)>"
    assert typed.splitlines()[2] == " | |x [id 2] <float64 (?, ?)>"
    assert "[id " + str(id(x)) + "]" in debugprint(s, ids="id", file="str")
    with pytest.raises(ValueError, match="ids must be"):
        debugprint(s, ids="hex")
    with pytest.raises(TypeError, match="item 1 of the list"):
        debugprint([s, "s"])


def test_list_apply_and_multiple_roots():
    x = tt.dvector("x")
    a, b = tt.exp(x), tt.log(x)
    text = debugprint([a, b.owner], file="str")
    assert text == "Elemwise{exp} [id A]\n |x [id B]\nElemwise{log} [id C]\n |x [id B]\n"


def test_compiled_function_shows_order_markers_and_updates():
    x = tt.dmatrix("x")
    w = th.shared(np.ones((2, 2)), name="w")
    f = th.function([x], tt.exp(x.T) * 2, updates=[(w, w - x)], name="step")
    text = f.dprint(file="str")
    lines = text.splitlines()
    assert lines[0].startswith("Elemwise{mul} [id A] #")
    assert "Transpose [id C] #0 (view of input 0)" in text
    assert any(line.endswith("(update of w)") for line in lines)
    positions = sorted(int(tok[1:]) for tok in text.split() if tok.startswith("#"))
    assert positions == list(range(len(f.maker.fgraph.toposort())))
    assert display_text(f) == text.rstrip("\n")


def test_inplace_marker_on_compiled_graph():
    x, y = tt.dvectors("x", "y")
    node = Apply(Elemwise(ts.add, {0: 0}), [x, y], [x.type()])
    out = node.outputs[0]
    assert "(overwrites input 0)" in debugprint(out, print_destroy_map=True, file="str")
    assert "overwrites" not in debugprint(out, file="str")
    f = th.function([In(x, mutable=True), y], out, accept_inplace=True)
    assert "(overwrites input 0)" in f.dprint(file="str")
    np.testing.assert_allclose(f(np.ones(2), np.ones(2)), [2.0, 2.0])


def test_fused_kernel_label_and_inner_graphs():
    x = tt.dvector("x")
    fused = kernel(x, x)
    assert op_label(fused.owner.op) == "Elemwise{ScalarKernel{exp(-i0) + i1 * i1}}"
    text = debugprint(fused, file="str")
    head, inner = text.split("\nInner graphs:\n")
    assert head.splitlines()[0] == "Elemwise{ScalarKernel{exp(-i0) + i1 * i1}} [id A]"
    assert inner.splitlines()[1:3] == ["Elemwise{ScalarKernel{exp(-i0) + i1 * i1}} [id A]",
                                       " inner graph (inputs: i0, i1):"]
    assert "  add [id C]" in inner


def test_nested_inner_graphs_and_titles():
    text = debugprint(inner_graph_example(), file="str")
    sections = text.split("\n\n")
    assert sections[1] == "Inner graphs:"
    assert sections[2].splitlines()[:2] == ["Branch [id A]", " then branch (inputs: x_inner):"]
    assert " else branch (inputs: i0):" in sections[2]
    # the kernel inside the then branch is listed after, once per distinct op
    assert sections[-1].endswith("same inner graphs as [id C]\n")


def test_bad_inner_graph_entry_names_the_op():
    class Broken(Branch):
        def inner_graphs(self):
            return ["not a graph"]

    out = Broken()(tt.scalar("c", dtype="bool"), tt.dvector("x"))
    with pytest.raises(TypeError, match="Broken.inner_graphs\\(\\) entry 0"):
        debugprint(out, file="str")


def test_deep_graph_does_not_recurse():
    x = tt.dscalar("x")
    out = x
    for _ in range(5000):
        out = tt.exp(out)
    lines = debugprint(out, file="str", ids="").splitlines()
    assert len(lines) == 5001 and lines[-1].endswith("|x")


def test_node_cut_by_depth_expands_where_it_appears_higher():
    x = tt.dvector("x")
    e = tt.exp(tt.log(x))
    assert debugprint(tt.sin(e) + e, depth=3, file="str") == (
        "Elemwise{add} [id A]\n"
        " |Elemwise{sin} [id B]\n"
        " | |Elemwise{exp} [id C]\n"
        " |Elemwise{exp} [id C]\n"
        " | |Elemwise{log} [id D]\n")


def test_repeated_kernel_without_ids():
    x = tt.dvector("x")
    text = debugprint([kernel(x, x), kernel(x, tt.exp(x))], ids="", file="str")
    assert text.endswith("Elemwise{ScalarKernel{exp(-i0) + i1 * i1}}: same inner graphs "
                         "as above\n")
