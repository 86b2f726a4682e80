"""Elementwise ops, reductions and DimShuffle as generated Numba loops.

An ``Elemwise`` (a single scalar op or a fused ``Composite``) becomes the same
plain-data ``KernelProgram`` the fused kernel engine compiles, and its
per-element body is written by that engine's code generator
(``link/fused/numba_source.py``), so both engines compute exactly the same
scalar code (NumPy's dtype rules, the vectorizable math of ``vecmath.py``).
What is generated here is the loop around it: a flat loop over contiguous
operands of the output's shape (the vectorizable body, re-run with libm where a
trig argument is large), else a nested loop with broadcasting.  Reductions
accumulate in the output dtype (NaN propagating like NumPy); a fused reduction
over all axes accumulates blockwise without a temporary.

Where both cores pay (``config.numba__parallel``): outside loop bodies, a fused
reduction over all axes and an elementwise program with transcendental math
hand a flat operand of at least ``parallel_min(program)`` elements (where its
serial loop would take about 0.1 ms) to the fused kernel
engine's ``prange`` driver for the same program, the very code (and disk-cached
machine code) the default engine runs.
"""

from __future__ import annotations

from contextvars import ContextVar

from theanine.config import config
from theanine.link.fused.numba_cache import load_module as load_kernel_module
from theanine.link.fused.numba_kernel import parallel_min
from theanine.link.fused.numba_source import BLOCK, _BodyGen
from theanine.link.fused.program import OPS, KernelProgram
from theanine.link.numba.compile import NumbaUnsupported, cast, njit_source, npname, transposed
from theanine.scalar.composite import Composite
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise, normalize_axis
from theanine.tensor.fused import FusedReduce

#: True while the nodes of a loop body are written: their work runs once per step
in_loop_body = ContextVar("in_loop_body", default=False)


def parallel_driver(program: KernelProgram, name: str):
    """The fused kernel engine's ``prange`` driver ``name`` (``flat``, ``red_flat``)
    for ``program`` (shared with the default engine, cached on disk) and its serial
    twin, as ``{"_par": ..., "_ser": ...}``, or None where they are not used.  The
    two share the module's block function: the program's vectorized body is
    compiled once, not also into the node's own loop (0.3-0.6 s of a cold compile
    with ``tanh`` in it)."""
    if not config.numba__parallel or in_loop_body.get():
        return None
    # an elementwise program without transcendental math is bound by memory, which
    # two threads share: it gains little
    if program.reduce is None and not program.costly:
        return None
    module, _ = load_kernel_module(program, config.compiledir, True)
    return {"_par": getattr(module, f"{name}_par"), "_ser": getattr(module, f"{name}_ser")}


def kernel_program(scalar_op, in_dtypes, out_dtypes, reduce=None) -> KernelProgram:
    """The fused engine's program for ``scalar_op`` on these dtypes (with an in-loop
    ``reduce``: ``(kind, axes)``), or NumbaUnsupported."""
    if isinstance(scalar_op, Composite):
        data = scalar_op.kernel_program_data()
        if data is None or list(scalar_op.in_dtypes) != list(in_dtypes):
            raise NumbaUnsupported(f"no kernel program for {scalar_op}")
    else:
        name = scalar_op.kernel_name
        if name not in OPS or len(out_dtypes) != 1 or OPS[name] != len(in_dtypes):
            raise NumbaUnsupported(f"scalar op {scalar_op} has no kernel form")
        data = {"inputs": tuple((f"i{k}", dt) for k, dt in enumerate(in_dtypes)),
                "instructions": (("t0", name, tuple(f"i{k}" for k in range(len(in_dtypes)))),),
                "dtypes": (("t0", out_dtypes[0]),), "outputs": ("t0",)}
    try:
        program = KernelProgram(reduce=reduce, **data)
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise NumbaUnsupported(f"{scalar_op}: {exc}") from None
    if list(program.output_dtypes()) != list(out_dtypes):
        raise NumbaUnsupported(f"{scalar_op}: kernel dtypes differ from the node's")
    return program


_INLINE = "@numba.njit(inline='always', error_model='numpy')\n"


_JIT = "@numba.njit(error_model='numpy')\n"


def _decorate(src, name):
    """``src`` with its function ``name`` njit-decorated (to be called by another)."""
    return src.replace(f"def {name}(", _JIT + f"def {name}(", 1)


