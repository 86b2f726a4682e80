"""In-place rewriting and the destroy handler: try hard to make it clobber."""

from collections import Counter

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.compile.io import In, Out
from theanine.compile.mode import Mode, get_mode
from theanine.graph.basic import Apply
from theanine.graph.destroyhandler import DestroyHandler, buffer_root
from theanine.graph.fg import FunctionGraph, InconsistencyError
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.rewriting.inplace import _settle, make_inplace

NO_FUSION = Mode("vm", "fast_run").excluding("fusion")


def destroyers(f):
    return [n for n in f.maker.fgraph.toposort() if n.op.destroy_map]


def destroyed_vars(f):
    return [n.inputs[i] for n in destroyers(f) for ins in n.op.destroy_map.values()
            for i in ins]


def test_function_input_is_never_overwritten(rng):
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x) * 2 + x)
    assert not destroyed_vars(f) or all(v.owner is not None for v in destroyed_vars(f))
    a = rng.normal(size=200)
    keep = a.copy()
    np.testing.assert_allclose(f(a), np.exp(keep) * 2 + keep)
    np.testing.assert_array_equal(a, keep)


def test_mutable_input_may_be_overwritten(rng):
    x = tt.dvector("x")
    f = th.function([In(x, mutable=True)], (x + 1) * 3)
    assert destroyed_vars(f) == [f.maker.fgraph.inputs[0]]
    a = rng.normal(size=50)
    keep = a.copy()
    out = f(a)
    np.testing.assert_allclose(out, (keep + 1) * 3)
    assert not np.shares_memory(out, a)      # the output is still a copy (no borrow)


def test_mutable_input_with_two_consumers_orders_the_destroyer_last(rng):
    x = tt.dvector("x")
    f = th.function([In(x, mutable=True)], [tt.exp(x), tt.sin(x)], mode=NO_FUSION)
    order = f.maker.fgraph.toposort()
    ds = [n for n in order if n.op.destroy_map]
    assert len(ds) == 1
    others = [n for n in order if n.inputs[0] is f.maker.fgraph.inputs[0] and n not in ds]
    assert all(order.index(o) < order.index(ds[0]) for o in others)
    a = rng.normal(size=30)
    keep = a.copy()
    e, s = f(a)
    np.testing.assert_allclose(e, np.exp(keep))
    np.testing.assert_allclose(s, np.sin(keep))


def test_view_of_input_is_read_before_the_base_is_destroyed(rng):
    x = tt.dmatrix("x")
    v = x.T                                  # a view of x
    f = th.function([In(x, mutable=True)], [(x + 1) * 2, (v * 3).sum()])
    order = f.maker.fgraph.toposort()
    (d,) = [n for n in order if n.op.destroy_map]
    assert d.inputs[0] is f.maker.fgraph.inputs[0]
    view_readers = [n for n in order if any(i.owner is not None and i.owner.inputs[0] is
                                            d.inputs[0] for i in n.inputs)]
    assert view_readers and all(order.index(n) < order.index(d) for n in view_readers)
    a = rng.normal(size=(4, 3))
    keep = a.copy()
    r1, r2 = f(a)
    np.testing.assert_allclose(r1, (keep + 1) * 2)
    np.testing.assert_allclose(r2, (keep.T * 3).sum())


def test_node_reading_a_transposed_view_of_the_destroyed_input(rng):
    x = tt.dmatrix("x")
    f = th.function([In(x, mutable=True)], x + x.T, mode=NO_FUSION)
    assert not destroyers(f)          # x is read through x.T by the same node
    a = rng.normal(size=(5, 5))
    keep = a.copy()
    np.testing.assert_allclose(f(a), keep + keep.T)


def test_intermediate_used_twice_is_not_clobbered(rng):
    x = tt.dvector("x")
    t = tt.exp(x)
    f = th.function([x], [t * 2, t + 1, tt.sin(t)], mode=NO_FUSION)
    a = rng.normal(size=40)
    r = f(a)
    np.testing.assert_allclose(r[0], np.exp(a) * 2)
    np.testing.assert_allclose(r[1], np.exp(a) + 1)
    np.testing.assert_allclose(r[2], np.sin(np.exp(a)))
    assert len(destroyed_vars(f)) <= 1


