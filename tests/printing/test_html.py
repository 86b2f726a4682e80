"""``graph_html``: the page's data agrees with debugprint, and it works in a real browser.

The browser tests drive Debian's ``chromium`` headless (``make system-deps``
installs it): ``--dump-dom`` gives the DOM after the page's script ran, the URL
fragment (``#click=a3&search=exp&collapse=all``) dispatches a click on a node,
types a search and presses "collapse all", and a screenshot is saved.  They skip,
saying why, only where no browser exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from tests.printing.graphs import lazy_ifelse_function, logreg, scan_pow_function
from theanine.printing import debugprint, graph_html
from theanine.printing.html import graph_data, heat_colour

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (make system-deps)")
needs_browser = pytest.mark.skipif(
    find_browser() is None or shutil.which("dot") is None,
    reason="no headless browser: install Debian's chromium (make system-deps does) to test "
           "the HTML view in a browser")


def run_browser(url: str, *args: str) -> str:
    """The DOM after the page's script ran (``--dump-dom``), or run with ``args``."""
    args = args or ("--dump-dom",)
    cmd = [find_browser(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--no-first-run", "--virtual-time-budget=5000",
           *args, url]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    return proc.stdout.decode()


def body_data(dom: str) -> dict:
    body = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'data-th-([a-z-]+)="([^"]*)"', body))


SHAPES = {"x": (50, 3), "y": (50,)}


@pytest.fixture(scope="module")
def profiled_train():
    graphs = logreg()
    x, y = graphs.x, graphs.y
    train = th.function([x, y], graphs.xent.mean(), profile=th.compile.ProfileStats(
        memory=True, atexit_print=False), name="train")
    rng = np.random.default_rng(1)
    train(rng.standard_normal((50, 3)), (rng.random(50) > 0.5).astype("float64"))
    return train


@needs_dot
def test_ids_and_labels_agree_with_debugprint(profiled_train):
    _, data = graph_data(profiled_train, profiled_train.profile)
    tree = debugprint(profiled_train, file="str")
    applies = [info for info in data["nodes"].values() if info["kind"] == "apply"]
    assert applies
    for info in applies:
        assert f"{info['title']} [id {info['id']}]" in tree
    leaves = [info for info in data["nodes"].values() if info["kind"] == "variable"
              and info["id"]]
    assert any(f"{info['title']} [id {info['id']}]" in tree for info in leaves)
    scheduled = [info for info in applies if "step" in info]     # outer graph, not kernels
    assert data["profiled"] and scheduled and all("time" in info for info in scheduled)
    dot = th.printing.dot_source(profiled_train, with_ids=True, scan_graphs=True)
    for info in applies:
        assert f"[id {info['id']}] " in dot       # pydotprint shows the same ids


@needs_dot
def test_groups_for_kernels_scan_bodies_and_branches():
    _, data = graph_data(scan_pow_function())
    assert any("scan" in g["title"].lower() or "for" in g["title"].lower()
               for g in data["groups"]), [g["title"] for g in data["groups"]]
    _, data = graph_data(lazy_ifelse_function())
    titles = {g["title"] for g in data["groups"]}
    assert {"then branch", "else branch"} & titles
    for group in data["groups"]:
        assert group["members"] and group["owner"] in data["nodes"]


@needs_dot
def test_planned_shapes_and_the_peak_are_shown(profiled_train):
    _, data = graph_data(profiled_train, shapes=SHAPES)
    plan = th.memory_plan(profiled_train, **SHAPES)
    scheduled = [info for info in data["nodes"].values() if "step" in info]
    assert all(info["shapes"] for info in scheduled if info["title"] != "Shape_i{0}")
    assert any("(50,): 400 B" in s for info in scheduled for s in info["shapes"])
    at_peak = [info for info in scheduled if "at_peak" in info]
    assert len(at_peak) == len({var.owner for var, _ in plan.alive})
    with pytest.raises(TypeError, match="needs a compiled Function"):
        graph_data(tt.dvector("v") * 2, shapes=SHAPES)


def test_heat_colours_run_from_white_to_red():
    assert heat_colour(0.0) == "#ffffff"
    assert heat_colour(1.0) == "#be141e"
    reds = [int(heat_colour(s)[3:5], 16) for s in (0.0, 0.3, 0.6, 0.9)]   # green falls
    assert reds == sorted(reds, reverse=True)


@needs_dot
def test_jupyter_html_view_is_an_isolated_frame():
    x = tt.dvector("x")
    frame = tt.exp(x).sum()._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "th-data" in frame
    assert x._repr_html_() is None                      # a lone input has no graph
    f = th.function([x], tt.exp(x))
    assert "th-canvas" in f._repr_html_()


@needs_browser
def test_page_renders_and_click_panel_works(profiled_train, tmp_path):
    page = tmp_path / "train.html"
    graph_html(profiled_train, page, profile=profiled_train.profile, shapes=SHAPES)
    text = page.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "")      # self-contained
    n_nodes = len(re.findall(r'<g id="[^"]*" class="node"', text))
    _, data = graph_data(profiled_train, profiled_train.profile)
    slowest = max((name for name, info in data["nodes"].items() if info["kind"] == "apply"),
                  key=lambda name: data["nodes"][name].get("time", -1.0))
    info = data["nodes"][slowest]

    drawn = set(re.findall(r'<g id="([^"]*)" class="node"', text))
    expected = sum("elemwise" in data["nodes"][name]["search"] for name in drawn)
    dom = run_browser(f"{page.as_uri()}#click={slowest}&search=Elemwise")
    state = body_data(dom)
    assert state["ready"] == "1"
    assert int(state["rendered"]) == n_nodes > 5         # every node drawn with a size
    assert state["selected"] == slowest
    assert int(state["matches"]) == expected >= 1
    title = re.search(r'<h3 id="th-panel-title">(.*?)</h3>', dom).group(1)
    assert title.startswith(f"[id {info['id']}] ")
    assert "% of the nodes' time" in dom and "built at" in dom
    assert "planned shapes and sizes" in dom

    shot = tmp_path / "train.png"
    run_browser(f"{page.as_uri()}#select={slowest}", f"--screenshot={shot}",
                "--window-size=1200,800")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@needs_browser
def test_collapse_hides_inner_graphs_in_the_browser(tmp_path):
    page = tmp_path / "power.html"
    graph_html(scan_pow_function(), page)
    n_nodes = len(re.findall(r'<g id="[^"]*" class="node"', page.read_text()))
    expanded = body_data(run_browser(page.as_uri()))
    collapsed = body_data(run_browser(page.as_uri() + "#collapse=all"))
    assert int(expanded["shown"]) == n_nodes
    assert 0 < int(collapsed["shown"]) < n_nodes
