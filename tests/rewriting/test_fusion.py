"""Elementwise fusion: Composite, the fusion pass, fused thunks, fused reductions."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode, get_mode
from theanine.graph.basic import Constant
from theanine.graph.fg import FunctionGraph
from theanine.link.fused.program import KernelProgram
from theanine.link.python import dispatch_fused
from theanine.scalar import basic as ts
from theanine.scalar.composite import Composite, input_ref, node_ref, ref_dtype
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.fused import FusedReduce
from theanine.tensor.rewriting.fusion import MAX_FUSED_INPUTS, MAX_FUSED_OPS, fuse

PY = Mode("py", None)


def _nodes(f):
    return f.maker.fgraph.toposort()


def _expr(x, y):
    return tt.exp(-x * x) * tt.sin(y) + x * y / (1 + y * y)


def _np_expr(a, b):
    return np.exp(-a * a) * np.sin(b) + a * b / (1 + b * b)


def _scalar_graph():
    a, b = ts.get_scalar_type("float64")(), ts.get_scalar_type("float64")()
    t = ts.mul(ts.neg(a), a)
    out = ts.add(ts.mul(ts.exp(t), ts.sin(b)),
                 ts.true_div(ts.mul(a, b), ts.add(Constant(ts.get_scalar_type("float64"), 1.0),
                                                  ts.mul(b, b))))
    return [a, b], [out]


def test_composite_impl_name_hash_and_inner_graph(rng):
    ins, outs = _scalar_graph()
    comp = Composite(ins, outs)
    a, b = rng.normal(size=7), rng.normal(size=7)
    np.testing.assert_allclose(comp.impl(a, b), _np_expr(a, b))
    assert comp.name == "Composite{exp(-i0*i0)*sin(i1)+i0*i1/(1.0+i1*i1)}"
    ins2, outs2 = _scalar_graph()
    assert Composite(ins2, outs2) == comp and hash(Composite(ins2, outs2)) == hash(comp)
    other = Composite(ins2[:1], [ts.exp(ins2[0])])
    assert other != comp
    (gin, gout), = comp.inner_graphs()
    assert len(gin) == 2 and gout[0].owner.op == ts.add
    assert comp.output_dtypes(["float64", "float64"]) == ("float64",)
    with pytest.raises(TypeError, match="expects input dtypes"):
        comp.output_dtypes(["float32", "float64"])


def test_composite_kernel_program_matches_numpy(rng):
    comp = Composite(*_scalar_graph())
    prog = KernelProgram(**comp.kernel_program_data())
    assert [op for _, op, _ in prog.instructions][:2] == ["neg", "mul"]
    a, b = rng.normal(size=5), rng.normal(size=5)
    from theanine.link.fused.numba_engine import numpy_eval
    np.testing.assert_allclose(numpy_eval(prog, a, b)[0], _np_expr(a, b))


def test_benchmark_expression_fuses_into_one_node(rng):
    x, y = tt.dvectors("x", "y")
    f = th.function([x, y], _expr(x, y))
    (node,) = _nodes(f)
    assert isinstance(node.op, Elemwise) and isinstance(node.op.scalar_op, Composite)
    assert "exp(-i0*i0)*sin(i1)" in str(node.op)
    a, b = rng.normal(size=9), rng.normal(size=9)
    np.testing.assert_allclose(f(a, b), _np_expr(a, b))


def test_shared_intermediate_is_not_duplicated(rng):
    x = tt.dvector("x")
    t = tt.exp(x)
    f = th.function([x], [t * 2 + 1, t - 3])
    scalar_ops = []
    for node in _nodes(f):
        sop = node.op.scalar_op
        scalar_ops += [op for op, _, _ in sop.code] if isinstance(sop, Composite) else [sop]
    assert scalar_ops.count(ts.exp) == 1          # t is computed once
    unmerged = th.function([x], [t * 2 + 1, t - 3],
                           mode=get_mode("FAST_RUN").excluding("fuse_siblings"))
    exps = [n.op for n in _nodes(unmerged)
            if isinstance(n.op, Elemwise) and n.op.scalar_op == ts.exp]
    assert len(exps) == 1          # without the merge t stays a node of its own
    a = rng.normal(size=6)
    r1, r2 = f(a)
    np.testing.assert_allclose(r1, np.exp(a) * 2 + 1)
    np.testing.assert_allclose(r2, np.exp(a) - 3)


def test_different_broadcast_pattern_is_not_fused(rng):
    x = tt.dmatrix("x")
    r = tt.dvector("r")
    row = tt.exp(r * 2).dimshuffle("x", 0)
    f = th.function([x, r], tt.tanh(x + row))
    kinds = [str(n.op) for n in _nodes(f)]
    assert any("exp" in k for k in kinds) and any("tanh" in k for k in kinds)
    assert not any("exp" in k and "tanh" in k for k in kinds)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=4)
    np.testing.assert_allclose(f(a, b), np.tanh(a + np.exp(b * 2)))


def test_group_through_non_elemwise_stays_convex(rng):
    # a feeds both the reduction and the final add: fusing a into the add would
    # need the sum (outside) before it and after it, a cycle; a stays apart
    x = tt.dvector("x")
    a = tt.exp(x)
    out = (a + tt.sum(a)) * 2
    f = th.function([x], out)
    order = _nodes(f)
    assert len(order) >= 3
    v = rng.normal(size=5)
    np.testing.assert_allclose(f(v), (np.exp(v) + np.exp(v).sum()) * 2)


def test_nested_composites_are_inlined():
    x = tt.dvector("x")
    fg = FunctionGraph([x], [tt.sin(tt.exp(x) + 1)])
    fuse(fg)
    (node,) = fg.toposort()
    inner = node.op.scalar_op
    fg2 = FunctionGraph(list(fg.inputs), [tt.cos(fg.outputs[0]) * 3], clone=False)
    fuse(fg2)
    (node2,) = fg2.toposort()
    comp = node2.op.scalar_op
    assert comp.n_ops == inner.n_ops + 2
    assert not any(isinstance(op, Composite) for op, _, _ in comp.code)


def test_long_chain_fuses_into_bounded_groups(rng):
    """A long chain becomes ceil(n / MAX_FUSED_OPS) kernels (its compile time is
    measured in benchmarks/bench_foundation.py, not here)."""
    def chain(n):
        x = tt.dvector("x")
        y = x
        for i in range(n):
            y = tt.sin(y) if i % 2 else y * 0.999
        return x, y

    for n in (500, 4000):
        x, y = chain(n)
        fg = FunctionGraph([x], [y])
        fuse(fg)
        nodes = fg.toposort()
        assert len(nodes) == -(-n // MAX_FUSED_OPS)
    x, y = chain(300)
    f = th.function([x], y)
    v = rng.normal(size=4)
    ref = v.copy()
    for i in range(300):
        ref = np.sin(ref) if i % 2 else ref * 0.999
    np.testing.assert_allclose(f(v), ref)


def test_equal_fused_kernels_share_one_composite_while_alive(rng):
    """The fusion of repeated layers builds equal Composites: each is the one still
    alive (one object, one cache of its name and program), and a dropped one goes."""
    import gc
    import weakref
    x, w = tt.dvector("x"), tt.dvector("w")
    c = x
    for _ in range(60):
        c = tt.tanh(c * w)
    g = th.grad(c.sum(), w)
    f = th.function([x, w], g)
    comps = [n.op.scalar_op for n in f.maker.fgraph.apply_nodes
             if isinstance(getattr(n.op, "scalar_op", None), Composite)]
    assert len(comps) > len({id(op) for op in comps})       # repeated layers share
    assert len({id(op) for op in comps}) == len({op._key for op in comps})
    xv, wv = rng.normal(size=3), rng.normal(size=3)
    ref = th.function([x, w], g, mode=Mode(optimizer="None"))
    np.testing.assert_allclose(f(xv, wv), ref(xv, wv), rtol=1e-12)
    code = [(ts.mul, (input_ref(0), input_ref(1)), ("float64",)),
            (ts.exp, (node_ref(0),), ("float64",))]        # distinct from the above
    made = Composite.from_code(["float64", "float64"], code, [node_ref(1)], ["float64"])
    again = Composite.from_code(["float64", "float64"], code, [node_ref(1)], ["float64"])
    assert again is made
    # the NumPy chain of small inputs is built once per Composite value
    from theanine.link.python.fused_numpy import compile_chain
    chain = compile_chain(made)
    assert compile_chain(again) is chain
    np.testing.assert_allclose(chain(np.array([1.0, 2.0]), np.array([3.0, -1.0]))[0],
                               np.exp([3.0, -2.0]))
    gone = weakref.ref(made)
    del made, again
    gc.collect()
    assert gone() is None


def test_a_group_stops_growing_at_the_input_limit(rng):
    """A chain reading more values than a kernel takes fills one kernel up to the limit
    and the next with the rest (a group grown past the limit used to be dropped and its
    nodes left to the sibling merge, which made more and smaller kernels)."""
    xs = [tt.dvector(f"x{i}") for i in range(40)]
    y = xs[0]
    for v in xs[1:]:
        y = tt.tanh(y) + v
    fg = FunctionGraph(xs, [y])
    fuse(fg, skip={"fuse_siblings"})
    nodes = fg.toposort()
    assert len(nodes) == 2
    assert max(len(n.inputs) for n in nodes) == MAX_FUSED_INPUTS
    vals = [rng.normal(size=3) for _ in xs]
    ref = vals[0]
    for v in vals[1:]:
        ref = np.tanh(ref) + v
    np.testing.assert_allclose(th.function(xs, y)(*vals), ref, rtol=1e-12)


def test_fused_reduce_when_the_engine_reduces(rng):
    x = tt.dmatrix("x")
    f = th.function([x], [tt.exp(x * 2).sum(), tt.sin(x).max(axis=0)])
    reduces = [n for n in _nodes(f) if isinstance(n.op, FusedReduce)]
    if dispatch_fused.engine_name() == "numpy":
        assert not reduces
    else:
        assert len(reduces) == 2
    a = rng.normal(size=(3, 4))
    s, m = f(a)
    np.testing.assert_allclose(s, np.exp(a * 2).sum())
    np.testing.assert_allclose(m, np.sin(a).max(axis=0))


def test_native_kernel_on_large_input_matches_numpy(rng):
    x, y = tt.dvectors("x", "y")
    with th.change_flags(fused_kernel_async=False):
        f = th.function([x, y], _expr(x, y))
        a, b = rng.normal(size=3 * dispatch_fused.SMALL), rng.normal(size=3 * dispatch_fused.SMALL)
        np.testing.assert_allclose(f(a, b), _np_expr(a, b), rtol=1e-12, atol=1e-14)
    thunk = f.fn.codegen.ns["_f0"]
    assert (thunk.kernel is not None) == (dispatch_fused.engine_name() != "numpy")
    assert thunk.tried


def test_numexpr_engine_and_its_unsupported_programs(rng):
    x, y = tt.dvectors("x", "y")
    i = tt.lvector("i")
    size = 2 * dispatch_fused.SMALL
    with th.change_flags(fused_kernel="numexpr"):
        f = th.function([x, y], _expr(x, y))
        g = th.function([i], (i * 3 + 1) // 2)     # int64: numexpr engine declines
        a, b = rng.normal(size=size), rng.normal(size=size)
        np.testing.assert_allclose(f(a, b), _np_expr(a, b), rtol=1e-12, atol=1e-14)
        iv = rng.integers(-100, 100, size=size)
        np.testing.assert_array_equal(g(iv), (iv * 3 + 1) // 2)
    assert f.fn.codegen.ns["_f0"].kernel is not None
    assert g.fn.codegen.ns["_f0"].tried and g.fn.codegen.ns["_f0"].kernel is None


def test_numpy_fallback_keeps_one_temporary(rng):
    import tracemalloc
    x = tt.dvector("x")
    with th.change_flags(fused_kernel="numpy"):
        f = th.function([x], ((x + 1) * 2 - 3) / 4)
        a = rng.normal(size=200_000)
        f(a)
        dispatch_fused.wait_for_kernels()   # a background compile's allocations count too
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            r = f(a)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    np.testing.assert_allclose(r, ((a + 1) * 2 - 3) / 4)
    assert peak < 1.5 * a.nbytes


_UNARY = [tt.exp, tt.sin, tt.tanh, tt.neg, tt.sqr, tt.abs, tt.cos]
_BINARY = [tt.add, tt.mul, tt.sub, tt.maximum, tt.minimum]


@st.composite
def _programs(draw):
    n = draw(st.integers(2, 12))
    steps = []
    for k in range(n):
        if draw(st.booleans()):
            steps.append(("u", draw(st.integers(0, len(_UNARY) - 1)),
                          draw(st.integers(0, k + 2))))
        else:
            steps.append(("b", draw(st.integers(0, len(_BINARY) - 1)),
                          draw(st.integers(0, k + 2)), draw(st.integers(0, k + 2))))
    n_out = draw(st.integers(1, 3))
    outs = draw(st.lists(st.integers(0, n + 2), min_size=n_out, max_size=n_out))
    return steps, outs


def _build(steps, outs, inputs):
    vals = list(inputs)
    for step in steps:
        if step[0] == "u":
            vals.append(tt.tanh(_UNARY[step[1]](vals[step[2]])))
        else:
            vals.append(_BINARY[step[1]](vals[step[2]], vals[step[3]]))
    return [vals[o] for o in outs]


@settings(max_examples=40, deadline=None)
@given(_programs(), st.integers(0, 2**32 - 1))
def test_random_graphs_match_py_linker_without_rewrites(program, seed):
    steps, outs = program
    x, y = tt.dvectors("x", "y")
    z = tt.dmatrix("z")
    ins = [x, y, z]
    out_vars = _build(steps, outs, ins)
    r = np.random.default_rng(seed)
    vals = [r.normal(size=4), r.normal(size=4), r.normal(size=(3, 4))]
    keep = [v.copy() for v in vals]
    fast = th.function(ins, out_vars, on_unused_input="ignore")
    ref = th.function(ins, out_vars, mode=PY, on_unused_input="ignore")
    for got, want in zip(fast(*vals), ref(*vals)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for v, k in zip(vals, keep):
        np.testing.assert_array_equal(v, k)


_DTYPES = ["float64", "float32", "int64", "int32", "bool"]
_SCALAR_UNARY = [ts.neg, ts.abs, ts.exp, ts.sin, ts.sqr, ts.floor, ts.isnan]
_SCALAR_BINARY = [ts.add, ts.sub, ts.mul, ts.maximum, ts.lt, ts.true_div]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_DTYPES), min_size=1, max_size=3),
       st.lists(st.tuples(st.booleans(), st.integers(0, 20), st.integers(0, 20),
                          st.integers(0, 20)), min_size=1, max_size=8),
       st.integers(0, 2**32 - 1))
def test_kernel_program_of_random_composites_matches_impl(dtypes, steps, seed):
    """The KernelProgram a Composite converts to means what the Composite means."""
    from theanine.link.fused.numba_engine import numpy_eval
    ins = [ts.get_scalar_type(dt)() for dt in dtypes]
    vals = list(ins)
    for unary, k, a, b in steps:
        try:
            if unary:
                op = _SCALAR_UNARY[k % len(_SCALAR_UNARY)]
                vals.append(op(vals[a % len(vals)]))
            else:
                op = _SCALAR_BINARY[k % len(_SCALAR_BINARY)]
                vals.append(op(vals[a % len(vals)], vals[b % len(vals)]))
        except TypeError:
            continue            # no NumPy meaning for these dtypes
    if vals[-1] in ins:
        return
    comp = Composite(ins, [vals[-1]])
    prog = dispatch_fused.make_program(comp)
    if prog is None:       # only when the engine cannot express some instruction
        caps = dispatch_fused.KERNEL_CAPABILITIES
        assert not all(caps.fusable(op, [ref_dtype(a, comp) for a in args], dts)
                       for op, args, dts in comp.code)
        return
    r = np.random.default_rng(seed)
    arrays = [(r.normal(size=6) * 3).astype(dt) for dt in dtypes]
    want = comp.impl(*arrays)
    got = numpy_eval(prog, *arrays)[0]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6 if "float32" in dtypes else 1e-12,
                               equal_nan=True)


def test_composite_gradient_matches_finite_differences(rng):
    from theanine.gradient import verify_grad
    comp = Composite(*_scalar_graph())
    verify_grad(lambda a, b: Elemwise(comp)(a, b).sum(),
                [rng.normal(size=5), rng.normal(size=5)], rng=rng)
    x, y = tt.dvectors("x", "y")
    fused = th.grad(Elemwise(comp)(x, y).sum(), [x, y])
    plain = th.grad(_expr(x, y).sum(), [x, y])
    f = th.function([x, y], fused + plain)
    a, b = rng.normal(size=4), rng.normal(size=4)
    gx, gy, px, py = f(a, b)
    np.testing.assert_allclose(gx, px)
    np.testing.assert_allclose(gy, py)


def test_fused_reduce_gradient_and_shape(rng):
    from theanine.gradient import verify_grad
    comp = Composite(*_scalar_graph())
    for axis in (None, (0,), (1,)):
        verify_grad(lambda a, b, ax=axis: FusedReduce(comp, "sum", ax)(a, b).sum(),
                    [rng.normal(size=(3, 4)), rng.normal(size=(3, 4))], rng=rng)
    x = tt.dmatrix("x")
    out = FusedReduce(comp, "max", (1,))(x, x)
    f = th.function([x], [out, out.shape])
    a = rng.normal(size=(3, 5))
    val, shape = f(a)
    np.testing.assert_allclose(val, _np_expr(a, a).max(axis=1))
    assert tuple(shape) == (3,)


class _NoExpCapabilities(dispatch_fused.KernelCapabilities):
    """A backend whose kernels cannot express ``exp`` (nor reduce in a loop)."""

    def fusable(self, scalar_op, in_dtypes, out_dtypes) -> bool:
        return type(scalar_op) is not ts.Exp and super().fusable(scalar_op, in_dtypes,
                                                                 out_dtypes)

    def can_reduce(self, kind, dtype) -> bool:
        return False


def test_fusion_asks_the_backend_of_each_function():
    """Capabilities travel with the mode: two backends compile the same graph
    differently in one process, whatever was imported before."""
    from theanine.link.python.codegen import VMLinker

    class NoExpLinker(VMLinker):
        capabilities = _NoExpCapabilities()

    x = tt.dvector("x")
    expr = tt.sum(tt.exp(x) * 2.0 + 1.0)
    default = th.function([x], expr)
    limited = th.function([x], expr, mode=Mode(NoExpLinker(), "fast_run"))
    assert any(isinstance(n.op, FusedReduce) for n in _nodes(default))
    ops = _nodes(limited)
    assert not any(isinstance(n.op, FusedReduce) for n in ops)
    fused = [n.op.scalar_op for n in ops if isinstance(getattr(n.op, "scalar_op", None),
                                                         Composite)]
    assert fused and all("exp" not in str(c) for c in fused)
    assert any(isinstance(getattr(n.op, "scalar_op", None), ts.Exp) for n in ops)
    xv = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(limited(xv), default(xv), rtol=1e-12)


def test_pipeline_without_a_backend_uses_conservative_defaults():
    from theanine.graph.rewriting.pipeline import OPTIMIZER_QUERIES, run_pipeline

    x = tt.dvector("x")
    fg = FunctionGraph([x], [tt.sum(tt.exp(x) * 2.0)])
    run_pipeline(fg, OPTIMIZER_QUERIES["fast_run"])
    ops = fg.toposort()
    assert any(isinstance(getattr(n.op, "scalar_op", None), Composite) for n in ops)
    assert not any(isinstance(n.op, FusedReduce) for n in ops)   # no engine said it can
