"""Every opname of the program vocabulary against NumPy (via ``numpy_eval``).

Ops are packed into a few multi-output programs so that only a handful of
kernels need compiling.
"""

import numpy as np
import pytest
from fused_helpers import unary_program

from theanine.link.fused import numba_engine as ne
from theanine.link.fused.program import KernelProgram, supported

# The vectorized math ops are expensive to compile inline (Numba IR inlining), so
# the big programs hold only two of them; all of them are checked on the
# (cheap to compile) general path in test_vecmath_ops_general_path.
FLOAT_UNARY = [
    "neg", "abs", "sign", "floor", "ceil", "round", "round_half_away", "trunc", "exp", "exp2",
    "log2", "log10", "sqrt", "sqr", "sin", "tan", "arcsin", "arccos",
    "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
    "erf", "erfc", "gammaln", "reciprocal", "identity",
]
VM_OPS = ["exp", "expm1", "log", "log1p", "sin", "cos", "tanh", "sigmoid", "softplus"]
EXACT = {"neg", "abs", "sign", "floor", "ceil", "round", "round_half_away", "trunc", "sqr",
         "sqrt", "identity", "reciprocal", "add", "sub", "mul", "true_div", "int_div", "mod",
         "maximum", "minimum",
         "clip", "switch", "lt", "gt", "le", "ge", "eq", "neq", "isnan", "isinf", "cast"}
FLOAT_BINARY = ["add", "sub", "mul", "true_div", "int_div", "mod", "pow", "arctan2", "maximum",
                "minimum", "lt", "gt", "le", "ge", "eq", "neq"]
BOOL_OUT = {"lt", "gt", "le", "ge", "eq", "neq", "isnan", "isinf"}


def float_program(dt):
    ins = (("x", dt), ("y", dt))
    instrs, dts, outs, kinds = [], [], [], []

    def add(name, op, args, odt=dt):
        instrs.append((name, op, args))
        dts.append((name, odt))
        outs.append(name)
        kinds.append(op)

    for op in FLOAT_UNARY:
        add(f"u_{op}", op, ("x",))
    for op in ("isnan", "isinf"):
        add(f"u_{op}", op, ("x",), "bool")
    for op in FLOAT_BINARY:
        add(f"b_{op}", op, ("x", "y"), "bool" if op in BOOL_OUT else dt)
    add("c_clip", "clip", ("x", -0.5, "y"))
    add("c_add", "add", ("x", 2.5))
    add("c_rsub", "sub", (3, "y"))
    add("c_lt", "lt", ("x", 0.25), "bool")
    add("c_sw", "switch", ("b_lt", "x", "c_add"))
    add("c_bool", "cast", ("y",), "bool")
    add("c_f2i", "cast", ("c_clip",), "int32")      # clip keeps it in range
    return KernelProgram(ins, tuple(instrs), tuple(dts), tuple(outs)), kinds


def float_inputs(dt, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    scales = [1e-30, 1e-3, 0.3, 1.0, 3.0, 30.0, 800.0, 1e7]
    x = np.concatenate([rng.standard_normal(n // len(scales)) * s for s in scales])
    y = np.concatenate([rng.standard_normal(n // len(scales)) * s for s in scales[::-1]])
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5, 2.0, 1e30])
    x = np.concatenate([x, special, np.repeat(special, special.size)]).astype(dt)
    y = np.concatenate([y, special[::-1], np.tile(special, special.size)]).astype(dt)
    return x, y


def _compare(op, got, ref, dt):
    assert got.dtype == ref.dtype, (op, got.dtype, ref.dtype)
    if got.dtype.kind in "biu" or op in EXACT:
        if got.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(got[got == 0]), np.signbit(ref[ref == 0]),
                                          err_msg=op)
        np.testing.assert_array_equal(got, ref, err_msg=op)
        return
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=op)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(ref)], ref[~finite & ~np.isnan(ref)],
                                  err_msg=op)
    # ulps relative to the reference (NumPy's own libm/SIMD differ by a few ulps)
    if op in ("erf", "erfc", "gammaln"):
        # glibc (native) and cephes (scipy reference) differ by many ulps in the tail
        # (and, for gammaln, next to its zeros at 1 and 2)
        atol = (1e-13 if dt == "float64" else 1e-6) if op == "gammaln" else \
            (1e-300 if dt == "float64" else 1e-37)
        np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-9 if dt == "float64"
                                   else 1e-5, atol=atol, err_msg=op)
        return
    ulps = 4
    spacing = np.spacing(np.abs(ref[finite]).astype(dt))
    err = np.abs(got[finite].astype(np.float64) - ref[finite].astype(np.float64))
    tiny = np.finfo(dt).tiny                        # references may flush subnormals
    bad = (err > ulps * spacing.astype(np.float64)) & (err > tiny)
    assert not bad.any(), (op, got[finite][bad][:5], ref[finite][bad][:5])


