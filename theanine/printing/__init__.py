"""Layer 5: looking at graphs.

- ``pprint(var)`` (alias ``pp``): one line of math, ``gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)``
- ``debugprint(obj)`` (alias ``dprint``, ``Variable.dprint()``, ``Function.dprint()``): a tree
- ``pydotprint(obj, outfile, format)``: a picture drawn by Graphviz
- ``graph_html(obj, outfile, profile)``: an interactive page (zoom, search, details)

Importing this package installs ``Variable.dprint`` and the Jupyter views of
Variables and Functions.
"""

from theanine.compile.function_module import set_function_display
from theanine.graph.basic import set_display, set_printer
from theanine.printing import pprint_control  # noqa: F401  (registers indexing/scan/ifelse rules)
from theanine.printing.common import char_id, short_type
from theanine.printing.debugprint import debugprint, dprint, op_label
from theanine.printing.display import display_svg, display_text
from theanine.printing.dotprint import (
    FORMATS,
    GraphvizNotFoundError,
    dot_source,
    op_kind,
    pydotprint,
    pydotprint_variables,
)
from theanine.printing.html import display_html, graph_html
from theanine.printing.pprint import (
    Expr,
    atom,
    call,
    infix,
    postfix,
    pp,
    pprint,
    prefix,
    register_pprint,
)
from theanine.tensor.print_op import Print  # noqa: F401  (theano.printing.Print)

set_printer(debugprint)
set_display(display_svg, display_text, display_html)
set_function_display(debugprint, display_svg, display_text, display_html)

__all__ = ["FORMATS", "Expr", "GraphvizNotFoundError", "atom", "call", "char_id",
           "debugprint", "display_html", "display_svg", "display_text", "dot_source", "dprint",
           "graph_html", "infix",
           "op_kind", "op_label", "postfix", "pp", "pprint", "prefix", "pydotprint",
           "pydotprint_variables",
           "register_pprint", "short_type"]