def test_constant_is_never_destroyed():
    x = tt.dvector("x")
    c = tt.constant(np.arange(4.0))
    f = th.function([x], tt.exp(c) + x)
    assert not any(isinstance(v, th.Constant) for v in destroyed_vars(f))
    np.testing.assert_allclose(f(np.ones(4)), np.exp(np.arange(4.0)) + 1)
    np.testing.assert_allclose(f(np.ones(4)), np.exp(np.arange(4.0)) + 1)


def test_destroy_handler_rejects_constants_inputs_and_double_destroyers():
    x = tt.dvector("x")
    inplace_add = Elemwise(ts.add, {0: 0})
    c = tt.constant(np.ones(3))
    with pytest.raises(InconsistencyError, match="constant"):
        FunctionGraph([x], [inplace_add(c, x)], features=[DestroyHandler()]).validate()
    with pytest.raises(InconsistencyError, match="mutable"):
        FunctionGraph([x], [inplace_add(x, x)], features=[DestroyHandler()]).validate()
    fg = FunctionGraph([x], [inplace_add(x, x)], clone=False,
                       features=[DestroyHandler(mutable=[x])])
    fg.validate()
    t = tt.exp(x)
    fg = FunctionGraph([x], [inplace_add(t, x) + inplace_add(t, x * 2)],
                       features=[DestroyHandler()])
    with pytest.raises(InconsistencyError, match="both overwrite"):
        fg.validate()


def test_destroy_handler_orderings_and_views():
    x = tt.dmatrix("x")
    t = tt.exp(x)
    v = t.T
    reader = tt.sin(v)
    destroyer = Elemwise(ts.mul, {0: 0})(t, t)
    fg = FunctionGraph([x], [reader, destroyer], clone=False, features=[DestroyHandler()])
    fg.validate()
    assert buffer_root(v) is t
    order = fg.toposort()
    assert order.index(reader.owner) < order.index(destroyer.owner)
    # the old value is read before the destroyer, its result after: legal
    ok = FunctionGraph([x], [tt.sin(v) + destroyer.dimshuffle(1, 0)], clone=False,
                       features=[DestroyHandler()])
    ok.validate()
    # one node reads the old value (through a view) and the destroyer's result
    late = tt.exp(x)
    clash_d = Elemwise(ts.mul, {0: 0})(late, late)
    clash = FunctionGraph([x], [late.T * clash_d.T], clone=False, features=[DestroyHandler()])
    with pytest.raises(InconsistencyError):
        clash.validate()


def test_shared_update_is_computed_in_the_shared_buffer(rng):
    w = th.shared(rng.normal(size=100))
    g = tt.dvector("g")
    f = th.function([g], [], updates={w: w - 0.5 * g})
    buf = w.get_value(borrow=True)
    ref = buf.copy()
    gv = rng.normal(size=100)
    f(gv)
    assert destroyed_vars(f)
    assert w.get_value(borrow=True) is buf
    np.testing.assert_allclose(buf, ref - 0.5 * gv)


def test_shared_update_when_old_value_is_also_needed(rng):
    w = th.shared(rng.normal(size=10))
    g = tt.dvector("g")
    f = th.function([g], (w * 3).sum(), updates={w: w - g})
    old = w.get_value()
    gv = rng.normal(size=10)
    np.testing.assert_allclose(f(gv), (old * 3).sum())
    np.testing.assert_allclose(w.get_value(), old - gv)


def test_output_that_is_also_updated(rng):
    w = th.shared(rng.normal(size=6))
    f = th.function([], w, updates={w: w * 2})
    old = w.get_value()
    out = f()
    np.testing.assert_allclose(out, old)
    np.testing.assert_allclose(w.get_value(), old * 2)
    f2 = th.function([], w * 2, updates={w: w * 2})
    out2 = f2()
    np.testing.assert_allclose(out2, old * 4)
    assert not np.shares_memory(out2, w.get_value(borrow=True))


