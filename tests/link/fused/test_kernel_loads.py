"""The generated loops read and write with plain vector loads and stores, never
gathers or scatters.

A block loop starts at a variable index; with signed indices Numba's "negative
counts from the end" select hid from LLVM that the index is non-negative, and each
vector of loads became a gather (half the kernel's speed on AVX-512), each vector
of stores a scatter (``x * x + 1`` on 65,536 elements: 37 us, 16 us with unsigned
stores).
"""

import re

import numpy as np

from theanine.link.fused.numba_source import generate_source
from theanine.link.fused.program import KernelProgram

F = "float64"
PROG = KernelProgram(
    inputs=(("x", F), ("y", F)),
    instructions=(("a", "mul", ("x", "y")), ("b", "exp", ("a",)), ("c", "add", ("b", "x"))),
    dtypes=(("a", F), ("b", F), ("c", F)), outputs=("c",), reduce=("sum", (1,)))


def _uncached_module():
    namespace = {}
    source = generate_source(PROG, parallel=False).replace("cache=True", "cache=False")
    exec(compile(source, "<kernel>", "exec"), namespace)
    return namespace


def _ir(dispatcher):
    (sig,) = dispatcher.signatures
    return dispatcher.inspect_llvm(sig)


def test_block_loops_load_and_store_without_gathers_or_scatters():
    k = _uncached_module()
    x, y = np.linspace(-1, 1, 3000), np.linspace(0, 2, 3000)
    out = np.empty(3000)
    k["_flat_block"](100, 2100, x, y, out)
    np.testing.assert_allclose(out[100:2100], np.exp(x * y)[100:2100] + x[100:2100])
    part = k["_red_block"](100, 2100, x, y)
    np.testing.assert_allclose(part, (np.exp(x * y) + x)[100:2100].sum())
    # the kept axis runs along memory: a (kept, reduced) operand in Fortran order
    x2, y2 = np.asfortranarray(x.reshape(1000, 3)), np.asfortranarray(y.reshape(1000, 3))
    red = np.empty(1000)
    k["_red_outer_block"](10, 900, 3, x2, y2, red)
    np.testing.assert_allclose(red[10:900], (np.exp(x2 * y2) + x2).sum(axis=1)[10:900])
    for name in ("_flat_block", "_red_block", "_red_outer_block"):
        ir = _ir(k[name])
        assert re.search(r"<\d+ x double>", ir), name      # the loop is vectorized
        assert "gather" not in ir and "scatter" not in ir, name
    for name in ("_flat_block", "_red_outer_block"):        # their stores are vectors
        assert re.search(r"store <\d+ x double>", _ir(k[name])), name


def test_negative_strides_read_right(cache_dir):
    from theanine.link.fused import numba_engine as ne

    elementwise = KernelProgram(
        inputs=PROG.inputs, instructions=PROG.instructions, dtypes=PROG.dtypes,
        outputs=("c",))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 300))
    y = rng.standard_normal((40, 300))
    big = rng.standard_normal((3, ne.PARALLEL_MIN))        # the parallel drivers too
    cases = [(x[::-1], y), (x[:, ::-1], y[::-1, ::-2].repeat(2, axis=1)),
             (x[::-2, ::-3], 0.5), (big[:, ::-1], big[::-1])]
    for prog in (elementwise, PROG):
        k = ne.compile_program(prog, cache_dir=cache_dir)
        for args in cases:
            got = k(*args)[0]
            ref = ne.numpy_eval(k.program, *args)[0]
            np.testing.assert_allclose(got, ref, rtol=1e-12)