@pytest.fixture(scope="module", params=["float64", "float32"])
def float_case(request, cache_dir):
    dt = request.param
    prog, kinds = float_program(dt)
    return dt, prog, kinds, ne.compile_program(prog, cache_dir=cache_dir)


def test_float_ops(float_case):
    dt, prog, kinds, kern = float_case
    x, y = float_inputs(dt)
    got = kern(x, y)
    ref = kern.numpy_fallback(x, y)
    for op, g, r in zip(kinds, got, ref):
        _compare(op, g, r, dt)


def test_float_ops_noncontiguous_and_broadcast(float_case):
    dt, prog, kinds, kern = float_case
    x, y = float_inputs(dt, n=2400, seed=1)
    xs = x[: 40 * 60].reshape(40, 60).T          # transposed view
    ys = y[: 60 * 3 : 3].reshape(60, 1)          # strided column, broadcast along axis 1
    got = kern(xs, ys)
    ref = kern.numpy_fallback(xs, ys)
    for op, g, r in zip(kinds, got, ref):
        assert g.shape == (60, 40)
        _compare(op, g, r, dt)


@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_vecmath_ops_general_path(dt, cache_dir):
    prog = unary_program(VM_OPS, dt)
    kern = ne.compile_program(prog, cache_dir=cache_dir)
    x, _ = float_inputs(dt, n=2400, seed=4)
    xs = x[:2400].reshape(60, 40).T
    got = kern(xs)
    ref = kern.numpy_fallback(xs)
    for op, g, r in zip(VM_OPS, got, ref):
        _compare(op, g, r, dt)


def int_program():
    ins = (("x", "int64"), ("y", "int64"), ("z", "int32"), ("w", "uint8"))
    instrs, dts, outs = [], [], []

    def add(name, op, args, odt):
        instrs.append((name, op, args))
        dts.append((name, odt))
        outs.append(name)

    for op in ("add", "sub", "mul", "int_div", "mod", "maximum", "minimum", "and", "or", "xor"):
        add(f"b_{op}", op, ("x", "y"), "int64")
    for op in ("lt", "gt", "le", "ge", "eq", "neq"):
        add(f"c_{op}", op, ("x", "z"), "bool")
    add("f_div", "true_div", ("x", "y"), "float64")
    for op in ("neg", "abs", "sign", "invert", "sqr", "floor", "round", "identity"):
        add(f"u_{op}", op, ("z",), "int32")
    add("e", "mod", ("y", 7), "int64")
    add("p_pow", "pow", ("x", "e"), "int64")
    add("p_pow32", "pow", ("z", 3), "int32")
    add("m_mix", "add", ("z", "x"), "int64")
    add("m_z3", "mul", ("z", 3), "int32")
    add("m_zdiv", "int_div", ("z", -3), "int32")
    add("m_zmod", "mod", ("z", -3), "int32")
    add("w_add", "add", ("w", 200), "uint8")
    add("w_sub", "sub", ("w", 100), "uint8")
    add("w_neg", "neg", ("w",), "uint8")
    add("w_div", "int_div", ("w", 7), "uint8")
    add("w_sign", "sign", ("w",), "uint8")
    add("w_f", "exp", ("w",), "float32")
    add("cast_f32", "cast", ("x",), "float32")
    add("cast_b", "cast", ("x",), "bool")
    add("cast_u8", "cast", ("x",), "uint8")
    add("sw", "switch", ("c_lt", "x", 7), "int64")
    add("isn", "isnan", ("x",), "bool")
    add("clip", "clip", ("x", -5, 5), "int64")
    return KernelProgram(ins, tuple(instrs), tuple(dts), tuple(outs))


def test_int_ops(cache_dir):
    prog = int_program()
    kern = ne.compile_program(prog, cache_dir=cache_dir)
    rng = np.random.default_rng(2)
    n = 2000
    i64 = np.iinfo(np.int64)
    x = np.concatenate([rng.integers(-50, 50, n), [i64.min, i64.max, 0, -7, 7, i64.min]])
    y = np.concatenate([rng.integers(-9, 9, n), [-1, -1, 0, 2, -2, 1]])
    z = np.concatenate([rng.integers(-2**31, 2**31 - 1, n), [-2**31, 2**31 - 1, 0, 1, -1, 5]])
    w = np.concatenate([rng.integers(0, 255, n), [0, 255, 1, 2, 3, 4]])
    x, y, z, w = x.astype(np.int64), y.astype(np.int64), z.astype(np.int32), w.astype(np.uint8)
    got = kern(x, y, z, w)
    ref = kern.numpy_fallback(x, y, z, w)
    for name, g, r in zip(prog.outputs, got, ref):
        assert g.dtype == r.dtype, name
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, r, rtol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(g, r, err_msg=name)


