"""The default engine as the reference for errors: a call that failed in compiled
code (Numba, XLA) is run again here, so every backend raises the same exception,
with the message that names the node and the user's line."""

from __future__ import annotations

from theanine.link.callspec import ArgSpec, CallSpec
from theanine.link.python.codegen import VMLinker


def default_engine_rerun(fgraph):
    """``rerun(exc, *inputs)``: raise the default engine's error for these inputs
    instead of ``exc``; return (the caller re-raises ``exc``) where the default
    engine does not fail, or ``exc`` is a ``NotImplementedError`` (a form the
    compiled code lacks, not a user error)."""
    def rerun(exc, *inputs):
        if isinstance(exc, NotImplementedError):
            return
        plain = CallSpec(args=[ArgSpec(None, v.type) for v in fgraph.inputs],
                         input_sources=[("arg", k) for k in range(len(fgraph.inputs))],
                         n_outputs=len(fgraph.outputs),
                         copy_outputs=[False] * len(fgraph.outputs),
                         update_containers=[], return_list=True, check_inputs=False)
        try:
            VMLinker().make_function(fgraph, plain)(*inputs)
        except Exception as better:
            raise better from None

    return rerun


__all__ = ["default_engine_rerun"]
