"""NumPy evaluation of a Composite that reuses its temporaries' memory.

A naive evaluation keeps one full-size array per scalar op.  Here a ufunc whose
argument is a temporary at its last use writes its result into that
temporary's buffer (``out=``), so a chain like ``((x+1)*2-3)/4`` needs the
input and one buffer.  This is the fallback for kernels a native engine cannot
express, the path for small arrays, and what runs while a kernel compiles.
"""

from __future__ import annotations

import weakref

import numpy as np

from theanine.scalar.composite import Composite, arg_value

_NEVER = float("inf")


class NumpyComposite:
    """Callable ``run(*inputs, out=None)`` returning a list of output arrays.

    ``out`` (one array, single-output composites only) receives the result; it
    may be one of the inputs (in-place), since it is written by the last op.
    """

    def __init__(self, comp: Composite):
        self.comp = comp
        code = comp.code
        last: dict[int, float] = {}
        for j, (_, args, _) in enumerate(code):
            for a in args:
                if a[0] == "node":
                    last[a[1]] = j
        for ref in comp.outputs_ref:
            if ref[0] == "node":
                last[ref[1]] = _NEVER
        self.last = last
        self.steps = []
        for j, (op, args, dts) in enumerate(code):
            fn = getattr(op, "nfunc", None)
            ufunc = fn if isinstance(fn, np.ufunc) and fn.nout == 1 and len(dts) == 1 \
                and getattr(op, "__props__", ()) == () else None
            reusable = tuple(a[1] for a in args if a[0] == "node" and last.get(a[1]) == j)
            self.steps.append((op, args, dts, ufunc, reusable))
        final = comp.outputs_ref[0]
        self.final_step = final[1] if comp.nout == 1 and final[0] == "node" \
            and final[1] == len(code) - 1 else None

    def __call__(self, *inputs, out=None):
        values: list = [None] * len(self.steps)
        comp = self.comp
        with np.errstate(all="ignore"):
            for j, (op, args, dts, ufunc, reusable) in enumerate(self.steps):
                vals = [arg_value(a, inputs, values) for a in args]
                if ufunc is not None and all(getattr(v, "dtype", None) == dts[0] for v in vals):
                    target = self._target(j, vals, reusable, values, dts[0], out)
                    result = ufunc(*vals, out=target) if target is not None else ufunc(*vals)
                    values[j] = (result,)
                else:
                    result = op.impl(*vals)
                    results = result if len(dts) > 1 else (result,)
                    values[j] = tuple(_fix(v, dt) for v, dt in zip(results, dts))
                for k in reusable:
                    if k != j:
                        values[k] = None
        outs = [_fix(arg_value(r, inputs, values), dt)
                for r, dt in zip(comp.outputs_ref, comp.out_dtypes)]
        if out is not None and outs[0] is not out:
            np.copyto(out, np.broadcast_to(outs[0], out.shape), casting="unsafe")
            outs[0] = out
        return outs

    def _target(self, j, vals, reusable, values, dtype, out):
        shape = np.broadcast_shapes(*(np.shape(v) for v in vals))
        if j == self.final_step and out is not None:
            return out if out.shape == shape and out.dtype == dtype else None
        for k in reusable:
            buf = values[k][0]
            if isinstance(buf, np.ndarray) and buf.shape == shape and buf.dtype == dtype \
                    and buf.flags.writeable:
                return buf
        return None


def _fix(value, dtype):
    value = np.asarray(value)
    return value if value.dtype == dtype else value.astype(dtype)


def compile_chain(comp: Composite):
    """A generated function evaluating ``comp`` with one NumPy call per scalar op.

    For small arrays (and 0-d values) the cost of a fused node is then the ufunc
    calls themselves: no interpretation, no buffer bookkeeping.  ``_out`` (single
    output ending in a ufunc) receives the result, for in-place nodes.  Made once
    per Composite value while one is alive (the function holds no state): the first
    call of a 10,000-layer gradient's function built one for each of its 5,707
    fused nodes, of 7 kinds.
    """
    found = _chains.get(comp)
    if found is None:
        found = _chains[comp] = _build_chain(comp)
    return found


_chains: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _build_chain(comp: Composite):
    ns: dict = {"_asarray": np.asarray}
    lines = []

    def ref(a) -> str:
        if a[0] == "in":
            return f"i{a[1]}"
        if a[0] == "node":
            return f"t{a[1]}" if len(comp.code[a[1]][2]) == 1 else f"t{a[1]}[{a[2]}]"
        name = f"_c{len(ns)}"
        ns[name] = np.asarray(a[2], dtype=a[1])
        return name

    last = len(comp.code) - 1
    final = comp.outputs_ref[0]
    writes_out = comp.nout == 1 and final[0] == "node" and final[1] == last
    for j, (op, args, dts) in enumerate(comp.code):
        fn = getattr(op, "nfunc", None)
        is_ufunc = isinstance(fn, np.ufunc) and fn.nout == len(dts) \
            and getattr(op, "__props__", ()) == ()
        ns[f"_f{j}"] = fn if is_ufunc else op.impl
        call = f"_f{j}({', '.join(ref(a) for a in args)}"
        if j == last and writes_out and is_ufunc:
            # in-place nodes pass the destroyed input's buffer as _out
            lines.append(f"    t{j} = {call}) if _out is None else {call}, out=_out)")
        else:
            lines.append(f"    t{j} = {call})")
    outs = []
    for k, (r, dt) in enumerate(zip(comp.outputs_ref, comp.out_dtypes)):
        ns[f"_dt{k}"] = np.dtype(dt)
        outs.append(f"_asarray({ref(r)}, dtype=_dt{k})")
    params = ", ".join([f"i{k}" for k in range(len(comp.in_dtypes))] + ["_out=None"])
    src = f"def chain({params}):\n" + "\n".join(lines) + f"\n    return [{', '.join(outs)}]\n"
    exec(compile(src, f"<fused-chain {comp}>", "exec"), ns)
    return ns["chain"]