def test_bool_ops(cache_dir):
    ins = (("p", "bool"), ("q", "bool"), ("v", "float32"))
    ops = [("a", "and", ("p", "q"), "bool"), ("o", "or", ("p", "q"), "bool"),
           ("x", "xor", ("p", "q"), "bool"), ("n", "invert", ("p",), "bool"),
           ("s", "switch", ("p", "v", 0.5), "float32"), ("i", "cast", ("q",), "int16"),
           ("f", "cast", ("p",), "float64"), ("e", "eq", ("p", "q"), "bool"),
           ("mx", "maximum", ("p", "q"), "bool"), ("mn", "minimum", ("p", "q"), "bool"),
           ("ai", "and", ("p", 1), "bool"), ("vb", "and", ("v", "q"), "bool"),
           ("sm", "add", ("i", "p"), "int16")]
    prog = KernelProgram(ins, tuple((o, op, a) for o, op, a, _ in ops),
                         tuple((o, d) for o, _, _, d in ops), tuple(o for o, *_ in ops))
    kern = ne.compile_program(prog, cache_dir=cache_dir)
    rng = np.random.default_rng(3)
    p = rng.random(500) < 0.5
    q = rng.random((3, 1)) < 0.5                   # broadcast (3,1) x (500,)
    v = rng.standard_normal(500).astype(np.float32)
    v[::7] = 0
    got = kern(p, q, v)
    ref = kern.numpy_fallback(p, q, v)
    for name, g, r in zip(prog.outputs, got, ref):
        assert g.dtype == r.dtype and g.shape == (3, 500), name
        np.testing.assert_array_equal(g, r, err_msg=name)


def test_supported():
    assert supported("add", ["float64", "float64"])
    assert supported("exp", ["int32"])                  # -> float64
    assert not supported("exp", ["int32"], out_dtype="int32")
    assert not supported("add", ["complex128", "float64"])
    assert not supported("nope", ["float64"])
    assert supported("lt", ["int64", 2.5])
    assert supported("and", ["bool", "bool"])
    assert not supported("sub", ["bool", "bool"])
    assert supported("clip", ["float32", 0.0, 1.0])
    assert not supported("add", ["float64"])            # wrong arity


def test_every_catalogue_op_is_in_the_kernel_table_or_declared_unfused():
    """A scalar op with a kernel name is either expressible by the kernel engines
    (``program.OPS``, each op tested above against NumPy) or declared ``UNFUSED``;
    nothing falls through unnoticed."""
    from theanine.link.fused import program
    from theanine.scalar import basic as ts

    names = {op.kernel_name for op in vars(ts).values()
             if isinstance(op, ts.ScalarOp) and op.kernel_name}
    assert names - set(program.OPS) - program.UNFUSED == set()
    assert not set(program.OPS) & program.UNFUSED
    from theanine.link.python.dispatch_fused import KERNEL_CAPABILITIES
    for op in vars(ts).values():
        if isinstance(op, ts.ScalarOp) and op.kernel_name in program.UNFUSED:
            dts = ("float64",) * op.nin
            assert not KERNEL_CAPABILITIES.fusable(op, dts, ("float64",)), op


def test_round_half_away_is_exact_at_the_edges(cache_dir):
    """Halves go away from zero; 0.5 - 2**-54 rounds down and odd integers above
    2**52 stay themselves (``floor(x + 0.5)`` gets both wrong)."""
    prog = unary_program(["round_half_away"], "float64")
    kern = ne.compile_program(prog, cache_dir=cache_dir)
    x = np.array([0.5, -0.5, 1.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                  2.0 ** 52 + 1, -(2.0 ** 52) - 1, 0.3, -0.3, 0.0, -0.0, np.inf, np.nan])
    want = np.array([1.0, -1.0, 2.0, -3.0, 0.0, -0.0, 2.0 ** 52 + 1, -(2.0 ** 52) - 1, 0.0,
                     -0.0, 0.0, -0.0, np.inf, np.nan])
    for got in (kern(x)[0], kern.numpy_fallback(x)[0]):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
