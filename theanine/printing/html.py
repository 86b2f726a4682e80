"""``graph_html``: one self-contained HTML page to explore a graph.

Graphviz lays the graph out (the DOT text ``pydotprint`` draws, with every
inner graph as a cluster) as SVG, which is inlined in the page together with a
JSON table describing each node and a small script (``html_view.js``) that
zooms, pans, searches by name, collapses fused kernels, scan bodies and ifelse
branches, and shows a node's details when it is clicked.  Nothing is loaded
from the network.  Ids are the ones ``debugprint`` prints.

With a profile, each Apply node also shows its time, calls and output bytes,
and nodes are coloured by their share of the time.
"""

from __future__ import annotations

import html
import json
import os
import re
from importlib import resources

from theanine.compile.function_module import Function
from theanine.compile.memory_plan import MemoryPlanError, memory_plan
from theanine.compile.profiling import FunctionProfile, ProfileStats
from theanine.compile.profiling_memory import format_bytes
from theanine.graph.basic import Constant
from theanine.printing.common import (
    branch_name,
    destroy_and_view,
    graph_view,
    node_io_markers,
    short_type,
    variable_text,
)
from theanine.printing.debugprint import op_label
from theanine.printing.dotprint import VARIABLE_COLOURS, _DotWriter, render

HEAT = ((255, 255, 255), (255, 224, 178), (244, 109, 67), (190, 20, 30))   # cold -> hot


def heat_colour(share: float) -> str:
    """A colour for ``share`` in [0, 1] of the time: white, orange, red."""
    share = min(max(share, 0.0), 1.0) * (len(HEAT) - 1)
    low = min(int(share), len(HEAT) - 2)
    t = share - low
    rgb = [round(a + (b - a) * t) for a, b in zip(HEAT[low], HEAT[low + 1])]
    return "#" + "".join(f"{c:02x}" for c in rgb)


def profile_of(obj, profile) -> dict:
    """``{Apply: (seconds, calls, output bytes or None)}`` from a ProfileStats or
    FunctionProfile, for the function ``obj`` (every function of it otherwise);
    scan bodies' nodes included."""
    if profile is None:
        return {}
    if isinstance(profile, FunctionProfile):
        entries = [profile]
    elif isinstance(profile, ProfileStats):
        maker = getattr(obj, "maker", None)
        entries = [f for f in profile.functions if maker is None or f.maker is maker] \
            or list(profile.functions)
    else:
        raise TypeError(f"profile must be a ProfileStats or a FunctionProfile (f.profile), "
                        f"got {type(profile).__name__}")
    found: dict = {}
    stack = [e.code for e in entries if e.code is not None]
    while stack:
        code = stack.pop()
        for pos, node in enumerate(code.order):
            sizes = code.sizes[pos] if pos < len(code.sizes) else None
            branch = code.in_branch[pos] if pos < len(code.in_branch) else False
            found[node] = (code.times[pos], code.counts[pos] if branch else code.runs[0],
                           sum(sizes) if sizes is not None else None)
        stack.extend(code.inner.values())
    return found


class _HtmlDotWriter(_DotWriter):
    """The DOT writer with SVG ids on every node and, with a profile, heat colours."""

    def __init__(self, view, timings):
        super().__init__(view, compact=True, with_ids=True, high_contrast=True,
                         max_label_size=70, scan_graphs=True, var_with_name_simple=False)
        self.timings = timings
        self.slowest = max((t for t, _, _ in timings.values()), default=0.0) or 1.0

    def apply_colour(self, node) -> str:
        if not self.timings:
            return super().apply_colour(node)
        seconds = self.timings.get(node, (0.0, 0, None))[0]
        return heat_colour(seconds / self.slowest)

    def extra_attrs(self, key, name: str) -> dict:
        return {"id": name}


def _trace_text(node) -> list[str]:
    trace = getattr(node.tag, "trace", ()) or ()
    lines = []
    for frame in trace[:3]:
        filename, lineno = frame[0], frame[1]
        func = frame[2] if len(frame) > 2 else ""
        lines.append(f"{filename}:{lineno}" + (f" in {func}" if func else ""))
    return lines


