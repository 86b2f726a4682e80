"""``pprint`` rules for indexing, allocation and control flow (``scan``, ``ifelse``).

They print what a user wrote: ``x[-1]``, ``set_subtensor(x[1:], y)``,
``ifelse(cond, a, b)`` and ``scan(out0[t] = out0[t-1] * A; n_steps=k, ...)``:
a scan shows its step function as equations, one per inner output, then its
outer arguments by role.
"""

from __future__ import annotations

from theanine.ifelse import IfElse
from theanine.printing.common import inner_graphs, inner_input_labels
from theanine.printing.pprint import Expr, _exprs, atom, call, postfix, register_pprint
from theanine.scan.op import Scan
from theanine.tensor.alloc import Alloc
from theanine.tensor.subtensor import AdvancedSubtensor, Subtensor, _IncBase


def index_text(idx_list, args) -> list:
    """Pieces of ``[1:, i]`` with the symbolic parts of the index taken from ``args``."""
    symbolic = iter(args)
    parts: list = ["["]
    for pos, entry in enumerate(idx_list):
        if pos:
            parts.append(", ")
        if type(entry) is tuple:                       # ("slice", start, stop, step)
            comps = []
            for comp in entry[1:]:
                if comp is None:
                    comps.append("")
                elif comp == "i":
                    comps.append(next(symbolic))
                else:
                    comps.append(str(comp))
            text = comps[:2] if comps[2] == "" else comps
            for k, comp in enumerate(text):
                if k:
                    parts.append(":")
                parts.append(comp)
        elif type(entry) is str:                       # a scalar or array index input
            parts.append(next(symbolic))
        else:
            parts.append(str(entry))
    parts.append("]")
    return parts


@register_pprint(Subtensor)
@register_pprint(AdvancedSubtensor)
def _subtensor(node, index, args):
    base = postfix(args[0], "")
    return Expr([*base.parts, *index_text(node.op.idx_list, args[1:])])


@register_pprint(_IncBase)
def _inc_subtensor(node, index, args):
    x, y, *idx = args
    target = Expr([*postfix(x, "").parts, *index_text(node.op.idx_list, idx)])
    return call("set_subtensor" if node.op.set_instead_of_inc else "inc_subtensor", [target, y])


@register_pprint(Alloc)
def _alloc(node, index, args):
    return call("alloc", args)


@register_pprint(IfElse)
def _ifelse(node, index, args):
    n = node.op.n_outs
    if n == 1:
        return call("ifelse", args)
    thens, elses = args[1:1 + n], args[1 + n:]
    return postfix(call("ifelse", [args[0], _tuple(thens), _tuple(elses)]), f"[{index}]")


def _tuple(items) -> Expr:
    return call("", items)


def _step_text(op: Scan) -> Expr:
    """``out0[t] = out0[t-1] * A, s[t+1] = s[t] + 1``: the body as equations."""
    graph = inner_graphs(op)[0]
    labels = inner_input_labels(graph)
    exprs = _exprs(graph.outputs, {var: atom(text) for var, text in labels.items()})
    parts: list = []
    for pos, (label, expr) in enumerate(zip(graph.output_labels, exprs)):
        parts.extend([", " if pos else "", f"{label} = ", expr])
    return Expr(parts)


@register_pprint(Scan)
def _scan(node, index, args):
    op = node.op
    positions = op.info.outer_in_positions()
    keywords = [f"n_steps={args[0].render()}"]
    for role, keyword in (("seq", "sequences"), ("sot", "outputs_info"),
                          ("carry", "shared"), ("nonseq", "non_sequences")):
        if positions[role]:
            keywords.append(f"{keyword}=[{', '.join(args[p].render() for p in positions[role])}]")
    expr = Expr(["scan(", _step_text(op), "; ", ", ".join(keywords), ")"])
    if len(node.outputs) == 1:
        return expr
    labels = op.inner_output_labels()
    # outer outputs: recurrent and mapped traces, then the carried states' final values
    return postfix(expr, "." + labels[index].split("[", 1)[0])