def test_borrowed_output_never_aliases_a_non_mutable_input(rng):
    x = tt.dvector("x")
    f = th.function([x], Out(tt.exp(x) + 1, borrow=True))
    a = rng.normal(size=5)
    keep = a.copy()
    r1 = f(a)
    np.testing.assert_allclose(r1, np.exp(keep) + 1)
    np.testing.assert_array_equal(a, keep)
    assert not np.shares_memory(r1, a)


def test_runtime_broadcast_does_not_write_into_a_small_input(rng):
    x, y = tt.dvectors("x", "y")
    for mode in (Mode("py", "fast_run"), Mode("vm", "fast_run")):
        f = th.function([In(x, mutable=True), y], x + y, mode=mode)
        a = np.array([2.0])
        b = rng.normal(size=5)
        np.testing.assert_allclose(f(a, b), 2.0 + b)


class _AddInto(Op):
    """Test op: ``a + b``; its in-place variant writes into ``a``."""

    __props__ = ("inplace",)

    def __init__(self, inplace=False):
        self.inplace = inplace
        self.destroy_map = {0: [0]} if inplace else {}

    def make_node(self, a, b):
        return Apply(self, [a, b], [a.type()])

    def perform(self, node, inputs, output_storage):
        a, b = inputs
        if self.inplace:
            a += b
            output_storage[0][0] = a
        else:
            output_storage[0][0] = a + b

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def inplace_variant(self):
        return None if self.inplace else _AddInto(True)


def test_inplace_variant_protocol(rng):
    x = tt.dvector("x")
    y = tt.dvector("y")
    t = tt.exp(x)
    out = _AddInto()(t, y)
    fg = FunctionGraph([x, y], [out], features=[DestroyHandler()])
    counts = make_inplace(fg)
    assert counts["inplace__addinto"] == 1
    assert [n.op.inplace for n in fg.toposort() if isinstance(n.op, _AddInto)] == [True]
    fg2 = FunctionGraph([x, y], [_AddInto()(x, y)], features=[DestroyHandler()])
    assert not make_inplace(fg2)     # x is a non-mutable input
    f = th.function([x, y], _AddInto()(tt.exp(x), y))
    a, b = rng.normal(size=3), rng.normal(size=3)
    np.testing.assert_allclose(f(a, b), np.exp(a) + b)


def test_float32_fused_inplace_chain(rng):
    x = tt.fvector("x")
    f = th.function([In(x, mutable=True)], ((x + 1) * 2 - 3) / 4)
    a = rng.normal(size=2000).astype("float32")
    keep = a.copy()
    out = f(a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ((keep + 1) * 2 - 3) / 4, rtol=1e-6)
    assert destroyed_vars(f) == [f.maker.fgraph.inputs[0]]


def test_set_and_inc_subtensor_become_inplace_only_when_legal(rng):
    x = tt.dvector("x")
    y = tt.dscalar("y")
    t = tt.exp(x)
    f = th.function([x, y], tt.set_subtensor(t[1:3], y) * 2)
    assert any(getattr(n.op, "inplace", False) for n in destroyers(f))
    a = rng.normal(size=5)
    keep = a.copy()
    want = np.exp(keep)
    want[1:3] = 0.5
    np.testing.assert_allclose(f(a, 0.5), want * 2)
    np.testing.assert_array_equal(a, keep)
    # t is needed by another output: the increment must not clobber it
    g = th.function([x, y], [tt.inc_subtensor(t[0:2], y), t + 0])
    r1, r2 = g(a, 1.0)
    want = np.exp(keep)
    np.testing.assert_allclose(r2, want)
    want[0:2] += 1.0
    np.testing.assert_allclose(r1, want)
    # on a non-mutable input it stays out of place
    h = th.function([x, y], tt.set_subtensor(x[0], y))
    assert not destroyers(h)
    np.testing.assert_allclose(h(a, 7.0)[0], 7.0)
    np.testing.assert_array_equal(a, keep)


