"""Engine behaviour: broadcasting, layouts, out=/aliasing, parallel path, reductions."""

import threading

import numpy as np
import pytest

from theanine.link.fused import numba_engine as ne
from theanine.link.fused.program import KernelProgram

F = "float64"
# exp(-x*x)*sin(y) + x*y/(1+y*y) and 2*x (two outputs)
EXPR = KernelProgram(
    inputs=(("x", F), ("y", F)),
    instructions=(("a", "mul", ("x", "x")), ("b", "neg", ("a",)), ("c", "exp", ("b",)),
                  ("d", "sin", ("y",)), ("e", "mul", ("c", "d")), ("f", "mul", ("x", "y")),
                  ("g", "mul", ("y", "y")), ("h", "add", (1, "g")), ("i", "true_div", ("f", "h")),
                  ("j", "add", ("e", "i")), ("k", "mul", ("x", 2.0))),
    dtypes=tuple((n, F) for n in "abcdefghijk"),
    outputs=("j", "k"),
)


def _reduce_prog(op, axes, dtype=F):
    return KernelProgram(
        inputs=(("x", dtype), ("y", dtype)),
        instructions=(("t", "mul", ("x", "y")), ("u", "add", ("t", "x"))),
        dtypes=(("t", dtype), ("u", dtype)), outputs=("u",), reduce=(op, axes))


@pytest.fixture(scope="module")
def kern(cache_dir):
    return ne.compile_program(EXPR, cache_dir=cache_dir)


def _check(kern, *args, **kw):
    got = kern(*args, **kw)
    ref = ne.numpy_eval(kern.program, *args)
    for g, r in zip(got, ref):
        assert g.shape == r.shape and g.dtype == r.dtype
        np.testing.assert_allclose(g, r, rtol=1e-14, atol=1e-15)
    return got


@pytest.mark.parametrize("sx,sy", [
    ((50,), (50,)), ((4, 1, 6), (5, 1)), ((), (7,)), ((3, 4), ()), ((), ()), ((0, 3), (3,)),
    ((1, 9), (9, 1)),
])
def test_broadcasting(kern, sx, sy):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(sx)
    y = rng.standard_normal(sy)
    got = _check(kern, x, y)
    assert got[0].shape == np.broadcast_shapes(sx, sy)


def test_python_scalars(kern):
    got = _check(kern, 0.5, np.arange(5.0))
    assert got[0].shape == (5,)


def test_layouts(kern):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((30, 40))
    _check(kern, base.T, base.T)                        # F-contiguous, same strides
    _check(kern, base.T, np.ascontiguousarray(base.T))  # mixed layouts
    _check(kern, base[::2, ::3], base[1::2, ::-3])      # strided and negative strides
    x5 = rng.standard_normal((2, 3, 2, 3, 2))[:, ::2, :, ::2]  # > 3 non-mergeable axes
    _check(kern, x5, x5.transpose(0, 1, 3, 2, 4).copy().transpose(0, 1, 3, 2, 4))
    got = kern(base.T, base.T)
    assert got[0].flags.f_contiguous


