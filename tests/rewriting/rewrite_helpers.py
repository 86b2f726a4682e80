"""Shared helpers for the rewrite tests: compile with rewrites, read what fired."""

from collections import Counter

import numpy as np

import theanine as th

# The rewrite passes under test, without fusion/in-place (other passes, tested elsewhere),
# on the per-node linker so the graph that ran is the graph we inspect.
REWRITE = th.Mode(linker="py", optimizer="fast_run").excluding("fusion", "inplace")
NO_REWRITE = th.Mode(linker="py", optimizer=None)


def compile_both(inputs, outputs, mode=REWRITE):
    """(rewritten function, reference function without rewrites, Counter of rules fired)."""
    f = th.function(inputs, outputs, mode=mode, on_unused_input="ignore")
    ref = th.function(inputs, outputs, mode=NO_REWRITE, on_unused_input="ignore")
    return f, ref, fired(f)


def fired(f) -> Counter:
    counts = Counter()
    for report in f.maker.rewrite_report.passes:
        counts.update(report.applied)
    return counts


def op_names(f) -> list:
    """Class names of the ops (scalar op names for Elemwise) in the compiled graph."""
    out = []
    for node in f.maker.fgraph.toposort():
        scalar = getattr(node.op, "scalar_op", None)
        out.append(scalar.name if scalar is not None else type(node.op).__name__)
    return out


def random_values(inputs, rng, low=-2.0, high=2.0):
    vals = []
    for v in inputs:
        shape = tuple(3 if s is None else s for s in v.type.shape)
        vals.append(rng.uniform(low, high, size=shape).astype(v.dtype))
    return vals


def assert_same_values(f, ref, values, rtol=1e-6, atol=1e-9):
    got, want = f(*values), ref(*values)
    if not isinstance(got, list):
        got, want = [got], [want]
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
