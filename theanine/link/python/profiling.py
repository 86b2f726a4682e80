"""Profiling variant of the generated code: per-node clocks written into the source.

The profiled function is the same generated function with a few statements
appended to each node's line, so it runs the same schedule, the same ``del``
statements and the same lazy branches.  The clock is read once per node: a
node's time is the span from the previous checkpoint to the end of its line
(and of the ``del`` freeing its dead inputs, which follows it), so one
``perf_counter`` call per node is the whole cost.  Nodes at the top level run
once per body execution; only nodes inside an ``IfElse`` branch count their
own calls.

With ``memory=True`` each node also records the ``nbytes`` of its outputs and
the body records the sequence of events that ran (node done, values deleted,
branch result aliased), from which ``memory_peaks`` replays the run.

Inner graphs (a ``Scan`` body) are profiled by registering the op with
``inner_profile_funcify``: its thunk builder receives a fresh ``CodeProfile``
for the inner graph and builds its body with a profiling ``Codegen``.
"""

from __future__ import annotations

import functools
import time

from theanine.ifelse import IfElse
from theanine.link.python.codegen import Codegen

clock = time.perf_counter


class CodeProfile:
    """What the profiled code of one graph measured (filled in place while running).

    ``times[pos]`` and ``counts[pos]`` are per node in execution order ``order``;
    ``runs`` counts executions of the body (function calls, or loop steps for an
    inner graph); ``inner`` maps a node position to the ``CodeProfile`` of that
    node's inner graph.
    """

    def __init__(self, memory: bool = False):
        self.memory = memory
        self.order: list = []
        self.times: list[float] = []
        self.counts: list[int] = []
        self.in_branch: list[bool] = []
        self.runs = [0]
        self.body_time = [0.0]
        self.inner: dict[int, CodeProfile] = {}
        self.sizes: list = []           # per node: tuple of output nbytes (last run)
        self.events: list[int] = []     # last run: pos, or ~k for actions[k]
        self.actions: list[tuple] = []  # ("del", vars) or ("alias", out, value)
        self.fgraph = None
        self.guide = None    # set when these clocks are a guide run beside another engine

    def bind(self, fgraph, order) -> None:
        n = len(order)
        self.fgraph = fgraph
        self.order = list(order)
        self.times = [0.0] * n
        self.counts = [0] * n
        self.in_branch = [False] * n
        self.sizes = [None] * n

    def calls_of(self, pos: int) -> int:
        """How many times node ``pos`` ran."""
        return self.counts[pos] if self.in_branch[pos] else self.runs[0]

    def reset(self) -> None:
        for i in range(len(self.times)):
            self.times[i] = 0.0
            self.counts[i] = 0
        self.runs[0] = 0
        self.body_time[0] = 0.0
        self.events.clear()
        for sub in self.inner.values():
            sub.reset()


@functools.singledispatch
def inner_profile_funcify(op, node, funcify, profile: CodeProfile):
    """Thunk of an op with an inner graph, profiled into ``profile``; None: no inner graph."""
    return None


class ProfilingMixin:
    """Mix into any ``Codegen`` class to add per-node clocks (see the module doc)."""

    def __init__(self, *args, profile: CodeProfile, **kwargs):
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.ns["_fclk"] = clock

    def make_thunk(self, node):
        sub = CodeProfile(self.profile.memory)
        thunk = inner_profile_funcify(node.op, node, self.funcify, sub)
        if thunk is None:
            return super().make_thunk(node)
        self.profile.inner[self.positions[node]] = sub
        return thunk

    def body_lines(self) -> list[str]:
        lines = super().body_lines()
        prof = self.profile
        prof.bind(self.fgraph, self.order)
        self.ns.update(_kacc=prof.times, _kcnt=prof.counts, _kruns=prof.runs,
                       _kbody=prof.body_time)
        if prof.memory:
            self.ns.update(_ksz=prof.sizes, _fev=prof.events.append, _fevc=prof.events.clear,
                           _fga=getattr)
        by_name = {name: var for var, name in self.names.items()}
        out = []
        n = len(lines)
        for idx, line in enumerate(lines):
            found = self.line_nodes.get(idx)
            suffix = ""
            if found is None:
                if line.lstrip().startswith("del "):
                    suffix = self._del_suffix(line, by_name, lines, idx)
            else:
                node, pos = found
                if isinstance(node.op, IfElse):
                    suffix = self._alias_suffix(line, by_name)
                else:
                    nxt = self.line_nodes.get(idx + 1)
                    last = nxt is None or nxt[0] is not node
                    follows_del = idx + 1 < n and nxt is None and \
                        lines[idx + 1].lstrip().startswith("del ")
                    if last:
                        suffix = self._memory_suffix(node, pos)
                        if not follows_del:
                            suffix += self._clock_suffix(line, pos)
            out.append(line + suffix)
        mem = "; _fevc()" if prof.memory else ""
        self.line_nodes = {k + 1: v for k, v in self.line_nodes.items()}
        return [f"_t0 = _fclk(); _tb = _t0; _kruns[0] += 1{mem}", *out,
                "_kbody[0] += _fclk() - _tb"]

    # -- per-line suffixes ------------------------------------------------------------
    def _clock_suffix(self, line: str, pos: int) -> str:
        depth = (len(line) - len(line.lstrip())) // len(self.indent)
        if depth:
            self.profile.in_branch[pos] = True
        count = f"; _kcnt[{pos}] += 1" if depth else ""
        return f"; _t1 = _fclk(); _kacc[{pos}] += _t1 - _t0; _t0 = _t1{count}"

    def _memory_suffix(self, node, pos: int) -> str:
        if not self.profile.memory:
            return ""
        sizes = "".join(f"_fga({self.name_of(o)}, 'nbytes', 0), " for o in node.outputs)
        return f"; _ksz[{pos}] = ({sizes.rstrip()}); _fev({pos})"

    def _del_suffix(self, line, by_name, lines, idx) -> str:
        suffix = ""
        if self.profile.memory:
            names = line.strip()[4:].split(", ")
            self.profile.actions.append(("del", [by_name[n] for n in names]))
            suffix = f"; _fev({~(len(self.profile.actions) - 1)})"
        prev = self.line_nodes.get(idx - 1)
        if prev is not None and not isinstance(prev[0].op, IfElse):
            suffix += self._clock_suffix(lines[idx - 1], prev[1])
        return suffix

    def _alias_suffix(self, line: str, by_name) -> str:
        text = line.strip()
        if not self.profile.memory or text.startswith("if ") or text == "else:":
            return ""
        target, _, value = text.partition(" = ")
        self.profile.actions.append(("alias", by_name[target], by_name.get(value)))
        return f"; _fev({~(len(self.profile.actions) - 1)})"


@functools.lru_cache(maxsize=None)
def profiling_codegen_class(base: type) -> type:
    """The profiling subclass of a ``Codegen`` class (eager, lazy, or a backend's own)."""
    if not issubclass(base, Codegen):
        raise TypeError(f"{base.__name__} is not a Codegen class; only generated-Python "
                        "linkers can profile per node")
    return type(f"Profiling{base.__name__}", (ProfilingMixin, base), {})


def make_profiled_function(linker, fgraph, spec, profile: CodeProfile):
    """The linker's generated function, with per-node clocks into ``profile``."""
    cls = profiling_codegen_class(linker.codegen_class)
    gen = cls(fgraph, spec, funcify=linker.funcify, allow_gc=linker.allow_gc, profile=profile)
    fn = gen.compile()
    fn.codegen = gen
    return fn
