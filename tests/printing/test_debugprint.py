"""debugprint: the tree, ids printed once, options, compiled functions, inner graphs."""

import io

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from tests.printing.graphs import Branch, inner_graph_example, kernel
from theanine.compile.io import In
from theanine.graph.basic import Apply
from theanine.ifelse import ifelse
from theanine.printing import char_id, debugprint, display_text, op_label, pprint
from theanine.scalar import basic as ts
from theanine.scan.op import Scan
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
    # FAST_RUN fuses exp and mul into one kernel labelled by what it computes
    assert lines[0] == "Elemwise{Composite{exp(i0) * 2}} [id A] #1"
    assert lines[1] == " |Transpose [id B] #0 (view of input 0)"
    # the update w - x is computed in w's own buffer
    assert "Elemwise{sub} [id D] #2 (overwrites input 0) (update of w)" in lines
    head, inner = text.split("\nInner graphs:\n")
    assert inner.splitlines()[1:3] == ["Elemwise{Composite{exp(i0) * 2}} [id A]",
                                       " fused kernel (inputs: i0):"]
    positions = sorted(int(tok[1:]) for tok in head.split() if tok.startswith("#"))
    assert positions == list(range(len(f.maker.fgraph.toposort())))
    assert display_text(f) == text.rstrip("\n")


def test_inplace_marker_on_compiled_graph():
    x, y = tt.dvectors("x", "y")
    node = Apply(Elemwise(ts.add, {0: 0}), [x, y], [x.type()])
    out = node.outputs[0]
    # the label says what is computed; the marker says that x's buffer is reused
    assert debugprint(out, file="str") == (
        "Elemwise{add} [id A] (overwrites input 0)\n |x [id B]\n |y [id C]\n")
    assert "overwrites" not in debugprint(out, print_destroy_map=False, file="str")
    f = th.function([In(x, mutable=True), y], out, accept_inplace=True)
    assert "(overwrites input 0)" in f.dprint(file="str")
    np.testing.assert_allclose(f(np.ones(2), np.ones(2)), [2.0, 2.0])


def test_fast_run_inplace_and_fused_nodes_are_marked():
    m, x = tt.dmatrix("m"), tt.dvector("x")
    f = th.function([m, x], tt.exp(tt.dot(m, x)) * 2)
    node, = [n for n in f.maker.fgraph.toposort() if n.op.destroy_map]   # FAST_RUN's in-place
    assert f.dprint(file="str").splitlines()[:2] == [
        "Elemwise{Composite{exp(i0) * 2}} [id A] #1 (overwrites input 0)",
        " |Dot [id B] #0"]
    assert op_label(node.op) == "Elemwise{Composite{exp(i0) * 2}}"
    assert pprint(f) == "exp(m \\dot x) * 2"


def test_fused_reduction_shows_reduction_and_kernel():
    m = tt.dmatrix("m")
    f = th.function([m], tt.exp(m * 2).sum(axis=1))
    line = f.dprint(file="str").splitlines()[0]
    assert line == "Sum{1}{Composite{exp(i0 * 2)}} [id A] #0"
    assert pprint(f) == "sum(exp(m * 2), axis=1)"


def test_lazy_ifelse_branches_are_marked():
    a, b = tt.dscalars("a", "b")
    x = tt.dvector("x")
    f = th.function([a, b, x], ifelse(tt.lt(a, b), tt.exp(x).sum(), tt.log(x).sum()),
                    mode=th.Mode(linker="vm"))
    lines = f.dprint(file="str").splitlines()
    assert lines[:7] == ["if [id A] #3 (view of input 1, 2)",
                         " |Elemwise{lt} [id B] #0",                # the condition runs first
                         " | |a [id C]",
                         " | |b [id D]",
                         " |Sum{Composite{exp(i0)}} [id E] #1 (only in then branch of [id A])",
                         " | |x [id F]",
                         " |Sum{Composite{log(i0)}} [id G] #2 (only in else branch of [id A])"]
    assert pprint(f) == "ifelse(lt(a, b), sum(exp(x)), sum(log(x)))"
    eager = th.function([a, b, x], ifelse(tt.lt(a, b), x.sum(), x.prod()),
                        mode=th.Mode(linker="py"))
    assert "branch of" not in eager.dprint(file="str")


