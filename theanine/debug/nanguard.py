"""NanGuardMode: stop at the first node that produces NaN, Inf or huge values."""

from __future__ import annotations

import numpy as np

from theanine.compile.mode import Mode, register_mode
from theanine.config import config
from theanine.debug.errors import InvalidValueError
from theanine.graph.utils import format_trace, user_line
from theanine.link.errors import input_lines
from theanine.link.python.codegen import Codegen, VMLinker

BIG = 1e10


class NanGuardError(InvalidValueError):
    """A node produced a NaN, an Inf or a value larger than 1e10 in magnitude."""


class NanGuardCodegen(Codegen):
    """Generated code that checks every node's outputs right after it runs."""

    checks = (True, True, True)

    def emit_node(self, node, pos):
        lines = super().emit_node(node, pos)
        outs = ", ".join(self.name_of(o) for o in node.outputs)
        reads = ", ".join(self.name_of(i) for i in node.inputs)
        self.ns["_guard"] = self.guard
        return lines + [f"_guard({pos}, ({outs},), ({reads}{',' if reads else ''}))"]

    def guard(self, pos, outputs, inputs) -> None:
        nan_err, inf_err, big_err = self.checks
        for index, value in enumerate(outputs):
            if not isinstance(value, np.ndarray) or value.dtype.kind not in "fc":
                continue
            problem = None
            if nan_err and np.isnan(value).any():
                problem = "NaN"
            elif inf_err and np.isinf(value).any():
                problem = "Inf"
            elif big_err and value.size and np.nanmax(np.abs(value)) > BIG:
                problem = f"a value larger than {BIG:g} in magnitude"
            if problem:
                self._report(pos, index, problem, inputs)

    def _report(self, pos, index, problem, inputs):
        node = self.order[pos]
        lines = [f"NanGuardMode: output {index} of node {node} (position {pos}) contains "
                 f"{problem}",
                 f"Created at {user_line(node.tag.trace)}"]
        lines += input_lines(node, inputs, with_type=False)
        if node.tag.trace:
            lines.append(format_trace(node.tag.trace))
        error = NanGuardError("\n".join(lines))
        error.__theanine_node__ = node
        raise error


class NanGuardLinker(VMLinker):
    name = "nanguard"

    def __init__(self, nan_is_error=None, inf_is_error=None, big_is_error=None):
        super().__init__()
        flags = (nan_is_error, inf_is_error, big_is_error)
        defaults = (config.NanGuardMode__nan_is_error, config.NanGuardMode__inf_is_error,
                    config.NanGuardMode__big_is_error)
        checks = tuple(d if f is None else f for f, d in zip(flags, defaults))
        self.codegen_class = type("NanGuardCodegen", (NanGuardCodegen,), {"checks": checks})


class NanGuardMode(Mode):
    """``mode=NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True)``.

    Elementwise fusion is off, so the node named is the one elementwise op that
    produced the bad value, with its own source line.
    """

    def __init__(self, nan_is_error=None, inf_is_error=None, big_is_error=None,
                 optimizer="fast_run"):
        super().__init__(NanGuardLinker(nan_is_error, inf_is_error, big_is_error), optimizer,
                         name="NanGuardMode")
        self.query = self.query.excluding("fusion")


register_mode("NanGuardMode", NanGuardMode)