def _var_ref(var, ids) -> str:
    """How a panel names a variable: ``[id B] x`` / ``[id C] output 0 of [id A]``."""
    if var.owner is not None and var.owner in ids:
        suffix = f".{var.index}" if len(var.owner.outputs) > 1 else ""
        name = f" '{var.name}'" if var.name else ""
        return f"[id {ids[var.owner]}]{suffix}{name}"
    ident = ids.get(var)
    text = variable_text(var)
    return f"[id {ident}] {text}" if ident else text


def _apply_info(node, writer, view, timings, total) -> dict:
    ids = writer.ids
    destroy, viewmap = destroy_and_view(node.op)
    info = {
        "kind": "apply", "id": ids.get(node, ""), "title": op_label(node.op),
        "op": f"{type(node.op).__name__}: {node.op}",
        "inputs": [f"{_var_ref(v, ids)} : {short_type(v.type)}" for v in node.inputs],
        "outputs": [f"{short_type(v.type)}" + (f" '{v.name}'" if v.name else "")
                    for v in node.outputs],
        "source": _trace_text(node),
        "inplace": [text for _, text in node_io_markers(node.op)],
        "destroy_map": {str(k): list(v) for k, v in destroy.items()},
        "view_map": {str(k): list(v) for k, v in viewmap.items()},
    }
    if node in view.order:
        info["step"] = view.order[node]
    if node in view.lazy:
        ifelse_node, branch = view.lazy[node]
        info["lazy"] = f"only in the {branch_name(branch)} branch of [id {ids.get(ifelse_node)}]"
    if node in timings:
        seconds, calls, nbytes = timings[node]
        info["time"] = seconds
        info["calls"] = calls
        info["share"] = seconds / total if total else 0.0
        if nbytes is not None:
            info["memory"] = format_bytes(nbytes)
    return info


def _var_info(var, writer) -> dict:
    role = writer.role(var, ())
    info = {"kind": "variable", "id": writer.ids.get(var, ""), "title": variable_text(var),
            "type": short_type(var.type), "role": role}
    if var.owner is not None:
        info["computed_by"] = _var_ref(var, writer.ids)
    if isinstance(var, Constant):
        info["value"] = variable_text(var)
    return info


_SUBGRAPH = re.compile(r"^\s*subgraph (cluster_(a\d+)_\d+) \{")
_NODE_LINE = re.compile(r"^\s*([av]\d+) \[")


def _groups(writer, view) -> list[dict]:
    """Collapsible groups: each inner-graph cluster, and each ifelse branch's lazy nodes."""
    groups = []
    current = None
    for line in writer.lines:
        start = _SUBGRAPH.match(line)
        if start:
            current = {"key": start.group(1), "owner": start.group(2), "cluster": start.group(1),
                       "title": "", "members": []}
            groups.append(current)
            continue
        if current is not None and line.strip() == "}":
            current = None
            continue
        if current is not None:
            if line.strip().startswith("label="):
                current["title"] = line.strip()[7:].split('"; style')[0]
            found = _NODE_LINE.match(line)
            if found:
                current["members"].append(found.group(1))
    branches: dict = {}
    for node, (ifelse_node, branch) in view.lazy.items():
        if node not in writer.names or ifelse_node not in writer.names:
            continue
        key = (ifelse_node, branch)
        entry = branches.get(key)
        if entry is None:
            entry = branches[key] = {
                "key": f"{writer.names[ifelse_node]}_{branch_name(branch)}",
                "owner": writer.names[ifelse_node], "cluster": None,
                "title": f"{branch_name(branch)} branch", "members": []}
            groups.append(entry)
        entry["members"].append(writer.names[node])
        entry["members"].extend(writer.names[o] for o in node.outputs
                                if o in writer.names and o not in view.outputs)
    return groups


def _svg_only(svg: str) -> str:
    """Graphviz's SVG without its XML prolog, doctype and comments."""
    start = svg.find("<svg")
    return re.sub(r"<!--.*?-->", "", svg[start:], flags=re.S)


