"""The ordered list of named rewrite passes, and the query a mode makes over it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Query:
    """Which passes/rules run: a base set by tag, plus includes and excludes."""

    include: frozenset = frozenset()
    exclude: frozenset = frozenset()
    name: str = "custom"

    def including(self, *tags) -> Query:
        return Query(self.include | set(tags), self.exclude - set(tags), self.name)

    def excluding(self, *tags) -> Query:
        return Query(self.include, self.exclude | set(tags), self.name)


@dataclass
class RewriteReport:
    """What a pipeline run did: per pass, time and rule counts."""

    passes: list = field(default_factory=list)


PIPELINE: list = []


def run_pipeline(fgraph, query: Query) -> RewriteReport:
    """Apply every pass of ``PIPELINE`` selected by ``query`` to ``fgraph``."""
    report = RewriteReport()
    for rewrite_pass in PIPELINE:
        if rewrite_pass.selected(query):
            report.passes.append(rewrite_pass.apply(fgraph))
    return report


OPTIMIZER_QUERIES = {
    "fast_run": Query(frozenset({"fast_run"}), name="fast_run"),
    "fast_compile": Query(frozenset({"fast_compile"}), name="fast_compile"),
    "merge": Query(frozenset({"merge"}), name="merge"),
    "None": Query(frozenset(), name="None"),
}