def test_handler_rechecks_a_destroyer_when_a_new_reader_appears():
    x = tt.dvector("x")
    t = tt.exp(x)
    d = Elemwise(ts.mul, {0: 0})(t, t)
    fg = FunctionGraph([x], [d + 1], clone=False, features=[DestroyHandler()])
    fg.validate()
    fg.replace(fg.outputs[0], d + t)        # reads t after d overwrote it
    with pytest.raises(InconsistencyError):
        fg.validate()


def test_handler_rechecks_a_destroyer_whose_input_changes():
    # two destroyers of two equal buffers; merging the buffers must be refused
    # (checked once, the second destroyer's ownership used to go stale)
    x = tt.dvector("x")
    a, b = tt.exp(x), tt.exp(x) * 1
    inplace_mul = Elemwise(ts.mul, {0: 0})
    d1, d2 = inplace_mul(a, x), inplace_mul(b, x)
    fg = FunctionGraph([x], [d1 + d2], clone=False, features=[DestroyHandler()])
    fg.validate()
    fg.replace(b, a)                        # d2 now overwrites a, as d1 does
    with pytest.raises(InconsistencyError, match="both overwrite"):
        fg.validate()


def test_inplace_pass_covers_a_long_unfused_chain():
    """Every link of a 2,400-node chain is made in place (the pass's time is part of
    the compile-time benchmark in benchmarks/bench_foundation.py)."""
    def chain(n):
        x = tt.dvector("x")
        y = x
        for i in range(n):
            y = tt.sin(y) if i % 2 else y * 0.999
        return FunctionGraph([x], [y], features=[DestroyHandler()])

    for n in (300, 2400):
        counts = make_inplace(chain(n))
        assert counts["inplace_elemwise"] == n - 1


def test_native_kernel_writes_into_a_mutable_input(rng):
    from theanine.link.python import dispatch_fused
    x, y = tt.dvectors("x", "y")
    expr = tt.exp(-x * x) * tt.sin(y) + x * y / (1 + y * y)
    with th.change_flags(fused_kernel_async=False):
        f = th.function([In(x, mutable=True), y], Out(expr, borrow=True))
        a = rng.normal(size=3 * dispatch_fused.SMALL)
        b = rng.normal(size=a.size)
        keep = a.copy()
        out = f(a, b)
    assert destroyed_vars(f) == [f.maker.fgraph.inputs[0]]
    want = np.exp(-keep * keep) * np.sin(b) + keep * b / (1 + b * b)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)
    assert np.shares_memory(out, a)         # written into x's buffer, returned borrowed
    if dispatch_fused.engine_name() != "numpy":
        assert f.fn.codegen.ns["_f0"].kernel is not None


def _fgraph_with_positions(x, outputs):
    fg = FunctionGraph([x], outputs, clone=False, features=[DestroyHandler()])
    fg.validate()
    handler = fg.destroy_handler
    handler._compute_positions(fg, skip=set())
    return fg, handler


def test_handler_reorders_a_reader_scheduled_after_the_destroyer():
    """An in-place node placed before an independent reader of its buffer is
    accepted by moving the reader first (no full re-sort of the graph)."""
    x = tt.dvector("x")
    t = tt.exp(x)
    a = t + 1                              # will become in place on t
    b = tt.sin(t)                          # independent reader of t
    fg, handler = _fgraph_with_positions(x, [a, b])
    pos = handler._pos
    assert pos[a.owner] < pos[b.owner]
    ia = Elemwise(ts.add, {0: 0})(*a.owner.inputs)
    fg.replace(a, ia)
    fg.validate()
    assert handler._pos is not None and not handler._unplaced
    assert handler._pos[b.owner] < handler._pos[ia.owner]
    order = fg.toposort()
    assert order.index(b.owner) < order.index(ia.owner)


def test_handler_rejects_a_destroyer_that_a_reader_depends_on():
    x = tt.dvector("x")
    t = tt.exp(x)
    a = t + 1
    b = a * t                              # reads t and a's result
    fg, handler = _fgraph_with_positions(x, [b])
    assert not handler.may_run_last(fg, a.owner, t)
    fg.replace(a, Elemwise(ts.add, {0: 0})(*a.owner.inputs))
    with pytest.raises(InconsistencyError, match="still reads"):
        fg.validate()