def test_scan_step_function_is_printed_with_output_labels():
    x = tt.dvector("x")
    s = th.shared(0.0, name="s")

    def step(xt, prev2, prev, c):     # nothing per-step-only to push out of the loop
        return [prev + prev2 * xt * c, xt * prev], {s: s * 0.5 + xt}    # (not a plain sum)

    c = tt.dscalar("c")
    outs, updates = th.scan(step, sequences=x, non_sequences=c,
                            outputs_info=[dict(initial=tt.zeros(2), taps=[-2, -1]), None])
    f = th.function([x, c], outs, updates=updates)
    text = f.dprint(file="str")
    head, inner = text.split("\nInner graphs:\n")
    assert head.splitlines()[0].startswith("Scan{scan}.0 [id A] #")
    assert "Scan{scan}.2 [id A]" in head and head.rstrip().endswith("(update of s)")
    assert " step function (inputs: x[t+0], out0[t-2], out0[t-1], s[t], c):" in inner
    roots = [ln for ln in inner.splitlines() if ln.startswith("  ") and " -> " in ln]
    assert [r.rsplit(" -> ", 1)[1] for r in roots] == ["out0[t]", "out1[t]", "s[t+1]"]
    assert roots[0].startswith("  Elemwise{add}")   # loop bodies are not fused


def test_fused_kernel_label_and_inner_graphs():
    x = tt.dvector("x")
    fused = kernel(x, x)
    assert op_label(fused.owner.op) == "Elemwise{ScalarKernel{exp(-i0) + i1 * i1}}"
    text = debugprint(fused, file="str")
    head, inner = text.split("\nInner graphs:\n")
    assert head.splitlines()[0] == "Elemwise{ScalarKernel{exp(-i0) + i1 * i1}} [id A]"
    assert inner.splitlines()[1:3] == ["Elemwise{ScalarKernel{exp(-i0) + i1 * i1}} [id A]",
                                       " fused kernel (inputs: i0, i1):"]
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


def test_scan_labels_while_loops_and_gradient_scans():
    out, _ = th.scan(lambda p: (p * 2, th.scan.until(p > 100)), outputs_info=tt.ones(()),
                     n_steps=50)
    inner = debugprint(out, file="str").split("\nInner graphs:\n")[1]
    roots = [ln.rsplit(" -> ", 1)[1] for ln in inner.splitlines() if " -> " in ln]
    assert roots == ["out0[t]", "until"]
    x, w = tt.dvector("x"), tt.dscalar("w")
    h, _ = th.scan(lambda xt, hp, w: tt.tanh(hp * w + xt), sequences=x,
                   outputs_info=tt.zeros(()), non_sequences=w)
    f = th.function([x, w], th.grad(h[-1], w))
    labels = [op.inner_output_labels() for op in
              {n.op for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)}]
    for found in labels:
        assert len(set(found)) == len(found)
    text = f.dprint(file="str")
    assert "Scan{scan_grad}" in text and "-> g_w[t+1]" in text
    # an output label never reuses an inner input's name
    grad_section = text.split("Scan{scan_grad} [id A]\n")[1].split("\n\n")[0]
    inputs = grad_section.splitlines()[0].split("(inputs: ")[1].rstrip("):").split(", ")
    outputs = [ln.rsplit(" -> ", 1)[1] for ln in grad_section.splitlines() if " -> " in ln]
    assert not {o.split("[")[0] for o in outputs if o.endswith("[t]")} & \
        {i.split("[")[0] for i in inputs}
