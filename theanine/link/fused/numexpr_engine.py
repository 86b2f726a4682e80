"""numexpr back end for fused programs (for machines without Numba).

Only programs whose values are all float64 (bool allowed for comparison
results and ``switch`` conditions) are accepted; anything else raises
``NotImplementedError`` so the caller can use NumPy instead.  Reductions are
applied with NumPy after the numexpr pass (so they allocate the elementwise
result).
"""

from __future__ import annotations

import numpy as np

from .numpy_reference import REDUCERS, numpy_eval, write_outputs
from .program import KernelProgram

__all__ = ["available", "compile_program", "NumexprKernel"]

try:  # optional dependency
    import numexpr as _ne
except ImportError:  # pragma: no cover - depends on the machine
    _ne = None


def available() -> bool:
    return _ne is not None


_FUNCS = {
    "exp": "exp({0})", "expm1": "expm1({0})", "log": "log({0})", "log1p": "log1p({0})",
    "log10": "log10({0})", "sqrt": "sqrt({0})", "sin": "sin({0})", "cos": "cos({0})",
    "tan": "tan({0})", "arcsin": "arcsin({0})", "arccos": "arccos({0})",
    "arctan": "arctan({0})", "sinh": "sinh({0})", "cosh": "cosh({0})", "tanh": "tanh({0})",
    "arcsinh": "arcsinh({0})", "arccosh": "arccosh({0})", "arctanh": "arctanh({0})",
    "arctan2": "arctan2({0}, {1})", "abs": "abs({0})", "neg": "(-{0})", "sqr": "({0} * {0})",
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
    "true_div": "({0} / {1})", "pow": "({0} ** {1})", "reciprocal": "(1.0 / {0})",
    "identity": "{0}",
    "maximum": "where({0} != {0}, {0}, where({1} != {1}, {1}, where({0} > {1}, {0}, {1})))",
    "minimum": "where({0} != {0}, {0}, where({1} != {1}, {1}, where({0} < {1}, {0}, {1})))",
    "sigmoid": "where({0} >= 0, 1.0 / (1.0 + exp(-{0})), exp({0}) / (1.0 + exp({0})))",
    "softplus": "where({0} > 0, {0} + log1p(exp(-{0})), log1p(exp({0})))",
    "lt": "({0} < {1})", "gt": "({0} > {1})", "le": "({0} <= {1})", "ge": "({0} >= {1})",
    "eq": "({0} == {1})", "neq": "({0} != {1})", "isnan": "({0} != {0})",
    "switch": "where({0}, {1}, {2})",
    "and": "({0} & {1})", "or": "({0} | {1})", "invert": "(~{0})",
}
_BOOL_OPS = {"lt", "gt", "le", "ge", "eq", "neq", "isnan", "and", "or", "invert"}


def _translate(program: KernelProgram) -> list[str]:
    for _, d in program.inputs:
        if d not in ("float64", "bool"):
            raise NotImplementedError(f"numexpr engine: input dtype {d}")
    exprs: dict[str, str] = {n: n for n, _ in program.inputs}
    for out, op, args in program.instructions:
        od = program.dtype_of(out)
        if op not in _FUNCS:
            raise NotImplementedError(f"numexpr engine: op {op}")
        want = "bool" if op in _BOOL_OPS else "float64"
        if od != want:
            raise NotImplementedError(f"numexpr engine: {op} -> {od}")
        parts = []
        for k, a in enumerate(args):
            if isinstance(a, str):
                ad = program.dtype_of(a)
                need = "bool" if (op in ("and", "or", "invert") or (op == "switch" and k == 0)) \
                    else "float64"
                if ad != need:
                    raise NotImplementedError(f"numexpr engine: {op} argument dtype {ad}")
                parts.append(exprs[a])
            elif isinstance(a, bool):
                parts.append("True" if a else "False")
            else:
                v = float(a)
                if v != v or v in (float("inf"), float("-inf")):
                    raise NotImplementedError("numexpr engine: non-finite constant")
                parts.append(f"({v!r})")
        exprs[out] = _FUNCS[op].format(*parts)
    return [exprs[o] for o in program.outputs]


class NumexprKernel:
    def __init__(self, program: KernelProgram):
        self.program = program
        self.exprs = _translate(program)
        self.names = [n for n, _ in program.inputs]

    def __call__(self, *arrays, out=None):
        env = {n: np.asarray(a, dtype=d) for (n, d), a in zip(self.program.inputs, arrays)}
        shape = np.broadcast_shapes(*[a.shape for a in env.values()]) if env else ()
        res = []
        for e in self.exprs:
            r = np.asarray(_ne.evaluate(e, local_dict=env, global_dict={}))
            if r.shape != shape:
                r = np.array(np.broadcast_to(r, shape))
            res.append(r)
        if self.program.reduce is not None:
            op, axes = self.program.reduce
            return [np.asarray(REDUCERS[op](res[0], axis=axes))]
        return res if out is None else write_outputs(res, out)

    def numpy_fallback(self, *arrays, out=None):
        res = numpy_eval(self.program, *arrays)
        if out is not None and self.program.reduce is None:
            return write_outputs(res, out)
        return res


def compile_program(program: KernelProgram, *, cache_dir=None, parallel=True) -> NumexprKernel:
    """numexpr kernel for ``program``; ``NotImplementedError`` if not expressible."""
    if _ne is None:
        raise NotImplementedError("numexpr is not installed")
    del cache_dir, parallel
    return NumexprKernel(program)