def _bodies(program) -> tuple[str, str, bool]:
    try:
        scalar = _INLINE + _BodyGen(program, vectorized=False).generate("body")
        vector = _INLINE + _BodyGen(program, vectorized=True).generate("body_v")
    except NotImplementedError as exc:
        raise NumbaUnsupported(str(exc)) from None
    has_trig = any(op in ("sin", "cos") for _, op, _ in program.instructions)
    return scalar, vector, has_trig


def _flat(a: str, nd: int) -> str:
    """A C-contiguous operand ``a`` as a flat array.  A vector needs no reshape: each
    reshape makes an array structure (and reference counting), 60 ns per step of a
    scan over 1,000-vectors (scan-pow: 0.19 -> 0.13 ms for 1,000 steps)."""
    return f"_ascontiguous({a})" if nd == 1 else f"_ascontiguous({a}).reshape(n)"


def _broadcast_lines(ins, in_ndims, nd) -> list[str]:
    """Lines computing ``s<d>`` (the broadcast shape) and ``m<k>_<d>`` (0 on a
    broadcast axis of input ``k``), raising like NumPy on a mismatch."""
    lines = []
    for d in range(nd):
        lines.append(f"s{d} = 1")
        for a, n in zip(ins, in_ndims):
            if n == 0:
                continue
            ax = d - (nd - n)
            if ax < 0:
                continue
            lines += [f"if {a}.shape[{ax}] != 1:",
                      f"    if s{d} != 1 and s{d} != {a}.shape[{ax}]:",
                      "        raise ValueError('elementwise operands have incompatible shapes')",
                      f"    s{d} = {a}.shape[{ax}]"]
    return lines


def _nested_loop(ins, in_ndims, nd, stores, indent="") -> list[str]:
    lines = []
    for k, (a, n) in enumerate(zip(ins, in_ndims)):
        for ax in range(n):
            lines.append(f"m{k}_{ax} = 0 if {a}.shape[{ax}] == 1 else 1")
    for d in range(nd):
        lines.append("    " * d + f"for i{d} in range(s{d}):")
    pad = "    " * nd
    loads = []
    for k, (a, n) in enumerate(zip(ins, in_ndims)):
        if n == 0:
            loads.append(a)
        else:
            idx = ", ".join(f"i{nd - n + ax} * m{k}_{ax}" for ax in range(n))
            loads.append(f"{a}[{idx}]")
    lines.append(pad + f"r = body({', '.join(loads)})")
    at = ", ".join(f"i{d}" for d in range(nd))
    lines += [pad + store.format(at=at) for store in stores]
    return [indent + ln for ln in lines]


