"""pydotprint: real PNG/SVG/PDF files through Graphviz, and the DOT it draws from."""

import html
import re

import pytest

import theanine as th
import theanine.tensor as tt
from tests.printing.graphs import (
    inner_graph_example,
    lazy_ifelse_function,
    logreg,
    scan_pow_function,
)
from theanine.graph.basic import Apply
from theanine.ifelse import IfElse
from theanine.printing import GraphvizNotFoundError, dot_source, op_kind, pydotprint
from theanine.scalar import basic as ts
from theanine.tensor.elemwise import Elemwise

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tutorial():
    return logreg()


@pytest.fixture(scope="module")
def scan_pow():
    return scan_pow_function()


@pytest.mark.parametrize("which", ["prediction", "predict", "train"])
def test_tutorial_pictures_png_and_svg(tutorial, tmp_path, capsys, which):
    obj = getattr(tutorial, which)
    png, svg = tmp_path / f"{which}.png", tmp_path / f"{which}.svg"
    pydotprint(obj, outfile=png)
    pydotprint(obj, outfile=svg, format="svg")
    printed = capsys.readouterr().out
    assert f"The output file is available at {png}" in printed
    assert f"The output file is available at {svg}" in printed
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 300
    text = html.unescape(svg.read_text())             # Graphviz writes '-' as &#45;
    assert text.lstrip().startswith("<?xml") and "</svg>" in text
    for op_name in OP_NAMES[which]:
        assert op_name in text
    if which == "train":
        assert "update of w" in text and "update of b" in text
        assert 'stroke="red"' in text               # FAST_RUN's in-place ops: red edges
    if which != "prediction":
        assert "step 0" in text                    # compiled: execution order


# what the user wrote, and what FAST_RUN made of it: fused kernels show their expression
OP_NAMES = {
    "prediction": ("Elemwise{gt}", "Elemwise{true_div}", "Elemwise{exp}", "Dot"),
    "predict": ("Elemwise{Composite{gt(sigmoid(i0 + i1), 0.5)}}", "Dot", "DimShuffle{x}"),
    # the prediction, the cross-entropy and its gradient: one multi-output kernel
    "train": ("gt(sigmoid(", "softplus(", "Gemv", "Dot", "Elemwise{Composite{i1 - 0.1 * i0}}"),
}


def test_pdf_and_return_image(tutorial, tmp_path):
    pdf = tmp_path / "g.pdf"
    pydotprint(tutorial.predict, outfile=pdf, format="pdf", print_output_file=False)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    image = pydotprint(tutorial.prediction, return_image=True)
    assert isinstance(image, bytes) and image[:8] == PNG_MAGIC
    svg = pydotprint(tutorial.prediction, format="svg", return_image=True)
    assert isinstance(svg, str) and "Elemwise{gt}" in svg
    assert list(tmp_path.iterdir()) == [pdf]       # return_image writes nothing


def test_default_outfile_is_in_compiledir(tutorial, tmp_path, capsys):
    with th.change_flags(compiledir=str(tmp_path / "cache")):
        pydotprint(tutorial.prediction, format="svg")
    target = tmp_path / "cache" / "theanine.pydotprint.svg"
    assert target.exists() and str(target) in capsys.readouterr().out


def test_missing_graphviz_says_how_to_install(tutorial, tmp_path):
    with th.change_flags(graphviz_dot="no-such-graphviz-dot"):
        with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
            pydotprint(tutorial.prediction, outfile=tmp_path / "x.png")
        pydotprint(tutorial.prediction, outfile=tmp_path / "x.dot", format="dot")
        assert tutorial.prediction._repr_svg_() is None          # Jupyter falls back to text
    assert (tmp_path / "x.dot").read_text().startswith("digraph theanine {")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ValueError, match="format must be one of"):
        pydotprint(tutorial.prediction, format="jpeg")


