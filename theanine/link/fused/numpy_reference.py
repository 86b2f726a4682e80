"""NumPy reference semantics of fused programs.

:func:`numpy_eval` defines what a :class:`~theanine.link.fused.program.KernelProgram`
computes (dtype promotion, integer ``pow`` with negative exponents, ``switch``
conditions) independently of any compiler: the tests compare the native
kernels against it, and the kernels fall back to it where no native path fits.
"""

from __future__ import annotations

import numpy as np

from theanine.scalar.basic import round_half_away_from_zero
from theanine.scalar.transcendental import special

from .program import KernelProgram, compute_dtype

__all__ = ["numpy_eval", "REDUCERS", "write_outputs"]

#: NumPy function of each reduction a program may end with
REDUCERS = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def write_outputs(results: list, out) -> list:
    """Copy elementwise ``results`` into the caller's ``out`` (an array, or a sequence
    with None where an output comes out fresh), after all are computed: an ``out``
    may be an input's buffer.  Returns the results, the written arrays in place."""
    outs = [out] if isinstance(out, np.ndarray) else list(out)
    for k, o in enumerate(outs):
        if o is not None:
            np.copyto(o, results[k], casting="unsafe")
            results[k] = o
    return results


def _np_const(v, dt):
    return np.asarray(v).astype(dt)


def _np_op(op, args, cd, od):
    """Apply ``op`` with NumPy to args already cast to the compute dtype."""
    f = np
    if op in ("sigmoid",):
        return special("expit")(args[0])
    if op in ("erf", "erfc", "gammaln"):
        return special(op)(args[0])
    if op == "round_half_away":
        return round_half_away_from_zero.nfunc(args[0])     # the scalar op's own
    if op == "softplus":
        return np.logaddexp(np.zeros((), args[0].dtype), args[0])
    simple = {
        "add": f.add, "sub": f.subtract, "mul": f.multiply, "true_div": f.true_divide,
        "int_div": f.floor_divide, "mod": f.remainder, "pow": f.power, "neg": f.negative,
        "abs": f.absolute, "sign": f.sign, "floor": f.floor, "ceil": f.ceil,
        "round": f.rint, "trunc": f.trunc, "exp": f.exp, "exp2": f.exp2, "expm1": f.expm1,
        "log": f.log, "log2": f.log2, "log10": f.log10, "log1p": f.log1p, "sqrt": f.sqrt,
        "sqr": f.square, "sin": f.sin, "cos": f.cos, "tan": f.tan, "arcsin": f.arcsin,
        "arccos": f.arccos, "arctan": f.arctan, "arctan2": f.arctan2, "sinh": f.sinh,
        "cosh": f.cosh, "tanh": f.tanh, "arcsinh": f.arcsinh, "arccosh": f.arccosh,
        "arctanh": f.arctanh, "maximum": f.maximum, "minimum": f.minimum, "lt": f.less,
        "gt": f.greater, "le": f.less_equal, "ge": f.greater_equal, "eq": f.equal,
        "neq": f.not_equal, "isnan": f.isnan, "isinf": f.isinf, "reciprocal": f.reciprocal,
    }
    if op in simple:
        return simple[op](*args)
    if op == "clip":
        return np.minimum(np.maximum(args[0], args[1]), args[2])
    if op in ("and", "or", "xor"):
        fn = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[op]
        return fn(args[0], args[1])
    if op == "invert":
        return np.invert(args[0])
    if op == "switch":
        return np.where(args[0], args[1], args[2])
    if op in ("identity", "cast"):
        return args[0]
    raise NotImplementedError(op)


def numpy_eval(program: KernelProgram, *arrays):
    """Evaluate ``program`` with NumPy (reference semantics and fallback path)."""
    if len(arrays) != len(program.inputs):
        raise TypeError(f"expected {len(program.inputs)} inputs, got {len(arrays)}")
    env = {}
    for (name, dt), a in zip(program.inputs, arrays):
        env[name] = np.asarray(a, dtype=dt)
    with np.errstate(all="ignore"):
        for out, op, args in program.instructions:
            od = program.dtype_of(out)
            cd = compute_dtype(op, [program.arg_dtype(a) for a in args], od)
            vals = []
            for k, a in enumerate(args):
                v = env[a] if isinstance(a, str) else None
                if op == "switch" and k == 0:
                    vals.append(v.astype(bool) if v is not None else np.asarray(bool(a)))
                    continue
                tgt = cd
                if op in ("and", "or", "xor", "invert") and od == "bool":
                    tgt = "bool"
                if op in ("isnan", "isinf", "identity", "cast") and v is not None:
                    tgt = v.dtype if op in ("isnan", "isinf") else od
                vals.append(v.astype(tgt, copy=False) if v is not None else _np_const(a, tgt))
            res = _np_op(op, vals, cd, od)
            env[out] = np.asarray(res).astype(od, copy=False)
        outs = [env[o] for o in program.outputs]
        shape = np.broadcast_shapes(*[np.shape(v) for v in env.values()]) if env else ()
        outs = [np.array(np.broadcast_to(o, shape)) if o.shape != shape else o for o in outs]
        # inputs returned as outputs must not alias the caller's arrays
        outs = [np.array(o) if any(o is env[n] for n in program.input_names) else o
                for o in outs]
        if program.reduce is not None:
            rop, axes = program.reduce
            fn = REDUCERS[rop]
            return [np.asarray(fn(outs[0], axis=axes))]
    return outs

