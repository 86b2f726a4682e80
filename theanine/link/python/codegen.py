"""The NumPy backend's code generator and linkers (``vm``, ``py``).

``Codegen`` is the backend-neutral ``Emitter`` (link/emitter.py) with this
backend's fast paths: 0-d ufuncs inlined as expressions, and 0-d float64 ``+ - *``
as Python float arithmetic.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Constant
from theanine.link.backend import Backend
from theanine.link.callspec import CallSpec
from theanine.link.emitter import Emitter
from theanine.link.python.dispatch import perform_thunk, python_funcify
from theanine.link.python.dispatch_fused import KERNEL_CAPABILITIES


class Codegen(Emitter):
    """The emitter with the NumPy backend's dispatch and fast paths."""

    def __init__(self, fgraph, spec: CallSpec, funcify=python_funcify, allow_gc=None):
        super().__init__(fgraph, spec, funcify=funcify, allow_gc=allow_gc)

    def call_expr(self, node, pos: int) -> str:
        args = ", ".join(self.name_of(i) for i in node.inputs)
        thunk = self.make_thunk(node)
        ufunc = getattr(thunk, "inline_ufunc", None)
        if ufunc is not None and _float_arith_ok(ufunc, node):
            return self._float_arith_expr(ufunc, node)
        if ufunc is not None:
            self.ns["_asarray"] = np.asarray
            self.ns[f"_u{pos}"] = ufunc
            return f"_asarray(_u{pos}({args}))"
        self.ns[f"_f{pos}"] = thunk
        return f"_f{pos}({args})"

    def _float_arith_expr(self, ufunc, node) -> str:
        """0-d float64 ``+ - *`` as Python float arithmetic (same IEEE doubles, and
        these operators never raise): a third of the cost of a ufunc call on 0-d
        arrays, which is most of a scalar function's call overhead."""
        self.ns["_array"] = np.array
        args = []
        for inp in node.inputs:
            if isinstance(inp, Constant):
                name = f"_c{len(self.ns)}"
                self.ns[name] = float(inp.data)
                args.append(name)
            else:
                args.append(f"float({self.name_of(inp)})")
        return f"_array({_FLOAT_OPERATORS[ufunc].format(*args)})"


_FLOAT_OPERATORS = {np.add: "{} + {}", np.subtract: "{} - {}", np.multiply: "{} * {}",
                    np.negative: "-{}"}


def _float_arith_ok(ufunc, node) -> bool:
    return (ufunc in _FLOAT_OPERATORS and ufunc.nin == len(node.inputs)
            and len(node.outputs) == 1 and node.outputs[0].type.shape == ()
            and node.outputs[0].type.dtype == "float64"
            and all(i.type.dtype == "float64" and i.type.shape == () for i in node.inputs))


class VMLinker(Backend):
    """The default linker: generated Python, NumPy and fused kernels per node."""

    name = "vm"
    codegen_class = Codegen
    capabilities = KERNEL_CAPABILITIES     # what its fused kernels express (fusion asks)

    def __init__(self, allow_gc=None, funcify=None):
        self.allow_gc = allow_gc
        self.funcify = funcify or python_funcify

    def make_function(self, fgraph, spec: CallSpec):
        gen = self.codegen_class(fgraph, spec, funcify=self.funcify, allow_gc=self.allow_gc)
        fn = gen.compile()
        fn.codegen = gen
        return fn


class EagerCodegen(Codegen):
    """Straight-line code: both branches of every IfElse run (the ``py`` linker)."""

    lazy = False


class PyLinker(VMLinker):
    """The reference linker: every node runs its ``perform``, eagerly (no fast paths)."""

    name = "py"
    codegen_class = EagerCodegen

    def __init__(self, allow_gc=None):
        super().__init__(allow_gc=allow_gc, funcify=perform_thunk)


