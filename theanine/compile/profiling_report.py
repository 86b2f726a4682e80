"""The text report of a ``ProfileStats``: header, Class/Ops/Apply/source tables, memory,
rewrites, and one block per inner graph (scan bodies).

Every time table shows ``% time`` of the total node time, the cumulative
percentage, total and per-call time, calls and nodes; rows beyond the top N are
summed in one remainder line, so each table's percentages add up to 100.
"""

from __future__ import annotations

import linecache
import os
from collections import Counter

from theanine.compile.profiling_memory import format_bytes, largest_nodes, memory_peaks

RULE = "=" * 96
NAME_WIDTH = 72


def fmt_time(seconds: float) -> str:
    """Seconds with a readable unit: ``1.23 s``, ``45.6 ms``, ``789 us``."""
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def _clip(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


class NodeRow:
    """One profiled node: where it is, how long it ran and how often."""

    __slots__ = ("label", "pos", "node", "time", "calls")

    def __init__(self, label, pos, node, time, calls):
        self.label, self.pos, self.node, self.time, self.calls = label, pos, node, time, calls


def rows_of(code, label: str = "") -> list[NodeRow]:
    return [NodeRow(label, pos, node, code.times[pos], code.calls_of(pos))
            for pos, node in enumerate(code.order)]


def time_table(title, groups, n, out, total, last_header="nodes") -> None:
    """``groups``: (time, calls, nodes-or-index, name); sorted by time, top ``n`` shown."""
    out("")
    out(f"{title}")
    out("-" * len(title))
    out(f"  {'<% time>':>8} {'<sum %>':>8} {'<total>':>10} {'<per call>':>10} {'<calls>':>8} "
        f"{'<' + last_header + '>':>8}  <name>")
    ordered = sorted(groups, key=lambda g: -g[0])
    shown, rest = ordered[:n], ordered[n:]
    cum = 0.0
    for t, calls, count, name in shown:
        pct = 100.0 * t / total if total else 0.0
        cum += pct
        per = fmt_time(t / calls) if calls else "-"
        out(f"  {pct:7.1f}% {cum:7.1f}% {fmt_time(t):>10} {per:>10} {calls:>8} {count:>8}  "
            f"{_clip(name)}")
    if rest:
        t = sum(g[0] for g in rest)
        pct = 100.0 * t / total if total else 0.0
        out(f"  {pct:7.1f}% {cum + pct:7.1f}% {fmt_time(t):>10} {'':>10} "
            f"{sum(g[1] for g in rest):>8} {len(rest):>8}  ... {len(rest)} more rows")


def _grouped(rows, key, name) -> list[tuple]:
    acc: dict = {}
    for r in rows:
        k = key(r)
        g = acc.get(k)
        if g is None:
            acc[k] = [r.time, r.calls, 1, name(r)]
        else:
            g[0] += r.time
            g[1] += r.calls
            g[2] += 1
    return [tuple(g) for g in acc.values()]


def class_ops_apply(rows, n_apply, n_ops, out, multi: bool) -> None:
    total = sum(r.time for r in rows)
    time_table("Class (op classes)", _grouped(rows, lambda r: type(r.node.op),
                                              lambda r: type(r.node.op).__name__),
               n_ops, out, total)
    time_table("Ops (equal ops merged)", _grouped(rows, lambda r: r.node.op,
                                                  lambda r: str(r.node.op)),
               n_ops, out, total)
    apply_rows = [(r.time, r.calls, r.pos,
                   (f"{r.label}: " if multi and r.label else "") + str(r.node)) for r in rows]
    time_table("Apply (nodes; <index> = position in execution order)", apply_rows, n_apply,
               out, total, last_header="index")


def _where(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") else path


def source_table(rows, n, out) -> None:
    """Time per user source line that created the nodes (innermost user frame)."""
    total = sum(r.time for r in rows)
    groups: dict = {}
    for r in rows:
        trace = getattr(r.node.tag, "trace", ()) or ()
        key = trace[0][:2] if trace else None
        g = groups.setdefault(key, [0.0, 0, 0])
        g[0] += r.time
        g[1] += r.calls
        g[2] += 1
    entries = []
    for key, (t, calls, count) in groups.items():
        if key is None:
            label = "<no user frame>"
        else:
            code = linecache.getline(key[0], key[1]).strip()
            label = f"{_where(key[0])}:{key[1]}  {code}"
        entries.append((t, calls, count, label))
    time_table("Source lines (the user's line that created each node)", entries, n, out,
               total)


def header(stats, out) -> None:
    names = ", ".join(f.name for f in stats.functions)
    out(RULE)
    out(f"Profile: {stats.name or names}  ({len(stats.functions)} function(s): {names})")
    out(RULE)
    for f in stats.functions:
        timings = f.maker.timings
        if not f.runtime:
            kind = "run time not profiled (profile_optimizer only)"
        elif f.code is None:
            kind = "whole-call time only: this linker does not report per-node times"
        elif getattr(f.code, "guide", None) is not None:
            kind = ("whole-call time; the per-node tables are a GUIDE: the default "
                    "engine run on the same inputs, not what ran")
        else:
            kind = "per-node times"
        out(f"Function {f.name}: linker {f.linker_name}, {kind}")
        per = fmt_time(f.call_time / f.calls) if f.calls else "-"
        out(f"  calls: {f.calls}; time in __call__: {fmt_time(f.call_time)} ({per} per call)")
        if f.phases:
            out("  " + "; ".join(f"{phase}: {fmt_time(t)}" for phase, t in f.phases.items()))
        for line in f.backend_lines() if f.backend_lines else ():
            out("  " + line)
        for line in f.tiering.profile_lines() if f.tiering is not None else ():
            out("  " + line)
        if getattr(f.code, "guide", None) is not None:
            out(f"  guide (default engine, same inputs): {fmt_time(f.body_time)} per "
                f"{f.calls} call(s) in its function body, {fmt_time(f.node_time)} in nodes")
        elif f.code is not None:
            body, nodes = f.body_time, f.node_time
            share = 100.0 * nodes / f.call_time if f.call_time else 0.0
            out(f"  time in the generated function body: {fmt_time(body)}; time in nodes: "
                f"{fmt_time(nodes)} ({share:.1f}% of __call__)")
        out(f"  compile: {fmt_time(timings['total'])} = graph {fmt_time(timings['graph'])}"
            f" + rewrite {fmt_time(timings['rewrite'])} (validation "
            f"{fmt_time(timings.get('validate', 0.0))}) + link {fmt_time(timings['link'])}")
        out(f"  nodes: {len(f.maker.fgraph.apply_nodes)}")
    if len(stats.functions) > 1:
        per_node = [f for f in stats.functions if f.code is not None]
        out(f"Total: {stats.calls} calls, {fmt_time(stats.call_time)} in __call__, "
            f"{fmt_time(sum(f.node_time for f in per_node))} in nodes")


def memory_section(stats, n, out) -> None:
    for f in stats.functions:
        peaks = memory_peaks(f.code) if f.code is not None else None
        if peaks is None:
            continue
        out("")
        title = f"Memory of {f.name} (last call; bytes allocated by the function)"
        out(title)
        out("-" * len(title))
        out(f"  peak as executed (del after last use, views/in-place as declared): "
            f"{format_bytes(peaks.executed)}")
        out(f"  peak without garbage collection:       {format_bytes(peaks.no_gc)}")
        out(f"  peak without in-place and views:       {format_bytes(peaks.no_views)}")
        out(f"  peak without either:                   {format_bytes(peaks.no_gc_no_views)}")
        out(f"  sum of all intermediate outputs:       {format_bytes(peaks.intermediates)}")
        out(f"  largest outputs:  {'<size>':>10} {'<index>':>8}  <node>")
        for pos, node, nbytes in largest_nodes(f.code, n):
            out(f"                    {format_bytes(nbytes):>10} {pos:>8}  {_clip(str(node))}")


def optimizer_section(stats, out) -> None:
    passes: dict = {}
    for f in stats.functions:
        report = f.maker.rewrite_report
        for p in getattr(report, "passes", ()):
            g = passes.setdefault(p.name, [0.0, 0, 0, 0, Counter()])
            g[0] += p.time
            g[1] += p.iterations
            g[2] += p.nodes_before
            g[3] += p.nodes_after
            g[4].update(p.applied)
    total = sum(g[0] for g in passes.values())
    out("")
    title = "Rewrites (profile_optimizer): time per pass and rules fired"
    out(title)
    out("-" * len(title))
    out(f"  {'<pass>':14} {'<time>':>10} {'<%>':>6} {'<iter>':>6} {'<nodes>':>13}  "
        "<rules fired: count>")
    for name, (t, iters, before, after, applied) in passes.items():
        pct = 100.0 * t / total if total else 0.0
        rules = ", ".join(f"{k}: {v}" for k, v in applied.most_common()) or "-"
        out(f"  {name:14} {fmt_time(t):>10} {pct:5.1f}% {iters:>6} {before:>6}->{after:<6}  "
            f"{rules}")
    validate = sum(f.maker.timings.get("validate", 0.0) for f in stats.functions)
    out(f"  total {fmt_time(total)}, of which graph validation {fmt_time(validate)}")


def inner_blocks(stats, n_apply, n_ops, out) -> None:
    """One block per inner graph (e.g. a scan body), nested ones included."""
    stack = []
    for f in reversed(stats.functions):
        if f.code is not None:
            for pos in sorted(f.code.inner, reverse=True):
                stack.append((f.name, f.code, pos))
    while stack:
        where, code, pos = stack.pop()
        sub = code.inner[pos]
        node = code.order[pos]
        out("")
        out(RULE)
        out(f"Inner graph of {where} node #{pos}: {_clip(str(node), 60)}")
        out(f"  body runs: {sub.runs[0]}; time in the body: {fmt_time(sub.body_time[0])}; "
            f"time in inner nodes: {fmt_time(sum(sub.times))}; outer node time "
            f"{fmt_time(code.times[pos])}")
        rows = rows_of(sub)
        if rows:
            class_ops_apply(rows, n_apply, n_ops, out, multi=False)
        for inner_pos in sorted(sub.inner, reverse=True):
            stack.append((f"{where}/#{pos}", sub, inner_pos))


def write_summary(stats, out, n_apply: int, n_ops: int) -> None:
    header(stats, out)
    multi = len(stats.functions) > 1
    rows = []
    for f in stats.functions:
        if f.code is not None:
            rows.extend(rows_of(f.code, f.name))
    if rows and any(r.calls for r in rows):
        class_ops_apply(rows, n_apply, n_ops, out, multi)
        source_table(rows, n_apply, out)
    elif any(f.calls and f.code is None and f.runtime for f in stats.functions):
        out("")
        out("(no per-node times: see the linker note in the header)")
    elif any(f.calls for f in stats.functions):
        out("")
        out("(no nodes ran)")
    if stats.memory:
        memory_section(stats, n_ops, out)
    if stats.optimizer:
        optimizer_section(stats, out)
    inner_blocks(stats, n_apply, n_ops, out)
    out("")
