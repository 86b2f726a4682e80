"""Python source of the Numba kernel module for one fused program.

:func:`generate_source` writes a straight-line per-element body (scalar and
vectorizable variants) and the loop drivers around it; see
:mod:`theanine.link.fused.numba_engine` for the kernels and their calling
conventions.  Kept apart from loading and calling so that the code generator
can be read (and its output inspected) on its own.
"""

from __future__ import annotations

import numpy as np

from theanine.scalar.arithmetic import CASTS_WRAP_AS_X86

from .program import (
    COMPARISONS,
    FLOAT_DTYPES,
    UNSIGNED_DTYPES,
    KernelProgram,
    compute_dtype,
)

__all__ = ["generate_source", "BLOCK"]

#: elements per block in the flat kernels
BLOCK = 2048


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
    if dst in ("uint32", "uint64") and src in FLOAT_DTYPES and CASTS_WRAP_AS_X86:
        return f"_s.f2{dst}({expr})"
    return f"{_npname(dst)}({expr})"


_VM_FUNCS = {"exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "softplus"}
_NP_FUNCS = {
    "exp2": "np.exp2", "log2": "np.log2", "log10": "np.log10", "sqrt": "np.sqrt",
    "tan": "np.tan", "arcsin": "np.arcsin", "arccos": "np.arccos", "arctan": "np.arctan",
    "sinh": "np.sinh", "cosh": "np.cosh", "arcsinh": "np.arcsinh", "arccosh": "np.arccosh",
    "arctanh": "np.arctanh", "floor": "np.floor", "ceil": "np.ceil", "trunc": "np.trunc",
    "round": "np.rint", "erf": "math.erf", "erfc": "math.erfc", "gammaln": "_s.gammaln",
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
        elif op == "round_half_away":
            e = f"_s.fround_away({A[0]})" if isf else A[0]
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
    """Source of the kernel module for ``program`` (``parallel``: use ``prange`` drivers)."""
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
    inl = "@numba.njit(inline='always', error_model='numpy', cache=True, fastmath={'contract'})"
    par = "True" if parallel else "False"

    def jit(parallel_kernel: bool) -> str:
        pk = par if parallel_kernel else "False"
        return f"@numba.njit(cache=True, parallel={pk}, error_model='numpy', nogil=True)"

    src = [
        "# generated by theanine.link.fused.numba_source -- do not edit",
        f"# program key {p.key()}",
        "import math",
        "import numba",
        "import numpy as np",
        "from numba import prange",
        "from theanine.link.fused import _nbsupport as _s",
        "from theanine.link.fused import vecmath as _vm",
        "",
        "_u = np.uint64      # store indices unsigned, as _s.ld loads (no per-element select)",
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

    def drivers(name: str, params: str, lines: list[str]) -> None:
        """``<name>_ser`` and ``<name>_par``; ``RANGE`` in ``lines`` becomes range/prange."""
        for suffix, rng, pk in (("_ser", "range", False), ("_par", "prange", True)):
            a(jit(pk))
            a(f"def {name}{suffix}({params}):")
            for ln in lines:
                a("    " + ln.replace("RANGE", rng))
            a("")

    def guarded_loop(ind: str, loop: str, ld: str, stores: list[str]) -> None:
        """``loop`` over the vectorized body, re-run with libm when a trig argument is large."""
        a(f"{ind}bad = False")
        a(f"{ind}{loop}")
        a(f"{ind}    r, b = body_v({ld})")
        if has_trig:
            a(f"{ind}    bad |= b")
        for st in stores:
            a(f"{ind}    {st}")
        if has_trig:
            a(f"{ind}if bad:")
            a(f"{ind}    {loop}")
            a(f"{ind}        r = body({ld})")
            for st in stores:
                a(f"{ind}        {st}")

    def acc_row(sig: str, loop: str, ld: str) -> None:
        """Scalar accumulation of one row of a reduction."""
        a(helper)
        a(f"def {sig}:")
        a(f"    acc = {init}")
        a(f"    {loop}")
        a(f"        r = body({ld})")
        a(f"        acc = _s.comb_{rop}(acc, {val})")
        a("    return acc")
        a("")

    # Each loop body lives in an out-of-line helper (compiled once per argument
    # types and shared by the serial and the parallel driver); the drivers only
    # distribute blocks/rows, which keeps the parfor passes cheap.
    helper = "@numba.njit(cache=True, error_model='numpy', nogil=True, fastmath={'contract'})"
    # ---------------------------------------------------------- elementwise
    # The block is computed into fresh buffers, then copied out: LLVM vectorizes a
    # loop only after a run-time check that its stores overlap none of its loads, and
    # an in-place call (an output that is an input) failed it and ran the scalar
    # loop, 2.8x slower.  The copy stays in L1.
    a(helper)
    a(f"def _flat_block(start, stop, {io}):")
    for k, dt in enumerate(p.output_dtypes()):
        a(f"    b{k} = np.empty(BLOCK, {_npname(dt)})")
    guarded_loop("    ", "for i in range(start, stop):", ld1,
                 [f"b{k}[_u(i - start)] = r[{k}]" for k in range(n_out)])
    a("    for i in range(stop - start):")
    for k in range(n_out):
        a(f"        o{k}[_u(start + i)] = b{k}[i]")
    a("    return 0")
    a("")
    drivers("flat", f"n, {io}", [
        "nb = (n + BLOCK - 1) // BLOCK",
        "for blk in RANGE(nb):",
        "    start = blk * BLOCK",
        f"    _flat_block(start, min(start + BLOCK, n), {io})",
    ])
    a(helper)
    a(f"def _nd_row(i, j, s2, {io}):")
    a("    for l in range(s2):")
    a(f"        r = body({ld3})")
    for k in range(n_out):
        a(f"        o{k}[i, j, l] = r[{k}]")
    a("    return 0")
    a("")
    drivers("nd", f"s0, s1, s2, {io}", [
        "for ij in RANGE(s0 * s1):",
        "    i = ij // s1",
        f"    _nd_row(i, ij - i * s1, s2, {io})",
    ])

    # ---------------------------------------------------------- reductions
    if p.reduce is not None:
        rop = p.reduce[0]
        rdt = p.reduce_dtype()
        odt = p.output_dtypes()[0]
        init = _acc_init(rop, rdt)
        val = _cast("r[0]", odt, rdt)
        acc_np = _npname(rdt)
        a(helper)
        a(f"def _red_block(start, stop{ins_}):")
        a(f"    buf = np.empty(BLOCK, {acc_np})")
        guarded_loop("    ", "for i in range(start, stop):", ld1, [f"buf[_u(i - start)] = {val}"])
        a(f"    return _s.{rop}_buf(buf, stop - start, {init})")
        a("")
        drivers("red_flat", f"n{ins_}", [
            "nb = (n + BLOCK - 1) // BLOCK",
            f"part = np.empty(nb, {acc_np})",
            "for blk in RANGE(nb):",
            "    start = blk * BLOCK",
            f"    part[blk] = _red_block(start, min(start + BLOCK, n){ins_})",
            f"return _s.{rop}_buf(part, nb, {init})",
        ])
        acc_row(f"_red_nd_row(i, j, s2{ins_})", "for l in range(s2):", ld3)
        drivers("red_nd", f"s0, s1, s2{ins_}", [
            f"part = np.empty(s0 * s1, {acc_np})",
            "for ij in RANGE(s0 * s1):",
            "    i = ij // s1",
            f"    part[ij] = _red_nd_row(i, ij - i * s1, s2{ins_})",
            f"return _s.{rop}_buf(part, s0 * s1, {init})",
        ])
        acc_row(f"_red_inner_row(k, R{ins_})", "for q in range(R):", ld2)
        drivers("red_inner", f"K, R{ins_out}", [
            "for k in RANGE(K):",
            f"    out[k] = _red_inner_row(k, R{ins_})",
        ])
        a(helper)
        a(f"def _red_outer_block(k0, k1, R{ins_out}):")
        a("    for k in range(k0, k1):")
        a(f"        out[_u(k)] = {init}")
        a(f"    tmp = np.empty(k1 - k0, {acc_np})")
        a("    for q in range(R):")
        guarded_loop("        ", "for k in range(k0, k1):", ld2, [f"tmp[_u(k - k0)] = {val}"])
        a("        for k in range(k0, k1):")
        a(f"            out[_u(k)] = _s.comb_{rop}(out[_u(k)], tmp[_u(k - k0)])")
        a("    return 0")
        a("")
        drivers("red_outer", f"K, R{ins_out}", [
            "nb = (K + BLOCK - 1) // BLOCK",
            "for blk in RANGE(nb):",
            "    k0 = blk * BLOCK",
            f"    _red_outer_block(k0, min(k0 + BLOCK, K), R{ins_out})",
        ])
    return "\n".join(src) + "\n"

