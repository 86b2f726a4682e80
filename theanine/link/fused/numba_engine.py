"""Numba back end for fused elementwise programs.

:func:`compile_program` generates the Python source of a small kernel module
for a :class:`~theanine.link.fused.program.KernelProgram`, writes it to
``<cache_dir>/fused/`` under a name derived from the program key, imports it
and wraps its ``@njit(cache=True)`` kernels in a :class:`Kernel`.  Numba's
on-disk cache sits next to the generated file, so a second process only pays
for loading machine code.

Kernels (all compiled lazily, on first use of a given argument pattern):

* ``flat_ser`` / ``flat_par``: all array operands C- (or all F-) contiguous with
  the broadcast shape, size-1 operands passed as scalars; a flat loop in blocks
  of ``BLOCK`` elements.  ``flat_par`` runs the blocks in ``prange`` and is only
  used for at least :data:`PARALLEL_MIN` elements.
* ``nd_ser`` / ``nd_par``: everything else; operands are broadcast views
  coalesced to three dimensions (zero strides for broadcast axes).
* ``red_flat_*``, ``red_nd_*``: full reductions (no full-size temporary; each
  block is evaluated into a small buffer that is reduced with reassociation so
  that it vectorizes).
* ``red_inner_*`` / ``red_outer_*``: reductions over some axes on a
  ``(kept, reduced)`` 2-d view; ``outer`` accumulates rows into the result when
  the kept axis is the fast memory axis.

Programs that call sin/cos evaluate each block with the vectorizable
reduction (valid for ``|x| < 1e6``) and re-run the block with libm when any
argument is beyond that.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .program import (
    COMPARISONS,
    FLOAT_DTYPES,
    INT_DTYPES,
    UNSIGNED_DTYPES,
    KernelProgram,
    compute_dtype,
)

__all__ = [
    "Kernel",
    "AsyncKernel",
    "compile_program",
    "compile_program_async",
    "available",
    "numpy_eval",
    "PARALLEL_MIN",
    "BLOCK",
    "default_cache_dir",
]

#: smallest element count for which the ``prange`` kernels are used
PARALLEL_MIN = 1 << 14
#: elements per block in the flat kernels
BLOCK = 2048

_HERE = Path(__file__).resolve().parent


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the machine
        return False
    return True


def default_cache_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".theanine", "compiledir")


def _engine_version() -> str:
    h = hashlib.sha256()
    for name in ("numba_engine.py", "_nbsupport.py", "vecmath.py", "program.py"):
        h.update((_HERE / name).read_bytes())
    try:
        import numba

        h.update(numba.__version__.encode())
    except ImportError:  # pragma: no cover
        pass
    h.update(np.__version__.encode())
    return h.hexdigest()[:16]


_ENGINE_VERSION = None


def engine_version() -> str:
    global _ENGINE_VERSION
    if _ENGINE_VERSION is None:
        _ENGINE_VERSION = _engine_version()
    return _ENGINE_VERSION


# =============================================================== NumPy reference
def _scipy_special():
    import scipy.special

    return scipy.special


def _np_const(v, dt):
    return np.asarray(v).astype(dt)


def _np_op(op, args, cd, od):
    """Apply ``op`` with NumPy to args already cast to the compute dtype."""
    f = np
    if op in ("sigmoid",):
        return _scipy_special().expit(args[0])
    if op in ("erf", "erfc"):
        return getattr(_scipy_special(), op)(args[0])
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
        if op == "pow" and cd in INT_DTYPES:
            return _np_int_pow(args[0], args[1])
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


def _np_int_pow(a, b):
    b = np.asarray(b)
    if np.any(b < 0):
        # same convention as the native kernel: 1**-n = 1, (-1)**-n = +-1, else 0
        with np.errstate(all="ignore"):
            pos = np.power(a, np.where(b < 0, 0, b))
            one = np.ones_like(pos)
            neg = np.where(a == 1, one, np.where(a == -1, np.where(b % 2 == 0, one, -one),
                                                 np.zeros_like(pos)))
            return np.where(b < 0, neg, pos)
    return np.power(a, b)


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
            fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[rop]
            return [np.asarray(fn(outs[0], axis=axes))]
    return outs


# =============================================================== code generation
def _npname(dt: str) -> str:
    return "np.bool_" if dt == "bool" else f"np.{dt}"


def _lit(value, dt: str) -> str:
    """Source literal of Python constant ``value`` converted to dtype ``dt``."""
    with np.errstate(all="ignore"):
        v = np.asarray(value).astype(dt)[()]
    if dt == "bool":
        return "True" if bool(v) else "False"
    if dt in FLOAT_DTYPES:
        f = float(v)
        if f != f:
            s = "np.nan"
        elif f in (float("inf"), float("-inf")):
            s = "np.inf" if f > 0 else "(-np.inf)"
        else:
            s = repr(f)
        return f"{_npname(dt)}({s})"
    return f"{_npname(dt)}({int(v)})"


def _cast(expr: str, src: str, dst: str) -> str:
    if src == dst:
        return expr
    if dst == "bool":
        return f"({expr} != 0)"
    return f"{_npname(dst)}({expr})"


_VM_FUNCS = {"exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "softplus"}
_NP_FUNCS = {
    "exp2": "np.exp2", "log2": "np.log2", "log10": "np.log10", "sqrt": "np.sqrt",
    "tan": "np.tan", "arcsin": "np.arcsin", "arccos": "np.arccos", "arctan": "np.arctan",
    "sinh": "np.sinh", "cosh": "np.cosh", "arcsinh": "np.arcsinh", "arccosh": "np.arccosh",
    "arctanh": "np.arctanh", "floor": "np.floor", "ceil": "np.ceil", "trunc": "np.trunc",
    "round": "np.rint", "erf": "math.erf", "erfc": "math.erfc",
}


class _BodyGen:
    """Emit the straight-line body of a program for one element."""

    def __init__(self, program: KernelProgram, vectorized: bool):
        self.p = program
        self.vec = vectorized
        self.lines: list[str] = []
        self.trig_args: list[str] = []
        self.names: dict[str, str] = {}
        self.tmp = 0

    def arg(self, a, dt: str) -> str:
        """Expression for argument ``a`` converted to dtype ``dt``."""
        if isinstance(a, str):
            return _cast(self.names[a], self.p.dtype_of(a), dt)
        return _lit(a, dt)

    def new(self, expr: str) -> str:
        name = f"t{self.tmp}"
        self.tmp += 1
        self.lines.append(f"{name} = {expr}")
        return name

    def emit(self, out: str, op: str, args: tuple) -> None:
        p = self.p
        od = p.dtype_of(out)
        cd = compute_dtype(op, [p.arg_dtype(a) for a in args], od)
        isf = cd in FLOAT_DTYPES
        isu = cd in UNSIGNED_DTYPES
        suffix = "f32" if cd == "float32" else "f64"
        A = [self.arg(a, cd) for a in args] if op not in ("switch",) else None
        e = None
        if op in ("add", "sub", "mul"):
            sym = {"add": "+", "sub": "-", "mul": "*"}[op]
            e = f"({A[0]} {sym} {A[1]})"
        elif op == "true_div":
            e = f"({A[0]} / {A[1]})"
        elif op == "int_div":
            e = f"_s.{'ffloordiv' if isf else 'ifloordiv'}({A[0]}, {A[1]})"
        elif op == "mod":
            e = f"_s.{'fremainder' if isf else 'imod'}({A[0]}, {A[1]})"
        elif op == "pow":
            e = f"({A[0]} ** {A[1]})" if isf else f"_s.ipow({A[0]}, {A[1]})"
        elif op == "neg":
            e = f"(-{A[0]})" if isf else f"({_lit(0, cd)} - {A[0]})"
        elif op == "abs":
            e = A[0] if isu else f"abs({A[0]})"
        elif op == "sign":
            if isf:
                e = f"_s.fsign({A[0]})"
            elif isu:
                e = f"({A[0]} > 0)"
            else:
                e = f"_s.isign({A[0]})"
        elif op in ("floor", "ceil", "trunc", "round"):
            e = f"{_NP_FUNCS[op]}({A[0]})" if isf else A[0]
        elif op in _VM_FUNCS:
            fname = op
            if op in ("sin", "cos") and self.vec:
                fname = op + "_" + suffix + "_v"
                self.trig_args.append(self.new(_cast(A[0], cd, "float64")))
            elif self.vec:
                fname = op + "_" + suffix
            else:
                fname = op + "_" + suffix + "_ni"
            e = f"_vm.{fname}({A[0]})"
        elif op in _NP_FUNCS:
            e = f"{_NP_FUNCS[op]}({A[0]})"
        elif op == "arctan2":
            e = f"np.arctan2({A[0]}, {A[1]})"
        elif op == "sqr":
            e = f"({A[0]} * {A[0]})"
        elif op == "reciprocal":
            e = f"({_lit(1, cd)} / {A[0]})"
        elif op in ("maximum", "minimum"):
            if cd == "bool":
                e = f"({A[0]} {'|' if op == 'maximum' else '&'} {A[1]})"
            else:
                e = f"_s.f{op}({A[0]}, {A[1]})"
        elif op == "clip":
            e = f"_s.fminimum(_s.fmaximum({A[0]}, {A[1]}), {A[2]})"
        elif op in COMPARISONS:
            sym = {"lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "neq": "!="}[op]
            e = f"({A[0]} {sym} {A[1]})"
        elif op in ("and", "or", "xor"):
            sym = {"and": "&", "or": "|", "xor": "^"}[op]
            if od == "bool":
                B = [self.arg(a, "bool") for a in args]
                e = f"({B[0]} {sym} {B[1]})"
            else:
                e = f"({A[0]} {sym} {A[1]})"
        elif op == "invert":
            if od == "bool":
                e = f"(not {self.arg(args[0], 'bool')})"
            else:
                e = f"(~{A[0]})"
        elif op == "switch":
            c = self.arg(args[0], "bool")
            e = f"({self.arg(args[1], od)} if {c} else {self.arg(args[2], od)})"
        elif op in ("isnan", "isinf"):
            if isf:
                e = f"({A[0]} != {A[0]})" if op == "isnan" else f"(abs({A[0]}) == np.inf)"
            else:
                e = "False"
        elif op in ("identity", "cast"):
            e = self.arg(args[0], od)
        if e is None:
            raise NotImplementedError(f"op {op} with dtype {cd}")
        bool_valued = (op in COMPARISONS or op in ("isnan", "isinf")
                       or (op in ("and", "or", "xor", "invert", "switch", "identity", "cast")
                           and od == "bool")
                       or (op in ("maximum", "minimum") and cd == "bool"))
        if od == "bool":
            final = e if bool_valued else f"({e} != 0)"
        else:
            final = f"{_npname(od)}({e})"
        self.names[out] = self.new(final)

    def generate(self, fname: str) -> str:
        p = self.p
        params = [f"x{k}" for k in range(len(p.inputs))]
        for (name, _), par in zip(p.inputs, params):
            self.names[name] = par
        for out, op, args in p.instructions:
            self.emit(out, op, args)
        outs = []
        for o in p.outputs:
            outs.append(self.names[o])
        ret = "(" + ", ".join(outs) + ",)"
        body = [f"def {fname}({', '.join(params)}):"]
        body += ["    " + ln for ln in self.lines]
        if self.vec:
            if self.trig_args:
                flag = " | ".join(f"_vm.trig_needs_libm({t})" for t in self.trig_args)
            else:
                flag = "False"
            body.append(f"    return {ret}, ({flag})")
        else:
            body.append(f"    return {ret}")
        return "\n".join(body)


def _acc_init(op: str, dt: str) -> str:
    if op == "sum":
        return _lit(0, dt)
    if op == "prod":
        return _lit(1, dt)
    if dt == "bool":
        return "False" if op == "max" else "True"
    if dt in FLOAT_DTYPES:
        return _lit(float("-inf") if op == "max" else float("inf"), dt)
    info = np.iinfo(dt)
    return _lit(info.min if op == "max" else info.max, dt)


def generate_source(program: KernelProgram, parallel: bool = True) -> str:
    p = program
    n_in = len(p.inputs)
    n_out = len(p.outputs)
    has_trig = any(op in ("sin", "cos") for _, op, _ in p.instructions)
    in_list = [f"a{k}" for k in range(n_in)]
    out_list = [f"o{k}" for k in range(n_out)]
    io = ", ".join(in_list + out_list)
    ins_ = "".join(f", {x}" for x in in_list)       # ", a0, a1" (leading comma)
    ins_out = "".join(f", {x}" for x in in_list + ["out"])
    ld1 = ", ".join(f"_s.ld(a{k}, i)" for k in range(n_in))
    ld2 = ", ".join(f"_s.ld2(a{k}, k, q)" for k in range(n_in))
    ld3 = ", ".join(f"_s.ld3(a{k}, i, j, l)" for k in range(n_in))
    inl = "@numba.njit(inline='always', error_model='numpy', cache=True)"
    par = "True" if parallel else "False"

    def jit(parallel_kernel: bool) -> str:
        pk = par if parallel_kernel else "False"
        return f"@numba.njit(cache=True, parallel={pk}, error_model='numpy', nogil=True)"

    src = [
        "# generated by theanine.link.fused.numba_engine -- do not edit",
        f"# program key {p.key()}  engine {engine_version()}",
        "import math",
        "import numba",
        "import numpy as np",
        "from numba import prange",
        "from theanine.link.fused import _nbsupport as _s",
        "from theanine.link.fused import vecmath as _vm",
        "",
        f"BLOCK = {BLOCK}",
        "",
        inl,
        _BodyGen(p, vectorized=False).generate("body"),
        "",
        inl,
        _BodyGen(p, vectorized=True).generate("body_v"),
        "",
    ]
    a = src.append

    # Each loop body lives in an out-of-line helper (compiled once per argument
    # types and shared by the serial and the parallel driver); the drivers only
    # distribute blocks/rows, which keeps the parfor passes cheap.
    helper = "@numba.njit(cache=True, error_model='numpy', nogil=True)"
    # ---------------------------------------------------------- elementwise
    a(helper)
    a(f"def _flat_block(start, stop, {io}):")
    a("    bad = False")
    a("    for i in range(start, stop):")
    a(f"        r, b = body_v({ld1})")
    if has_trig:
        a("        bad |= b")
    for k in range(n_out):
        a(f"        o{k}[i] = r[{k}]")
    if has_trig:
        a("    if bad:")
        a("        for i in range(start, stop):")
        a(f"            r = body({ld1})")
        for k in range(n_out):
            a(f"            o{k}[i] = r[{k}]")
    a("    return 0")
    a("")
    for name, rng, pk in (("flat_ser", "range", False), ("flat_par", "prange", True)):
        a(jit(pk))
        a(f"def {name}(n, {io}):")
        a("    nb = (n + BLOCK - 1) // BLOCK")
        a(f"    for blk in {rng}(nb):")
        a("        start = blk * BLOCK")
        a(f"        _flat_block(start, min(start + BLOCK, n), {io})")
        a("")
    a(helper)
    a(f"def _nd_row(i, j, s2, {io}):")
    a("    for l in range(s2):")
    a(f"        r = body({ld3})")
    for k in range(n_out):
        a(f"        o{k}[i, j, l] = r[{k}]")
    a("    return 0")
    a("")
    for name, rng, pk in (("nd_ser", "range", False), ("nd_par", "prange", True)):
        a(jit(pk))
        a(f"def {name}(s0, s1, s2, {io}):")
        a(f"    for ij in {rng}(s0 * s1):")
        a("        i = ij // s1")
        a(f"        _nd_row(i, ij - i * s1, s2, {io})")
        a("")

    # ---------------------------------------------------------- reductions
    if p.reduce is not None:
        rop = p.reduce[0]
        rdt = p.reduce_dtype()
        odt = p.output_dtypes()[0]
        init = _acc_init(rop, rdt)
        val = _cast("r[0]", odt, rdt)
        a(helper)
        a(f"def _red_block(start, stop{ins_}):")
        a(f"    buf = np.empty(BLOCK, {_npname(rdt)})")
        a("    bad = False")
        a("    for i in range(start, stop):")
        a(f"        r, b = body_v({ld1})")
        if has_trig:
            a("        bad |= b")
        a(f"        buf[i - start] = {val}")
        if has_trig:
            a("    if bad:")
            a("        for i in range(start, stop):")
            a(f"            r = body({ld1})")
            a(f"            buf[i - start] = {val}")
        a(f"    return _s.{rop}_buf(buf, stop - start, {init})")
        a("")
        for name, rng, pk in (("red_flat_ser", "range", False),
                              ("red_flat_par", "prange", True)):
            a(jit(pk))
            a(f"def {name}(n{ins_}):")
            a("    nb = (n + BLOCK - 1) // BLOCK")
            a(f"    part = np.empty(nb, {_npname(rdt)})")
            a(f"    for blk in {rng}(nb):")
            a("        start = blk * BLOCK")
            a(f"        part[blk] = _red_block(start, min(start + BLOCK, n){ins_})")
            a(f"    return _s.{rop}_buf(part, nb, {init})")
            a("")
        a(helper)
        a(f"def _red_nd_row(i, j, s2{ins_}):")
        a(f"    acc = {init}")
        a("    for l in range(s2):")
        a(f"        r = body({ld3})")
        a(f"        acc = _s.comb_{rop}(acc, {val})")
        a("    return acc")
        a("")
        for name, rng, pk in (("red_nd_ser", "range", False), ("red_nd_par", "prange", True)):
            a(jit(pk))
            a(f"def {name}(s0, s1, s2{ins_}):")
            a(f"    part = np.empty(s0 * s1, {_npname(rdt)})")
            a(f"    for ij in {rng}(s0 * s1):")
            a("        i = ij // s1")
            a(f"        part[ij] = _red_nd_row(i, ij - i * s1, s2{ins_})")
            a(f"    return _s.{rop}_buf(part, s0 * s1, {init})")
            a("")
        a(helper)
        a(f"def _red_inner_row(k, R{ins_}):")
        a(f"    acc = {init}")
        a("    for q in range(R):")
        a(f"        r = body({ld2})")
        a(f"        acc = _s.comb_{rop}(acc, {val})")
        a("    return acc")
        a("")
        for name, rng, pk in (("red_inner_ser", "range", False),
                              ("red_inner_par", "prange", True)):
            a(jit(pk))
            a(f"def {name}(K, R{ins_out}):")
            a(f"    for k in {rng}(K):")
            a(f"        out[k] = _red_inner_row(k, R{ins_})")
            a("")
        a(helper)
        a(f"def _red_outer_block(k0, k1, R{ins_out}):")
        a("    for k in range(k0, k1):")
        a(f"        out[k] = {init}")
        a(f"    tmp = np.empty(k1 - k0, {_npname(rdt)})")
        a("    for q in range(R):")
        a("        bad = False")
        a("        for k in range(k0, k1):")
        a(f"            r, b = body_v({ld2})")
        if has_trig:
            a("            bad |= b")
        a(f"            tmp[k - k0] = {val}")
        if has_trig:
            a("        if bad:")
            a("            for k in range(k0, k1):")
            a(f"                r = body({ld2})")
            a(f"                tmp[k - k0] = {val}")
        a("        for k in range(k0, k1):")
        a(f"            out[k] = _s.comb_{rop}(out[k], tmp[k - k0])")
        a("    return 0")
        a("")
        for name, rng, pk in (("red_outer_ser", "range", False),
                              ("red_outer_par", "prange", True)):
            a(jit(pk))
            a(f"def {name}(K, R{ins_out}):")
            a("    nb = (K + BLOCK - 1) // BLOCK")
            a(f"    for blk in {rng}(nb):")
            a("        k0 = blk * BLOCK")
            a(f"        _red_outer_block(k0, min(k0 + BLOCK, K), R{ins_out})")
            a("")
    return "\n".join(src) + "\n"


# =============================================================== module loading
_MODULES: dict[str, object] = {}
_MODULES_LOCK = threading.Lock()


def _load_module(program: KernelProgram, cache_dir: str | None, parallel: bool):
    cache_dir = cache_dir or default_cache_dir()
    mkey = hashlib.sha256(
        f"{program.key()}|{engine_version()}|{int(parallel)}".encode()).hexdigest()[:40]
    directory = Path(cache_dir) / "fused"
    path = directory / f"k_{mkey}.py"
    modname = f"_theanine_fused_k_{mkey}"
    with _MODULES_LOCK:
        mod = _MODULES.get(str(path))
        if mod is not None:
            return mod, path
        directory.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            src = generate_source(program, parallel=parallel)
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(src)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        _MODULES[str(path)] = mod
        return mod, path


# =============================================================== runtime helpers
def _coalesce(shape, strides_list):
    """Merge adjacent axes that are contiguous for every operand; drop size-1 axes."""
    dims = [(s, [st[k] for st in strides_list]) for k, s in enumerate(shape) if s != 1]
    out: list = []
    for s, sts in dims:
        if out:
            ps, psts = out[-1]
            if all(pst == st * s for pst, st in zip(psts, sts)):
                out[-1] = (ps * s, sts)
                continue
        out.append((s, list(sts)))
    return out


def _view(a, shape, strides):
    return np.lib.stride_tricks.as_strided(a, shape=tuple(shape), strides=tuple(strides),
                                           writeable=a.flags.writeable)


def _as_3d(arrays, shape):
    """Views of broadcast ``arrays`` (all of ``shape``) as 3-d arrays, or None."""
    bstrides = [a.strides if a.shape == shape else np.broadcast_to(a, shape).strides
                for a in arrays]
    dims = _coalesce(shape, bstrides)
    if len(dims) > 3:
        return None
    while len(dims) < 3:
        dims.insert(0, (1, [0] * len(arrays)))
    shp = [d[0] for d in dims]
    views = []
    for k, a in enumerate(arrays):
        base = a if a.shape == shape else np.broadcast_to(a, shape)
        views.append(_view(base, shp, [d[1][k] for d in dims]))
    return shp, views


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.strides == b.strides and a.shape == b.shape and a.dtype == b.dtype)


_PAR_LOCK = threading.Lock()


def _needs_par_lock() -> bool:
    try:
        import numba

        return numba.threading_layer() == "workqueue"
    except (ValueError, ImportError):
        return False


class Kernel:
    """A compiled fused kernel.  Call with the inputs (arrays or scalars).

    Elementwise programs return a list of output arrays; reduce programs return a
    one-element list with the reduced array (0-d for a full reduction).
    ``out=`` (an array or a sequence of arrays, one per output) receives the
    elementwise results; an output may be one of the inputs (in-place).
    """

    def __init__(self, program: KernelProgram, module=None, path=None, parallel=True):
        self.program = program
        self.module = module
        self.path = path
        self.parallel = parallel
        self.in_dtypes = [np.dtype(d) for _, d in program.inputs]
        self.out_dtypes = [np.dtype(d) for d in program.output_dtypes()]
        self.has_trig = any(op in ("sin", "cos") for _, op, _ in program.instructions)
        self._lock_par = parallel and _needs_par_lock()

    # ---------------------------------------------------------- reference
    def numpy_fallback(self, *arrays, out=None):
        res = numpy_eval(self.program, *arrays)
        if out is not None and self.program.reduce is None:
            outs = [out] if isinstance(out, np.ndarray) else list(out)
            for o, r in zip(outs, res):
                np.copyto(o, r, casting="unsafe")
            return outs
        return res

    # ---------------------------------------------------------- call
    def _prep_inputs(self, arrays):
        if len(arrays) != len(self.in_dtypes):
            raise TypeError(f"expected {len(self.in_dtypes)} inputs, got {len(arrays)}")
        return [np.asarray(a, dtype=dt) for a, dt in zip(arrays, self.in_dtypes)]

    def _call(self, name, n, *args):
        fn = getattr(self.module, name + ("_par" if self.parallel and n >= PARALLEL_MIN
                                          else "_ser"))
        if self._lock_par and n >= PARALLEL_MIN:
            with _PAR_LOCK:
                return fn(*args)
        return fn(*args)

    def __call__(self, *arrays, out=None):
        ins = self._prep_inputs(arrays)
        shape = np.broadcast_shapes(*[a.shape for a in ins]) if ins else ()
        if self.program.reduce is not None:
            return [self._reduce(ins, shape)]
        return self._elementwise(ins, shape, out)

    def _elementwise(self, ins, shape, out):
        n = int(np.prod(shape)) if shape else 1
        full = [a for a in ins if a.size != 1 or a.shape == shape]
        if out is None:
            order = "C"
            if full and not all(a.flags.c_contiguous for a in full) and \
                    all(a.flags.f_contiguous for a in full):
                order = "F"
            outs = [np.empty(shape, dt, order=order) for dt in self.out_dtypes]
            user_outs = None
        else:
            user_outs = [out] if isinstance(out, np.ndarray) else list(out)
            if len(user_outs) != len(self.out_dtypes):
                raise ValueError("wrong number of out arrays")
            for o in user_outs:
                if o.shape != shape:
                    raise ValueError(f"out has shape {o.shape}, expected {shape}")
            outs = [o if o.dtype == dt else np.empty(shape, dt)
                    for o, dt in zip(user_outs, self.out_dtypes)]
        if n == 0:
            return self._finish(outs, user_outs)
        # operands that overlap an output without being the very same view are copied
        for k, a in enumerate(ins):
            for o in outs:
                if np.may_share_memory(a, o):
                    if not _same_view(a, o) or self.has_trig:
                        ins[k] = a.copy()
                    break
        args = [a.reshape(-1)[0] if (a.size == 1 and a.shape != shape) or a.ndim == 0
                else a for a in ins]
        arr_ops = [a for a in args if isinstance(a, np.ndarray)]
        flat = None
        if any(a.shape != shape for a in arr_ops):
            pass
        elif all(a.flags.c_contiguous for a in arr_ops + outs):
            flat = "C"
        elif all(a.flags.f_contiguous for a in arr_ops + outs):
            flat = "F"
        if flat is not None:
            fargs = [a.reshape(-1, order=flat) if isinstance(a, np.ndarray) else a
                     for a in args]
            fouts = [o.reshape(-1, order=flat) for o in outs]
            self._call("flat", n, n, *fargs, *fouts)
            return self._finish(outs, user_outs)
        arr_idx = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
        r = _as_3d([args[k] for k in arr_idx] + outs, shape)
        if r is None:
            # too many non-mergeable axes: contiguous copies, flat kernel
            cargs = [np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)
                     if isinstance(a, np.ndarray) else a for a in args]
            couts = [np.empty(shape, dt) for dt in self.out_dtypes]
            self._call("flat", n, n, *cargs, *[o.reshape(-1) for o in couts])
            for o, c in zip(outs, couts):
                o[...] = c
            return self._finish(outs, user_outs)
        shp, views = r
        for pos, k in enumerate(arr_idx):
            args[k] = views[pos]
        vouts = views[len(arr_idx):]
        self._call("nd", n, shp[0], shp[1], shp[2], *args, *vouts)
        return self._finish(outs, user_outs)

    @staticmethod
    def _finish(outs, user_outs):
        if user_outs is None:
            return outs
        for u, o in zip(user_outs, outs):
            if u is not o:
                np.copyto(u, o, casting="unsafe")
        return user_outs

    def _reduce(self, ins, shape):
        rop, axes = self.program.reduce
        rdt = np.dtype(self.program.reduce_dtype())
        ndim = len(shape)
        if axes is None:
            axes = tuple(range(ndim))
        axes = tuple(sorted({ax % ndim if ndim else ax for ax in axes}))
        for ax in axes:
            if not (0 <= ax < max(ndim, 1)) or (ndim == 0 and ax != 0):
                raise ValueError(f"axis {ax} out of range for shape {shape}")
        n = int(np.prod(shape)) if shape else 1
        kept = [d for d in range(ndim) if d not in axes]
        kshape = tuple(shape[d] for d in kept)
        R = int(np.prod([shape[d] for d in axes])) if axes else 1
        if R == 0 and rop in ("max", "min"):
            raise ValueError(f"zero-size array to reduction operation {rop} which has no "
                             "identity")
        args = [a.reshape(-1)[0] if (a.size == 1 and a.shape != shape) or a.ndim == 0
                else a for a in ins]
        arr_idx = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
        if not kept:
            if n == 0:
                return np.asarray(0 if rop == "sum" else 1, dtype=rdt)
            if all(args[k].shape == shape for k in arr_idx) and (
                    all(args[k].flags.c_contiguous for k in arr_idx)
                    or all(args[k].flags.f_contiguous for k in arr_idx)):
                fargs = [a.ravel(order="K") if isinstance(a, np.ndarray) else a
                         for a in args]
                return np.asarray(self._call("red_flat", n, n, *fargs), dtype=rdt)
            r = _as_3d([args[k] for k in arr_idx], shape)
            if r is not None:
                shp, views = r
                for pos, k in enumerate(arr_idx):
                    args[k] = views[pos]
                return np.asarray(self._call("red_nd", n, *shp, *args), dtype=rdt)
            return self._reduce_fallback(ins, axes)
        result = np.empty(kshape, rdt)
        if result.size == 0:
            return result
        if R == 0:
            result[...] = 0 if rop == "sum" else 1
            return result
        perm = kept + list(axes)
        tshape = tuple(shape[d] for d in perm)
        bviews = []
        for k in arr_idx:
            b = np.broadcast_to(args[k], shape).transpose(perm)
            bviews.append(b)
        nk = len(kept)
        K = result.size
        kst = _coalesce(tshape[:nk], [b.strides[:nk] for b in bviews] + [result.strides])
        rst = _coalesce(tshape[nk:], [b.strides[nk:] for b in bviews])
        if len(kst) > 1 or len(rst) > 1:
            return self._reduce_fallback(ins, axes)
        kstr = kst[0][1] if kst else [0] * (len(bviews) + 1)
        rstr = rst[0][1] if rst else [0] * len(bviews)
        for pos, k in enumerate(arr_idx):
            args[k] = _view(bviews[pos], (K, R), (kstr[pos], rstr[pos]))
        flat_out = result.reshape(-1)
        # reduce-inner when the reduced axis is the faster one in memory for most operands
        inner = sum(abs(rstr[p]) < abs(kstr[p]) for p in range(len(bviews))) * 2 >= len(bviews)
        name = "red_inner" if inner else "red_outer"
        self._call(name, K * R, K, R, *args, flat_out)
        return result

    def _reduce_fallback(self, ins, axes):
        res = numpy_eval(KernelProgram(self.program.inputs, self.program.instructions,
                                       self.program.dtypes, self.program.outputs, None), *ins)[0]
        fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}
        return np.asarray(fn[self.program.reduce[0]](res, axis=axes))

    def warm_up(self):
        """Compile the serial flat kernel for all-array inputs (used by the async handle)."""
        ins = [np.zeros(2, dt) for dt in self.in_dtypes]
        return self(*ins)


def compile_program(program: KernelProgram, *, cache_dir: str | None = None,
                    parallel: bool = True) -> Kernel:
    """Generate, write and import the kernel module for ``program``.

    The numba functions compile on first call (or load from the disk cache).
    """
    mod, path = _load_module(program, cache_dir, parallel)
    return Kernel(program, mod, path, parallel)


class AsyncKernel:
    """Kernel handle that uses NumPy until a background thread has compiled the kernel."""

    def __init__(self, program, cache_dir=None, parallel=True):
        self.program = program
        self._native = None
        self._error = None
        self._ref = Kernel(program, None, None, parallel)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._build, args=(cache_dir, parallel),
                                        daemon=True, name="theanine-fused-compile")
        self._thread.start()

    def _build(self, cache_dir, parallel):
        try:
            k = compile_program(self.program, cache_dir=cache_dir, parallel=parallel)
            k.warm_up()
            self._native = k
        except Exception as exc:  # noqa: BLE001 - reported through .error
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._native is not None

    @property
    def error(self):
        return self._error

    def wait(self, timeout=None) -> bool:
        self._done.wait(timeout)
        return self.ready

    def numpy_fallback(self, *arrays, out=None):
        return self._ref.numpy_fallback(*arrays, out=out)

    def __call__(self, *arrays, out=None):
        k = self._native
        if k is None:
            return self._ref.numpy_fallback(*arrays, out=out)
        return k(*arrays, out=out)


def compile_program_async(program: KernelProgram, *, cache_dir: str | None = None,
                          parallel: bool = True) -> AsyncKernel:
    """Start compiling ``program`` in a background thread; see :class:`AsyncKernel`."""
    return AsyncKernel(program, cache_dir=cache_dir, parallel=parallel)