def elemwise_source(program, in_ndims, nd, name, par: bool = False,
                    into: bool = False, scalar_like: tuple = ()) -> str:
    """Source of ``name(a0, a1, ...)`` returning the program's outputs (a tuple
    when several); see the module docstring for the loops (``par``: large flat
    operands go to the global ``_par``, the engine's ``flat_par``).  ``into`` (one
    output, ``nd`` > 0): a last parameter ``dst``, a C-contiguous array the result
    is written into when it has the result's shape (else a new array), which the
    caller guarantees overlaps no operand: a scan step writes its new state over
    the state it no longer needs.

    ``scalar_like``: the operands whose type has size 1 on every axis (a constant
    such as ``(1, 1, 1)``); each is read once as a scalar, so that the loops over
    the others stay flat and vectorized.  With one array operand left nothing can
    broadcast, and a strided operand is copied (``_flat``) instead of walked by a
    nested loop: one loop less to compile."""
    scalar, vector, has_trig = _bodies(program)
    ins = [f"a{k}" for k in range(len(in_ndims))]
    params = [f"p{k}" if k in scalar_like else a for k, a in enumerate(ins)]
    n_out = len(program.outputs)
    out_dts = program.output_dtypes()
    if into and (n_out != 1 or nd == 0):
        raise NumbaUnsupported("only a one-output array result is written into a buffer")
    lines = [f"def {name}({', '.join(params + (['dst'] if into else []))}):"]
    for k in scalar_like:
        zeros = ", ".join("0" for _ in range(in_ndims[k]))
        lines += [f"    if p{k}.size != 1:",
                  "        raise ValueError('elementwise operands have incompatible shapes')",
                  f"    a{k} = p{k}[{zeros}]"]
    in_ndims = [0 if k in scalar_like else n for k, n in enumerate(in_ndims)]
    if nd == 0:
        lines.append(f"    r = body({', '.join(ins)})")
        outs = [f"r[{j}]" for j in range(n_out)]
        lines.append(f"    return {outs[0] if n_out == 1 else '(' + ', '.join(outs) + ',)'}")
        return "\n".join([scalar, vector] + lines) + "\n"
    body = _broadcast_lines(ins, in_ndims, nd)
    shape = "(" + "".join(f"s{d}, " for d in range(nd)) + ")"
    for j, dt in enumerate(out_dts):
        fresh = f"_empty({shape}, {npname(dt)})"
        body.append(f"o{j} = dst if dst.shape == {shape} else {fresh}" if into
                    else f"o{j} = {fresh}")
    arrays = [(a, n) for a, n in zip(ins, in_ndims) if n > 0]
    alone = len(arrays) == 1 and arrays[0][1] == nd      # its shape is the result's
    flat_ok = "True" if alone else " and ".join(
        [f"{a}.ndim == {nd} and {a}.shape == o0.shape and {a}.flags.c_contiguous"
         for a, n in arrays if n == nd] or ["True"])
    if all(n in (0, nd) for _, n in arrays):
        body.append(f"if {flat_ok}:")
        body.append("    n = o0.size")
        for a, _ in arrays:
            body.append(f"    f{a} = {_flat(a, nd)}")
        for j in range(n_out):
            body.append(f"    fo{j} = o{j}" if nd == 1 else f"    fo{j} = o{j}.reshape(n)")
        loads = ", ".join(f"f{a}[i]" if n else a for a, n in zip(ins, in_ndims))
        serial = ["bad = False", "for i in range(n):", f"    r, b = body_v({loads})"]
        if has_trig:
            serial.append("    bad |= b")
        serial += [f"    fo{j}[i] = r[{j}]" for j in range(n_out)]
        if has_trig:
            serial += ["if bad:", "    for i in range(n):", f"        r = body({loads})"]
            serial += [f"        fo{j}[i] = r[{j}]" for j in range(n_out)]
        if par:
            operands = [f"f{a}" if n else a for a, n in zip(ins, in_ndims)]
            operands += [f"fo{j}" for j in range(n_out)]
            body += [f"    if n >= {parallel_min(program)}:",
                     f"        _par(n, {', '.join(operands)})",
                     "    else:",
                     f"        _ser(n, {', '.join(operands)})"]
        else:
            body += ["    " + ln for ln in serial]
        if not alone:
            body.append("else:")
            body += _nested_loop(ins, in_ndims, nd,
                                 [f"o{j}[{{at}}] = r[{j}]" for j in range(n_out)], "    ")
    else:
        body += _nested_loop(ins, in_ndims, nd, [f"o{j}[{{at}}] = r[{j}]" for j in range(n_out)])
    outs = [f"o{j}" for j in range(n_out)]
    body.append(f"return {outs[0] if n_out == 1 else '(' + ', '.join(outs) + ',)'}")
    lines += ["    " + ln for ln in body]
    return "\n".join([scalar, vector] + lines) + "\n"


def scalar_like_operands(inputs) -> tuple:
    """Indices of the operands typed with size 1 on every axis (see
    ``elemwise_source``)."""
    return tuple(k for k, var in enumerate(inputs)
                 if var.ndim > 0 and all(var.type.broadcastable))


def elemwise_function(scalar_op, node, name="elemwise", into=False):
    """``(njit function, program)`` for an Elemwise node (``into``: see
    ``elemwise_source``; never the parallel driver, which writes its own output).

    With ``into`` (a scan step's new state) and arithmetic only, the function is
    inlined into the step: there the call costs as much as the work (scan-pow,
    1,000 steps on 1,000 elements: 0.093-0.098 ms inlined, 0.135-0.139 ms called).
    A step with transcendental math keeps the call: its work per element hides the
    call's cost."""
    program = kernel_program(scalar_op, [i.dtype for i in node.inputs],
                             [o.dtype for o in node.outputs])
    nd = max([o.ndim for o in node.outputs] + [i.ndim for i in node.inputs])
    drivers = parallel_driver(program, "flat") if nd and not into else None
    src = elemwise_source(program, [i.ndim for i in node.inputs], nd, name,
                          par=drivers is not None, into=into,
                          scalar_like=scalar_like_operands(node.inputs))
    return njit_source(src, name, drivers, inline=into and not program.costly), program


