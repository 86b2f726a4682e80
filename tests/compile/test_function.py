"""th.function: inputs, outputs, updates, givens, shared values, errors."""

import threading

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.function_module import UnusedInputError
from theanine.graph.fg import MissingInputError

MODES = [th.Mode(linker="py"), th.Mode(linker="vm")]


@pytest.fixture(params=MODES, ids=["py", "vm"])
def mode(request):
    return request.param


def test_single_and_list_outputs(mode):
    x = tt.dvector("x")
    f = th.function([x], x * 2, mode=mode)
    g = th.function([x], [x * 2, x.sum()], mode=mode)
    np.testing.assert_allclose(f([1, 2]), [2, 4])
    out = g([1, 2])
    assert isinstance(out, list) and len(out) == 2 and float(out[1]) == 3.0


def test_keyword_arguments_and_defaults(mode):
    x, y = tt.dscalars("x", "y")
    f = th.function([x, th.In(y, value=10.0)], x - y, mode=mode)
    assert f(1) == -9.0
    assert f(y=1, x=5) == 4.0


def test_updates_applied_after_outputs(mode):
    w = th.shared(np.array([1.0, 2.0]), name="w")
    x = tt.dvector("x")
    f = th.function([x], (w * x).sum(), updates=[(w, w + x)], mode=mode)
    assert f([1, 1]) == 3.0
    np.testing.assert_allclose(w.get_value(), [2.0, 3.0])
    g = th.function([], w, updates={w: w * 0}, mode=mode)
    np.testing.assert_allclose(g(), [2.0, 3.0])
    np.testing.assert_allclose(w.get_value(), [0.0, 0.0])


def test_failed_call_leaves_shared_variables_untouched(mode):
    a = th.shared(np.zeros(2), name="a")
    b = th.shared(np.zeros(2), name="b")
    x = tt.dvector("x")
    bad = tt.dot(tt.dmatrix("m"), x)
    m = bad.owner.inputs[0]
    f = th.function([x, m], bad, updates=[(a, a + 1), (b, b + x)], mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(2), np.ones((3, 5)))
    np.testing.assert_array_equal(a.get_value(), [0, 0])
    np.testing.assert_array_equal(b.get_value(), [0, 0])


def test_givens_substitute(mode):
    x = tt.dvector("x")
    s = th.shared(np.array([1.0, 2.0]), name="s")
    y = tt.dvector("y")
    f = th.function([y], (x * 3).sum(), givens=[(x, y + s)], mode=mode)
    assert f([0.0, 0.0]) == 9.0


def test_outputs_never_alias_inputs_or_shared(mode):
    x = tt.dvector("x")
    s = th.shared(np.ones(3), name="s")
    f = th.function([x], [x, s, x.T], mode=mode)
    xv = np.zeros(3)
    out = f(xv)
    assert not np.shares_memory(out[0], xv)
    assert not np.shares_memory(out[1], s.get_value(borrow=True))
    assert not np.shares_memory(out[2], xv)
    out[1][:] = 5
    np.testing.assert_array_equal(s.get_value(), np.ones(3))


def test_borrowed_output_may_alias(mode):
    x = tt.dvector("x")
    f = th.function([x], th.Out(x, borrow=True), mode=mode)
    xv = np.zeros(3)
    assert f(xv) is xv


def test_shared_value_copy_semantics():
    value = np.zeros(2)
    s = th.shared(value)
    value[0] = 5
    assert s.get_value()[0] == 0
    got = s.get_value()
    got[1] = 7
    assert s.get_value()[1] == 0
    s.set_value(np.ones(2))
    np.testing.assert_array_equal(s.get_value(), [1, 1])
    b = th.shared(value, borrow=True)
    assert b.get_value(borrow=True) is value


def test_python_scalars_do_not_upcast_float32():
    x = tt.fvector("x")
    assert (x * 2.5).dtype == "float32"
    assert (x + 1).dtype == "float32"
    i = tt.ivector("i")
    assert (i + 1).dtype == "int32"
    assert (i * 1.5).dtype == "float64"
    assert (i / i).dtype == "float64"


def test_bad_inputs_name_the_argument():
    x = tt.dvector("x")
    y = tt.fmatrix("y")
    f = th.function([x, y], x.sum() + y.sum())
    with pytest.raises(TypeError):
        f([1.0])
    with pytest.raises(TypeError):
        f([1.0], np.ones((2, 2)), 3)
    with pytest.raises(TypeError, match="argument 0 .*'x'.*1 dimensions"):
        f(np.ones((2, 2)), np.ones((2, 2), "float32"))
    with pytest.raises(TypeError, match="argument 1 .*'y'.*losing precision"):
        f([1.0], np.ones((2, 2)))
    with pytest.raises(TypeError, match="argument 0 .*NoneType"):
        f(None, np.ones((2, 2), "float32"))
    with pytest.raises(TypeError, match="argument 0 .*str"):
        f("abc", np.ones((2, 2), "float32"))
    with pytest.raises(TypeError, match="argument 0 .*ragged"):
        f([[1.0], [1.0, 2.0]], np.ones((2, 2), "float32"))
    g = th.function([y], y.sum(), allow_input_downcast=True)
    assert g(np.ones((2, 2))) == 4.0


def test_static_shape_contradiction_is_reported():
    x = tt.tensor("float64", shape=(None, 3), name="x")
    f = th.function([x], x.sum())
    with pytest.raises(ValueError, match="static shape"):
        f(np.ones((2, 4)))


def test_dot_static_shape_mismatch_fails_at_build_time():
    a = tt.tensor("float64", shape=(2, 3))
    b = tt.tensor("float64", shape=(4, 5))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        tt.dot(a, b)