def test_out_and_inplace(kern):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(1000)
    y = rng.standard_normal(1000)
    ref = ne.numpy_eval(EXPR, x, y)
    o1, o2 = np.empty(1000), np.empty(1000)
    res = kern(x, y, out=(o1, o2))
    assert res[0] is o1 and res[1] is o2
    np.testing.assert_allclose(o1, ref[0], rtol=1e-14, atol=1e-15)
    # in place: outputs overwrite the inputs
    xc, yc = x.copy(), y.copy()
    kern(xc, yc, out=(yc, xc))
    np.testing.assert_allclose(yc, ref[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(xc, ref[1], rtol=1e-14, atol=1e-15)
    # partially overlapping view
    buf = np.concatenate([x, [0.0]])
    kern(buf[1:], y, out=(buf[:-1], np.empty(1000)))
    np.testing.assert_allclose(buf[:-1], ne.numpy_eval(EXPR, np.concatenate([x, [0.0]])[1:],
                                                       y)[0], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("sx", [(1,), (), (1, 1)])
def test_one_element_operands_broadcast_on_the_fast_path(kern, sx):
    """A one-element array beside full C-contiguous ones is passed as a scalar; one of
    more dimensions than the result sends the call down the general path."""
    y = np.random.default_rng(5).standard_normal((40,))
    x = np.full(sx, 0.3)
    got = _check(kern, x, y)
    assert got[0].shape == np.broadcast_shapes(sx, y.shape)
    _check(kern, y, x)
    _check(kern, x, np.full((1,), 2.0))                   # every operand of one element


def test_several_outputs_one_written_over_an_input(kern):
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal(500), rng.standard_normal(500)
    ref = ne.numpy_eval(EXPR, x, y)
    xc = x.copy()
    res = kern(xc, y, out=[None, xc])                      # None: a fresh array
    assert res[1] is xc and res[0] is not xc
    np.testing.assert_allclose(res[0], ref[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(xc, ref[1], rtol=1e-14, atol=1e-15)
    yc = y.copy()
    res = kern(np.full((1,), 0.7), yc, out=[yc, None])     # with a broadcast operand
    want = ne.numpy_eval(EXPR, np.full((1,), 0.7), y)
    np.testing.assert_allclose(yc, want[0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(res[1], want[1], rtol=1e-14, atol=1e-15)


def test_parallel_path_and_trig_fixup(kern):
    n = ne.PARALLEL_MIN * 3 + 17
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n) * 10
    y[::1000] = 1e7 * rng.standard_normal(y[::1000].size)   # beyond the vectorized sin range
    y[5] = np.inf
    y[6] = np.nan
    _check(kern, x, y)


def test_in_place_with_the_trig_fixup(kern):
    """Outputs written over the inputs, where some blocks re-run with libm's sin: each
    block is computed (both passes) before it is stored, so the re-run reads the
    inputs, not the results."""
    n = ne.PARALLEL_MIN * 2 + 5
    rng = np.random.default_rng(5)
    x = rng.standard_normal(n)
    y = rng.standard_normal(n) * 10
    y[::999] = 1e7 * rng.standard_normal(y[::999].size)
    ref = ne.numpy_eval(EXPR, x, y)
    xc, yc = x.copy(), y.copy()
    kern(xc, yc, out=(yc, xc))
    np.testing.assert_allclose(yc, ref[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(xc, ref[1], rtol=1e-14, atol=1e-15)


def test_threads(kern):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(ne.PARALLEL_MIN * 2)
    y = rng.standard_normal(ne.PARALLEL_MIN * 2)
    ref = ne.numpy_eval(EXPR, x, y)[0]
    errors = []

    def work():
        for _ in range(5):
            if not np.allclose(kern(x, y)[0], ref, rtol=1e-14, atol=1e-15):
                errors.append(1)

    ts = [threading.Thread(target=work) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


@pytest.mark.parametrize("op", ["sum", "max"])
def test_reductions(op, cache_dir):
    rng = np.random.default_rng(5)
    kall = ne.compile_program(_reduce_prog(op, None), cache_dir=cache_dir)
    x = rng.standard_normal((60, 70))
    y = rng.standard_normal((60, 70))
    for args in [(x, y), (x.T, y.T), (x[::2], y[::2]), (x, 2.0), (x[:, :1], y[:1, :])]:
        got = kall(*args)[0]
        ref = ne.numpy_eval(kall.program, *args)[0]
        assert got.shape == () and got.dtype == ref.dtype
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    big = rng.standard_normal(ne.PARALLEL_MIN * 4 + 3)
    np.testing.assert_allclose(kall(big, big)[0], ne.numpy_eval(kall.program, big, big)[0],
                               rtol=1e-12)
    for axes in [(0,), (1,), (-1,), (0, 2), (1, 2)]:
        k = ne.compile_program(_reduce_prog(op, axes), cache_dir=cache_dir)
        a = rng.standard_normal((6, 5, 40))
        b = rng.standard_normal((5, 1))
        for args in [(a, b), (a.transpose(2, 1, 0).copy().transpose(2, 1, 0), b)]:
            got = k(*args)[0]
            ref = ne.numpy_eval(k.program, *args)[0]
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_reduction_special_cases(cache_dir):
    k = ne.compile_program(_reduce_prog("max", None), cache_dir=cache_dir)
    x = np.arange(10.0)
    x[3] = np.nan
    assert np.isnan(k(x, 1.0)[0])
    with pytest.raises(ValueError):
        k(np.zeros(0), 1.0)
    ks = ne.compile_program(_reduce_prog("sum", None, "int32"), cache_dir=cache_dir)
    xi = np.arange(1000, dtype=np.int32)
    got = ks(xi, np.int32(3))[0]
    assert got.dtype == np.int64 and int(got) == int(np.sum(xi * 3 + xi))
    assert ks(np.zeros(0, np.int32), np.int32(1))[0] == 0


def test_async_handle(cache_dir):
    prog = KernelProgram((("x", F),), (("a", "sqr", ("x",)), ("b", "add", ("a", 1.5))),
                         (("a", F), ("b", F)), ("b",))
    h = ne.compile_program_async(prog, cache_dir=cache_dir)
    x = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(h(x)[0], x * x + 1.5)      # NumPy or native, either is right
    assert h.wait(120)
    assert h.error is None
    np.testing.assert_allclose(h(x)[0], x * x + 1.5)


def test_key_and_source_file(cache_dir):
    k = ne.compile_program(EXPR, cache_dir=cache_dir)
    assert k.path.exists() and k.path.parent.parent == __import__("pathlib").Path(cache_dir)
    same = KernelProgram(EXPR.inputs, EXPR.instructions, dict(EXPR.dtypes), EXPR.outputs)
    assert same.key() == EXPR.key()
    other = KernelProgram(EXPR.inputs, EXPR.instructions[:-1] + (("k", "mul", ("x", 3.0)),),
                          EXPR.dtypes, EXPR.outputs)
    assert other.key() != EXPR.key()