def test_handler_refuses_a_reorder_beyond_its_search_limit(monkeypatch):
    """Proving a far reorder legal would cost a long search: the in-place form is
    refused instead (always safe), and a near one is still taken."""
    x = tt.dvector("x")
    t = tt.exp(x)
    a = t + 1
    y = a
    for _ in range(20):
        y = tt.sin(y)
    b = tt.cos(t)
    fg, handler = _fgraph_with_positions(x, [y, b])
    assert handler._pos[b.owner] > handler._pos[y.owner]
    monkeypatch.setattr(DestroyHandler, "search_limit", 8)
    assert not handler.may_run_last(fg, a.owner, t)
    monkeypatch.setattr(DestroyHandler, "search_limit", 64)
    assert handler.may_run_last(fg, a.owner, t)


def test_inplace_pass_sorts_the_graph_a_bounded_number_of_times(monkeypatch):
    """Validation of in-place candidates does not re-sort the graph per candidate:
    a gradient chain (every layer reads the shared weight) sorts once or twice."""
    from theanine.graph import destroyhandler
    calls = []
    original = destroyhandler.io_toposort

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(destroyhandler, "io_toposort", counting)
    x = tt.dvector("x")
    w = th.shared(np.full(3, 0.5), name="w")
    c = x
    for _ in range(60):
        c = tt.tanh(c * w)
    # unfused, so that every layer has its destroyers (fusion makes a few big nodes)
    f = th.function([x], th.grad(c.sum(), w), mode=get_mode("FAST_RUN").excluding("fusion"))
    assert len(destroyers(f)) > 60
    assert len(calls) <= 2, len(calls)


def _two_slices_overwritten(x):
    """tanh and sigmoid, each in place on its own slice of one buffer: two destroyers
    of one buffer, which the destroy handler must not accept."""
    g = tt.exp(x)
    d1 = Elemwise(ts.tanh, {0: 0})(g[0:2])
    plain = Elemwise(ts.sigmoid)
    d2 = Elemwise(ts.sigmoid, {0: 0})(g[2:4])
    return d1, d2, plain


def test_the_check_from_scratch_finds_two_destroyers_of_one_buffer():
    x = tt.dvector("x")
    d1, d2, _ = _two_slices_overwritten(x)
    fg = FunctionGraph([x], [d1 * 1.0, d2 * 1.0], clone=False, features=[DestroyHandler()])
    assert not fg.destroy_handler.consistent(fg)
    one = FunctionGraph([x], [d1 * 1.0], clone=False, features=[DestroyHandler()])
    assert one.destroy_handler.consistent(one)


def test_settling_undoes_the_latest_in_place_form_only_when_needed():
    x = tt.dvector("x")
    d1, d2, plain = _two_slices_overwritten(x)
    fg = FunctionGraph([x], [d1 * 1.0, d2 * 1.0], clone=False, features=[DestroyHandler()])
    counts = Counter()
    _settle(fg, fg.destroy_handler, [(d1.owner, Elemwise(ts.tanh)), (d2.owner, plain)], counts)
    assert counts["inplace_undone"] == 1
    assert fg.destroy_handler.consistent(fg)
    kept = [n for n in fg.apply_nodes if n.op.destroy_map]
    assert [n.op.scalar_op for n in kept] == [ts.tanh]      # the earlier one stays
    # nothing to undo in a consistent graph
    y = tt.dvector("y")
    e1, _, _ = _two_slices_overwritten(y)
    ok = FunctionGraph([y], [e1 * 1.0], clone=False, features=[DestroyHandler()])
    counts = Counter()
    _settle(ok, ok.destroy_handler, [(e1.owner, Elemwise(ts.tanh))], counts)
    assert counts["inplace_undone"] == 0
    assert any(n.op.destroy_map for n in ok.apply_nodes)