# -- reductions ---------------------------------------------------------------------

def _init(kind, dt) -> str:
    if kind in ("sum", "any"):
        return cast("0", dt)
    if kind in ("prod", "all"):
        return cast("1", dt)
    if dt == "bool":
        return "False" if kind == "max" else "True"
    if dt.startswith("float"):
        return f"{npname(dt)}({'-np.inf' if kind == 'max' else 'np.inf'})"
    return f"np.iinfo({npname(dt)}).{'min' if kind == 'max' else 'max'}"


def _combine(kind, acc, v, dt) -> str:
    """``acc`` updated with the element ``v`` (already of dtype ``dt``)."""
    if kind == "sum":
        return f"{acc} = {acc} + {v}"
    if kind == "prod":
        return f"{acc} = {acc} * {v}"
    if kind == "all":
        return f"{acc} = {acc} and {v}"
    if kind == "any":
        return f"{acc} = {acc} or {v}"
    if dt == "bool":
        return f"{acc} = {acc} {'or' if kind == 'max' else 'and'} {v}"
    return f"{acc} = _s.comb_{kind}({acc}, {v})"


def reduce_source(kind, axes, ndim, out_dt, name) -> str:
    """``name(x)``: ``kind`` over ``axes`` of an ``ndim``-d array, in ``out_dt``."""
    if ndim == 0:
        return f"def {name}(x):\n    return {cast('x', out_dt)}\n"
    kept = [d for d in range(ndim) if d not in axes]
    perm = tuple(kept + list(axes))
    lines = [f"def {name}(x):",
             f"    y = _ascontiguous({transposed('x', perm)})"]
    lines.append("    K = 1")
    for d in kept:
        lines.append(f"    K *= x.shape[{d}]")
    lines.append("    R = 1")
    for d in axes:
        lines.append(f"    R *= x.shape[{d}]")
    if kind in ("max", "min") and out_dt != "bool":
        lines += ["    if R == 0 and K > 0:",
                  "        raise ValueError('zero-size array to reduction operation "
                  f"{kind} which has no identity')"]
    lines += ["    y2 = y.reshape((K, R))",
              f"    out = _empty(K, {npname(out_dt)})",
              "    for k in range(K):",
              f"        acc = {_init(kind, out_dt)}",
              "        for q in range(R):",
              f"            v = {cast('y2[k, q]', out_dt)}",
              "            " + _combine(kind, "acc", "v", out_dt),
              "        out[k] = acc"]
    if not kept:
        lines.append("    return out[0]")
    else:
        shape = "(" + "".join(f"x.shape[{d}], " for d in kept) + ")"
        lines.append(f"    return out.reshape({shape})")
    return "\n".join(lines) + "\n"


def careduce_function(op, node):
    ndim = node.inputs[0].ndim
    axes = normalize_axis(op.axis, ndim) if ndim else ()
    out_dt = node.outputs[0].dtype
    if op.kind not in ("sum", "prod", "max", "min", "all", "any"):
        raise NumbaUnsupported(f"reduction {op.kind}")
    return njit_source(reduce_source(op.kind, tuple(sorted(set(axes))), ndim, out_dt,
                                     "careduce"), "careduce")


