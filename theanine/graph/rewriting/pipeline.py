"""The one ordered list of named rewrite passes, and the query a mode makes over it.

The order is the compiler's story: merge, canonicalize, stabilize, specialize,
rewrite loops, merge again, fuse elementwise ops, make ops in-place.  Rules register into a
pass by name (``register_rule("canonicalize", rule)``); a mode selects passes
and rules by tag (``fast_run``, ``fast_compile``) and can exclude any by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from theanine.config import config
from theanine.graph.rewriting.basic import EquilibriumPass, GraphPass, Rule
from theanine.graph.rewriting.merge import merge_graph
from theanine.graph.rewriting.trace import RewriteTrace
from theanine.graph.utils import collector_paused


@dataclass(frozen=True)
class Query:
    """Which passes/rules run: tags/names to include, tags/names to exclude.

    ``capabilities``: what the backend that will run the graph can do (which ops
    its kernels fuse, ...), an object the rewrites that depend on it consult via
    ``fgraph.capabilities``; None leaves the rewrites' own conservative defaults.
    A mode is such a query plus its backend, which supplies the capabilities.
    """

    include: frozenset = frozenset()
    exclude: frozenset = frozenset()
    name: str = "custom"
    capabilities: object = None

    def including(self, *tags) -> Query:
        return replace(self, include=self.include | set(tags), exclude=self.exclude - set(tags))

    def excluding(self, *tags) -> Query:
        return replace(self, exclude=self.exclude | set(tags))

    def with_capabilities(self, capabilities) -> Query:
        return replace(self, capabilities=capabilities)


@dataclass
class RewriteReport:
    """What a pipeline run did: one PassReport per pass that ran."""

    passes: list = field(default_factory=list)

    @property
    def time(self) -> float:
        return sum(p.time for p in self.passes)

    def summary(self) -> str:
        return "\n".join(p.summary() for p in self.passes)


FAST_RUN = ("fast_run",)
BOTH = ("fast_run", "fast_compile")

# Every pass, in order.  ``scan``, ``fusion`` and ``inplace`` are placeholders here
# (this layer cannot import the loop or tensor layers): the modules that implement
# them put the real pass in its slot with ``replace_pass`` when imported.
PIPELINE: list = [
    GraphPass("merge1", merge_graph, tags=BOTH + ("merge",)),
    EquilibriumPass("canonicalize", tags=BOTH),
    EquilibriumPass("stabilize", tags=FAST_RUN),
    EquilibriumPass("specialize", tags=FAST_RUN),
    EquilibriumPass("scan", tags=FAST_RUN + ("scan",)),
    GraphPass("merge2", merge_graph, tags=BOTH + ("merge",)),
    EquilibriumPass("fusion", tags=FAST_RUN),
    EquilibriumPass("inplace", tags=FAST_RUN),
]


def get_pass(name: str):
    for p in PIPELINE:
        if p.name == name:
            return p
    raise KeyError(f"no rewrite pass named {name!r}; passes: "
                   f"{', '.join(p.name for p in PIPELINE)}")


def register_rule(pass_name: str, rw=None, *, tracks=(), name=None, tags=()):
    """Register a rule into a pass; usable as ``@register_rule("stabilize", tracks=[...])``."""

    def add(fn):
        r = fn if isinstance(fn, Rule) else Rule(fn, tracks, name, tags)
        get_pass(pass_name).register(r)
        return r

    return add(rw) if rw is not None else add


def replace_pass(name: str, new_pass) -> None:
    """Swap a pass for another of the same name (e.g. a graph-level fusion pass)."""
    for i, p in enumerate(PIPELINE):
        if p.name == name:
            PIPELINE[i] = new_pass
            return
    raise KeyError(name)


def run_pipeline(fgraph, query: Query) -> RewriteReport:
    """Apply every pass of ``PIPELINE`` that ``query`` selects, in order.

    The cyclic garbage collector is paused meanwhile (``collector_paused``).
    """
    report = RewriteReport()
    if query.capabilities is not None or not hasattr(fgraph, "capabilities"):
        fgraph.capabilities = query.capabilities
    trace = None
    if config.trace_rewrites:           # opt-in: off, nothing listens to the rewrites
        trace = fgraph.rewrite_trace = RewriteTrace()
        fgraph.attach_feature(trace)
    try:
        with collector_paused():
            for rewrite_pass in PIPELINE:
                if rewrite_pass.selected(query):
                    if trace is not None:
                        trace.current_pass = rewrite_pass.name
                    report.passes.append(rewrite_pass.apply(fgraph, query))
    finally:
        if trace is not None:
            fgraph.remove_feature(trace)
    return report


OPTIMIZER_QUERIES = {
    "fast_run": Query(frozenset({"fast_run"}), name="fast_run"),
    "fast_compile": Query(frozenset({"fast_compile"}), name="fast_compile"),
    "merge": Query(frozenset({"merge"}), name="merge"),
    "None": Query(frozenset(), name="None"),
}