def _edges(source):
    return re.findall(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$", source, re.M)


def test_edge_colours_labels_and_updates(tutorial):
    source = dot_source(tutorial.train)
    edges = _edges(source)
    assert any('color="blue"' in attrs for _, _, attrs in edges)       # DimShuffle views
    update_edges = [e for e in edges if "update of" in e[2]]
    assert len(update_edges) == 2 and all('style="dashed"' in e[2] for e in update_edges)
    assert 'label="0"' in source and 'label="1"' in source              # input indices
    assert 'label="new w\\nfloat64 (?,)"' in source
    assert 'label="output 0\\nbool (?,)"' in source


def test_destroyed_input_edge_is_red():
    x, y = tt.dvectors("x", "y")
    out = Apply(Elemwise(ts.add, {0: 0}), [x, y], [x.type()]).outputs[0]
    edges = _edges(dot_source(out))
    red = [e for e in edges if 'color="red"' in e[2]]
    assert len(red) == 1 and 'label="0"' in red[0][2]


def test_colours_by_role_and_kind(tutorial):
    source = dot_source(tutorial.predict)
    assert '"x\\nfloat64 (?, ?)", shape="box", style="filled", fillcolor="#99e699"' in source
    assert '"w\\nfloat64 (?,)", shape="box", style="filled", fillcolor="#ffd966"' in source
    assert 'label="Elemwise{Composite{gt(sigmoid(i0 + i1), 0.5)}}\\nstep 2", ' \
        'shape="ellipse", style="filled", fillcolor="#ffb98a"' in source      # elemwise
    assert 'label="Dot\\nstep 0", shape="ellipse", style="filled", fillcolor="#e0c9a6"' \
        in source
    assert 'label="[0.5]", shape="box", style="filled", fillcolor="#d9d9d9"' in \
        dot_source(tutorial.prediction)
    assert 'style="filled"' not in dot_source(tutorial.predict, high_contrast=False)
    assert op_kind(Elemwise(ts.exp)) == "elemwise"


def test_scan_and_ifelse_nodes_coloured_by_kind(scan_pow, tmp_path):
    source = dot_source(scan_pow)
    assert 'label="Scan{scan}\\nstep 4", shape="ellipse", style="filled", ' \
        'fillcolor="#c6a6ff"' in source
    assert op_kind(scan_pow.maker.fgraph.outputs[0].owner.inputs[0].owner.op) == "scan"
    source = dot_source(lazy_ifelse_function())
    if_node = re.search(r'(a\d+) \[label="if\\nstep (\d+)", shape="ellipse", '
                        r'style="filled", fillcolor="#ff8f8f"\];', source)
    assert if_node
    name, step = if_node.groups()
    into_if = sorted(attrs.split('"')[1] for _, dst, attrs in _edges(source) if dst == name)
    assert into_if == ["cond", "else", "then"]                  # the ifelse's inputs by role
    assert source.count(f"only in then branch of step {step}") == 4   # mean(x): run lazily
    assert source.count(f"only in else branch of step {step}") == 4
    assert op_kind(IfElse(2)) == "ifelse"


def test_scan_graphs_draws_the_step_function(scan_pow, tmp_path):
    assert "subgraph" not in dot_source(scan_pow)
    source = dot_source(scan_pow, scan_graphs=True)
    assert source.count("subgraph cluster_") == 1
    assert 'label="Scan{scan}: step function"' in source
    assert 'label="out0[t]\\nfloat64 (?,)"' in source             # the body's output
    assert 'label="out0[t-1]"' in source and 'label="A"' in source  # its inputs
    assert 'label="Elemwise{mul}"' in source
    assert 'arrowhead="none"' in source                             # op -> cluster inputs
    svg = tmp_path / "scan.svg"
    pydotprint(scan_pow, outfile=svg, format="svg", scan_graphs=True, print_output_file=False)
    assert "Scan{scan}: step function" in svg.read_text()


def test_compact_names_ids_and_label_size(tutorial):
    compact, full = dot_source(tutorial.prediction), dot_source(tutorial.prediction,
                                                                compact=False)
    assert full.count('shape="box"') > compact.count('shape="box"') + 5
    assert '"x"' in dot_source(tutorial.prediction, var_with_name_simple=True)
    assert "[id A]" in dot_source(tutorial.prediction, with_ids=True)
    short = dot_source(tutorial.prediction, max_label_size=8)
    assert 'label="Elemw..."' in short


def test_inner_graphs_as_clusters(tmp_path):
    out = inner_graph_example()
    plain, inner = dot_source(out), dot_source(out, scan_graphs=True)
    assert "subgraph" not in plain
    assert inner.count("subgraph cluster_") == 3                 # then, else, kernel
    assert "Branch: then branch" in inner and "inner output 0" in inner
    pydotprint(out, outfile=tmp_path / "inner.svg", format="svg", scan_graphs=True,
               print_output_file=False)
    assert "Branch: else branch" in (tmp_path / "inner.svg").read_text()


class _FakePretty:
    def __init__(self):
        self.parts = []

    def text(self, value):
        self.parts.append(value)


def test_jupyter_views(tutorial):
    svg = tutorial.prediction._repr_svg_()
    assert svg.lstrip().startswith("<?xml") and "Elemwise{gt}" in svg
    assert "step 0" in tutorial.predict._repr_svg_()
    assert tutorial.x._repr_svg_() is None                     # a lone input: no picture
    pretty = _FakePretty()
    tutorial.prediction._repr_pretty_(pretty, False)
    assert pretty.parts == [tutorial.prediction.dprint(file="str").rstrip("\n")]
    pretty = _FakePretty()
    tutorial.predict._repr_pretty_(pretty, False)
    assert pretty.parts[0].startswith("Elemwise{Composite{gt(sigmoid(i0 + i1), 0.5)}} [id A] #2")
    pretty = _FakePretty()
    tutorial.x._repr_pretty_(pretty, False)
    assert pretty.parts == ["x"]


def test_constant_and_lone_input_outputs():
    x = tt.dvector("x")
    f = th.function([x], [x, tt.constant(3.0)])
    source = dot_source(f)
    assert 'label="3", shape="box", style="filled", fillcolor="#8fc4ff"' in source
    assert 'label="x\\nfloat64 (?,)", shape="box", style="filled", fillcolor="#8fc4ff"' \
        in source