def fused_reduce_function(op, node):
    """Elementwise then reduce; over every axis of contiguous same-shape operands
    the values are reduced blockwise as they are computed (no temporary)."""
    elem_dt = Elemwise(op.scalar_op).make_node(*node.inputs).outputs[0].dtype
    program = kernel_program(op.scalar_op, [i.dtype for i in node.inputs], [elem_dt])
    nd = max(i.ndim for i in node.inputs)
    axes = tuple(sorted(set(normalize_axis(op.axis, nd)))) if nd else ()
    out_dt = node.outputs[0].dtype
    in_ndims = [i.ndim for i in node.inputs]
    extra = None
    ins = [f"a{k}" for k in range(len(in_ndims))]
    lines = [f"def fused_reduce({', '.join(ins)}):"]
    blockwise = nd and len(axes) == nd and op.kind in ("sum", "prod", "max", "min") and \
        all(n in (0, nd) for n in in_ndims) and out_dt == elem_dt
    arrays = [a for a, n in zip(ins, in_ndims) if n]
    # operands of one shape go blockwise (a strided one copied first: ``_flat``); only
    # broadcasting needs the general path, an elementwise function and a reduction,
    # which are two more functions to compile (0.9 s of an RNN gradient's cold compile)
    general = not blockwise or len(arrays) > 1
    src = ""
    if general:
        src = _decorate(elemwise_source(program, in_ndims, nd, "elem"), "elem")
        src += _JIT + reduce_source(op.kind, axes, nd, out_dt, "reduce")
    if blockwise:
        scalar, vector, has_trig = _bodies(program)
        if not general:
            src = scalar + "\n" + vector + "\n"
        ref = arrays[0]
        cond = " and ".join(f"{a}.shape == {ref}.shape" for a in arrays[1:]) or "True"
        # unsigned loads: the block loop starts at a variable (see ``_nbsupport.ld``)
        loads = ", ".join(f"_s.ld(f{a}, i)" if n else a for a, n in zip(ins, in_ndims))
        init = _init(op.kind, out_dt)
        lines += [f"    if {cond}:", f"        n = {ref}.size"]
        lines += [f"        f{a} = {_flat(a, nd)}" for a in arrays]
        red_program = kernel_program(op.scalar_op, [i.dtype for i in node.inputs],
                                     [elem_dt], reduce=(op.kind, axes))
        extra = parallel_driver(red_program, "red_flat")
        if extra is not None:
            operands = ", ".join(f"f{a}" if n else a for a, n in zip(ins, in_ndims))
            lines += [f"        if n >= {parallel_min(red_program)}:",
                      f"            return {cast(f'_par(n, {operands})', out_dt)}",
                      f"        return {cast(f'_ser(n, {operands})', out_dt)}"]
    if blockwise and extra is None:
        lines += [f"        buf = _empty({BLOCK}, {npname(out_dt)})",
                  f"        acc = {init}",
                  f"        for start in range(0, n, {BLOCK}):",
                  f"            stop = min(start + {BLOCK}, n)",
                  "            bad = False",
                  "            for i in range(start, stop):",
                  f"                r, b = body_v({loads})",
                  "                buf[np.uint64(i - start)] = r[0]"]     # (unsigned: see _s.ld)
        if has_trig:
            lines += ["                bad |= b", "            if bad:",
                      "                for i in range(start, stop):",
                      f"                    buf[np.uint64(i - start)] = body({loads})[0]"]
        lines += [f"            acc = _s.comb_{op.kind}(acc, _s.{op.kind}_buf(buf, stop - start,"
                  f" {init}))", "        return acc"]
    if general:
        lines.append(f"    return reduce(elem({', '.join(ins)}))")
    return njit_source(src + "\n".join(lines) + "\n", "fused_reduce", extra)


# -- DimShuffle ----------------------------------------------------------------------

def dimshuffle_function(op, node):
    kept = [i for i in op.new_order if i != "x"]
    in_nd = op.input_ndim
    out_nd = len(op.new_order)
    dt = node.outputs[0].dtype
    if out_nd == 0:
        index = ", ".join("0" for _ in range(in_nd))
        body = [f"    return x[{index}]" if in_nd else "    return x"]
    elif in_nd == 0:
        body = [f"    return np.full({(1,) * out_nd!r}, x, {npname(dt)})"]
    else:
        perm = tuple(kept) + tuple(op.drop)
        body = [f"    y = {transposed('x', perm)}"]
        if op.drop or out_nd != len(kept):
            it = iter(range(len(kept)))
            dims = "".join("1, " if i == "x" else f"y.shape[{next(it)}], "
                           for i in op.new_order)
            body.append(f"    return _ascontiguous(y).reshape(({dims}))")
        else:
            body.append("    return y")
    return njit_source("def dimshuffle(x):\n" + "\n".join(body) + "\n", "dimshuffle")


def register(numba_funcify) -> None:
    numba_funcify.register(Elemwise)(lambda op, node: elemwise_function(op.scalar_op, node)[0])
    numba_funcify.register(CAReduce)(careduce_function)
    numba_funcify.register(FusedReduce)(fused_reduce_function)
    numba_funcify.register(DimShuffle)(dimshuffle_function)


__all__ = ["elemwise_function", "kernel_program", "register"]