def test_runtime_error_names_node_shapes_and_user_line():
    a, b = tt.dmatrices("a", "b")
    out = tt.dot(a, b)  # the failing node
    f = th.function([a, b], out)
    with pytest.raises(ValueError) as info:
        f(np.ones((2, 3)), np.ones((4, 5)))
    text = str(info.value)
    assert "Dot" in text and "shape=(2, 3)" in text and "shape=(4, 5)" in text
    assert "test_function.py" in text and "the failing node" in text


def test_missing_and_unused_inputs():
    x, y = tt.dvectors("x", "y")
    with pytest.raises(MissingInputError, match="y"):
        th.function([x], x + y)
    with pytest.raises(UnusedInputError, match="input 1"):
        th.function([x, y], x * 2)
    f = th.function([x, y], x * 2, on_unused_input="ignore")
    np.testing.assert_allclose(f([1.0], [5.0]), [2.0])


def test_update_errors():
    x = tt.dvector("x")
    s = th.shared(np.zeros(2))
    with pytest.raises(TypeError, match="not a shared variable"):
        th.function([x], x, updates=[(x, x + 1)])
    with pytest.raises(TypeError, match="float32.*astype"):
        th.function([], s, updates=[(s, tt.fvector("v"))])
    with pytest.raises(ValueError, match="more than once"):
        th.function([], s, updates=[(s, s + 1), (s, s + 2)])


def test_shared_variable_as_explicit_input_is_rejected():
    s = th.shared(np.zeros(2))
    with pytest.raises(TypeError, match="shared"):
        th.function([s], s * 2)


def test_reentrant_calls_from_threads():
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x).sum() * 0 + x.sum())
    results = {}

    def work(k):
        results[k] = [float(f(np.full(1000, k))) for _ in range(50)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert results[k] == [1000.0 * k] * 50


def test_eval_and_source():
    x = tt.dvector("x")
    y = (x * 2).sum()
    assert y.eval({x: np.ones(3)}) == 6.0
    f = th.function([x], y)
    assert f.source.startswith("def fn(x):") and "del " in f.source


def test_modes_by_name():
    x = tt.dvector("x")
    for name in ("FAST_RUN", "FAST_COMPILE"):
        f = th.function([x], x + 1, mode=name)
        np.testing.assert_allclose(f([1.0]), [2.0])
    with pytest.raises(ValueError, match="unknown mode"):
        th.function([x], x, mode="NOPE")


def test_python_float_takes_the_scalar_fast_path():
    x = tt.dscalar("x")
    f = th.function([x], x * 2.0)
    assert "type(x) is float" in f.source
    out = f(1.25)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out == 2.5
    assert f(np.float32(1.5)) == 3.0 and f(2) == 4.0      # other scalars: the filter
    with pytest.raises(TypeError, match="argument 0"):
        f("1.5")


@pytest.mark.parametrize("at_compile", [True, False])
def test_trust_input_skips_checks_and_conversions(at_compile):
    x = tt.dvector("x")
    w = th.shared(np.zeros(3), name="w")
    f = th.function([x], x * x, updates={w: w + x}, trust_input=at_compile)
    if not at_compile:
        assert not f.trust_input
        assert f([1, 2, 3]).tolist() == [1.0, 4.0, 9.0]     # converted while checked
        w.set_value(np.zeros(3))
        f.trust_input = True
    assert f.trust_input
    np.testing.assert_allclose(f(np.arange(3.0)), [0.0, 1.0, 4.0])
    np.testing.assert_allclose(w.get_value(), [0.0, 1.0, 2.0])
    assert f(np.arange(3, dtype="int32")).dtype == np.int32  # used as given: no conversion
    f.trust_input = False
    assert f(np.arange(3, dtype="int32")).dtype == np.float64
    with pytest.raises(TypeError, match="argument 0"):
        f("abc")


def test_trust_input_keeps_profiled_functions_checked():
    from theanine.compile.profiling import ProfileStats

    x = tt.dvector("x")
    stats = ProfileStats()
    stats.atexit_print = False                  # keep it out of the report at exit
    f = th.function([x], x + 1, profile=stats, trust_input=True)
    assert f.trust_input and f.profile is not None
    assert f([1.0]).tolist() == [2.0]                       # the list is still converted


def test_accept_inplace_refuses_then_validates_user_inplace_ops():
    from theanine.scalar import basic as ts
    from theanine.tensor.elemwise import Elemwise

    x = tt.dvector("x")
    t = tt.exp(x)
    inplace_add = Elemwise(ts.add, {0: 0})
    out = inplace_add(t, x)                      # overwrites exp(x): legal
    with pytest.raises(TypeError, match="accept_inplace=True"):
        th.function([x], out)
    f = th.function([x], out, accept_inplace=True)
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), [1.0, np.e + 1.0])
    clobber = inplace_add(x, t)                  # would overwrite the input x
    with pytest.raises(Exception, match="function input"):
        th.function([x], clobber, accept_inplace=True)


def test_rebuild_strict_false_lets_givens_change_types():
    x = tt.dvector("x")
    i = tt.ivector("i")
    y = x + x
    with pytest.raises(TypeError, match="givens"):
        th.function([i], y, givens={x: i})
    f = th.function([i], y, givens={x: i}, rebuild_strict=False)
    out = f(np.array([1, 2], dtype="int32"))
    assert out.dtype.kind == "i" and out.tolist() == [2, 4]


def test_eval_cache_is_bounded():
    from theanine.compile import function_module as fm

    x = tt.dscalar("x")
    before = len(fm._eval_cache)
    for k in range(fm.EVAL_CACHE_SIZE + 10):
        assert (x + k).eval({x: 1.0}) == 1.0 + k
    assert len(fm._eval_cache) <= fm.EVAL_CACHE_SIZE
    assert before <= fm.EVAL_CACHE_SIZE
