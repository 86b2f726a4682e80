"""Rich display in Jupyter/IPython: a graph picture, falling back to debugprint text."""

from __future__ import annotations

from theanine.graph.basic import Variable
from theanine.printing.debugprint import debugprint
from theanine.printing.dotprint import GraphvizNotFoundError, pydotprint


def _worth_drawing(obj) -> bool:
    """A lone input or constant has no graph worth a picture or a tree."""
    return not (isinstance(obj, Variable) and obj.owner is None)


def display_svg(obj) -> str | None:
    """SVG of ``obj``'s graph, or None (so Jupyter uses the text view)."""
    if not _worth_drawing(obj):
        return None
    try:
        return pydotprint(obj, format="svg", return_image=True)
    except (GraphvizNotFoundError, RuntimeError):
        return None


def display_text(obj) -> str:
    """The debugprint tree of ``obj`` (its repr for lone inputs and constants)."""
    if not _worth_drawing(obj):
        return repr(obj)
    return debugprint(obj, file="str").rstrip("\n")
