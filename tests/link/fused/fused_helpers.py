"""Small builders for test programs."""

from theanine.link.fused.program import KernelProgram


def unary_program(ops, dtype, out_dtypes=None):
    """One input ``x``; one output per op."""
    instrs = []
    dts = []
    outs = []
    for k, op in enumerate(ops):
        name = f"u{k}"
        instrs.append((name, op, ("x",)))
        dts.append((name, (out_dtypes or {}).get(op, dtype)))
        outs.append(name)
    return KernelProgram((("x", dtype),), tuple(instrs), tuple(dts), tuple(outs))


def binary_program(ops, dx, dy, out_dtypes):
    instrs = []
    dts = []
    outs = []
    for k, op in enumerate(ops):
        name = f"b{k}"
        instrs.append((name, op, ("x", "y")))
        dts.append((name, out_dtypes[op]))
        outs.append(name)
    return KernelProgram((("x", dx), ("y", dy)), tuple(instrs), tuple(dts), tuple(outs))