def _plan(obj, shapes):
    """``memory_plan`` of a Function for the page: with ``shapes`` as given (errors
    raised), else from test values and static shapes when they suffice (or None)."""
    if not isinstance(obj, Function):
        if shapes:
            raise TypeError("graph_html: shapes= needs a compiled Function")
        return None
    if shapes:
        return memory_plan(obj, **shapes)
    try:
        return memory_plan(obj)
    except MemoryPlanError:
        return None


def _add_plan(info, node, plan) -> None:
    info["shapes"] = [f"{plan.shapes[o]}: {format_bytes(plan.nbytes.get(o, 0))}"
                      for o in node.outputs if o in plan.shapes]
    if any(var.owner is node for var, _ in plan.alive):
        info["at_peak"] = f"alive at the planned peak of {format_bytes(plan.peak)}"


def graph_data(obj, profile=None, shapes=None):
    """The DOT writer (with its source written) and the JSON-ready table of the page."""
    view = graph_view(obj)
    timings = profile_of(obj, profile)
    plan = _plan(obj, shapes)
    writer = _HtmlDotWriter(view, timings)
    source = writer.source()
    total = sum(t for t, _, _ in timings.values())
    planned = {var.owner for var in plan.nbytes} if plan is not None else set()
    drawn = {found.group(1) for line in writer.lines if (found := _NODE_LINE.match(line))}
    nodes = {}
    for key, name in writer.names.items():
        if name.startswith("a"):
            nodes[name] = _apply_info(key, writer, view, timings, total)
            if key in planned:
                _add_plan(nodes[name], key, plan)
        elif name in drawn:
            nodes[name] = _var_info(key, writer)
    for info in nodes.values():
        info["search"] = f"{info['title']} {info.get('id', '')} " \
                         f"{info.get('op', '')} {info.get('type', '')}".lower()
    data = {"title": view.name or "theanine graph", "nodes": nodes,
            "groups": _groups(writer, view), "profiled": bool(timings),
            "total_time": total, "colours": VARIABLE_COLOURS}
    return source, data


def _asset(name: str) -> str:
    return resources.files("theanine.printing").joinpath(name).read_text()


def graph_html(obj, outfile=None, profile=None, shapes=None) -> str:
    """An interactive page of ``obj`` (Function, Variable(s), Apply or FunctionGraph).

    Returns the HTML text; with ``outfile`` also writes it there.  ``profile``
    (a ``ProfileStats`` such as ``f.profile`` of a function compiled with
    ``profile=True``, after some calls) adds times and memory and colours the
    nodes by time.  For a Function, ``shapes`` (``{"x": (400, 784)}``, as for
    ``th.memory_plan``; by default test values and static shapes where they
    suffice) adds each output's shape and size and marks what is alive at the
    planned memory peak.  Needs Graphviz's ``dot``.
    """
    source, data = graph_data(obj, profile, shapes)
    svg = _svg_only(render(source, "svg").decode())
    payload = json.dumps(data).replace("</", "<\\/")
    page = _asset("html_view.html")
    page = (page.replace("{{TITLE}}", html.escape(data["title"]))
            .replace("{{STYLE}}", _asset("html_view.css"))
            .replace("{{SVG}}", svg)
            .replace("{{DATA}}", payload)
            .replace("{{SCRIPT}}", _asset("html_view.js")))
    if outfile is not None:
        outfile = os.fspath(outfile)
        os.makedirs(os.path.dirname(os.path.abspath(outfile)), exist_ok=True)
        with open(outfile, "w", encoding="utf-8") as handle:
            handle.write(page)
    return page


def display_html(obj) -> str | None:
    """Jupyter's view: the page in an ``iframe`` (its script and ids stay apart from
    the notebook's); None for a lone input or when Graphviz is missing."""
    if getattr(obj, "owner", True) is None:
        return None
    profile = getattr(obj, "profile", None)
    try:
        page = graph_html(obj, profile=profile if getattr(profile, "calls", 0) else None)
    except RuntimeError:
        return None
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" '
            'style="width:100%;height:520px;border:1px solid #ccc"></iframe>')
