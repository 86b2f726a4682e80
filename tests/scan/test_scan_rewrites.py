"""Scan rewrites: memory saving (measured with tracemalloc), push-out of invariants and
of per-step elementwise work."""

import tracemalloc

import numpy as np
import pytest
from op_checker import OpCase, check_case

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode
from theanine.graph.fg import FunctionGraph
from theanine.link.python import dispatch_fused
from theanine.scan.op import Scan, ScanInfo
from theanine.scan.pushout import SequenceWindow
from theanine.scan.rewriting import pushout_invariants, save_memory
from theanine.tensor.math import Dot

NO_SCAN_PASS = Mode("vm", "fast_run").excluding("scan")


def scan_ops(fn):
    return [n.op for n in fn.maker.fgraph.toposort() if isinstance(n.op, Scan)]


def pow_graph():
    k, a = tt.lscalar("k"), tt.dvector("a")
    result, _ = th.scan(lambda prior, a: prior * a, outputs_info=tt.ones_like(a),
                        non_sequences=a, n_steps=k)
    return k, a, result


def peak_bytes(fn, *args):
    dispatch_fused.wait_for_kernels()       # a background compile's allocations count too
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_last_step_only_keeps_one_vector():
    k, a, result = pow_graph()
    power = th.function([a, k], result[-1])
    assert scan_ops(power)[0].info.keep == (1,)
    full = th.function([a, k], result[-1], mode=NO_SCAN_PASS)
    assert scan_ops(full)[0].info.keep == (None,)
    av = np.full(1000, 1.0001)
    np.testing.assert_allclose(power(av, 5000), full(av, 5000))
    saved, kept_all = peak_bytes(power, av, 5000), peak_bytes(full, av, 5000)
    assert saved < 5 * av.nbytes, saved               # a few vectors, not 5000 of them
    assert kept_all > 5000 * av.nbytes                 # the whole trace
    assert "_np.empty" not in [v.source for v in power.fn.codegen.ns.values()
                               if hasattr(v, "writer")][0]


@pytest.mark.parametrize("linker", ["vm", "py"])
def test_last_k_steps_from_a_ring_buffer(linker, rng):
    mode = Mode(linker, "fast_run")
    x0 = tt.dmatrix("x0")
    seq = tt.dvector("seq")
    out, _ = th.scan(lambda s, y2, y1: 0.5 * y1 + 0.25 * y2 + s, sequences=seq,
                     outputs_info=dict(initial=x0, taps=[-2, -1]))
    outs = [out[-4:], out[-1], out[-3]]
    f = th.function([seq, x0], outs, mode=mode)
    ref = th.function([seq, x0], out, mode=NO_SCAN_PASS)
    assert scan_ops(f)[0].info.keep == (4,)
    xv, x0v = rng.normal(size=9), rng.normal(size=(2, 3))
    full = ref(xv, x0v)
    got = f(xv, x0v)
    np.testing.assert_allclose(got[0], full[-4:])
    np.testing.assert_allclose(got[1], full[-1])
    np.testing.assert_allclose(got[2], full[-3])
    # fewer steps than kept: the output is the whole (short) trace
    np.testing.assert_allclose(f(xv[:3], x0v)[0], ref(xv[:3], x0v))


def test_mapped_output_last_steps(rng):
    x = tt.dmatrix("x")
    squares, _ = th.map(lambda r: (r ** 2).sum(), sequences=x)
    f = th.function([x], [squares[-1], squares[-2:]])
    assert scan_ops(f)[0].info.keep == (2,)
    xv = rng.normal(size=(6, 3))
    want = (xv ** 2).sum(axis=1)
    got_last, got_two = f(xv)
    np.testing.assert_allclose(got_last, want[-1])
    np.testing.assert_allclose(got_two, want[-2:])


def test_full_trace_kept_when_any_client_needs_it():
    k, a, result = pow_graph()
    f = th.function([a, k], [result[-1], result.sum()])
    assert scan_ops(f)[0].info.keep == (None,)
    node = [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Scan)][0]
    assert save_memory(f.maker.fgraph, node) is None


def handmade_invariant_scan():
    """A Scan whose body recomputes dot(W, W) every step (W a non-sequence)."""
    h_ph, w_ph = tt.dvector("h[t-1]"), tt.dmatrix("W")
    body = tt.dot(tt.dot(w_ph, w_ph), h_ph)
    op = Scan([h_ph, w_ph], [body], ScanInfo(sot_taps=((-1,),), n_nonseq=1, name="ww"))
    h0, w, n = tt.dvector("h0"), tt.dmatrix("w"), tt.lscalar("n")
    out = op(n, h0.dimshuffle("x", 0), w)
    return [h0, w, n], out


def test_pushout_moves_invariant_work_out_of_the_body(rng):
    inputs, out = handmade_invariant_scan()
    fgraph = FunctionGraph(inputs, [out])
    replacements = pushout_invariants(fgraph, fgraph.outputs[0].owner)
    new_node = replacements[fgraph.outputs[0]].owner
    assert [type(n.op) for n in new_node.op.fgraph.toposort()] == [Dot]
    assert isinstance(new_node.inputs[-1].owner.op, Dot)      # dot(W, W), outside
    f = th.function(inputs, out)
    slow = th.function(inputs, out, mode=NO_SCAN_PASS)
    assert [type(n.op) for n in scan_ops(f)[0].fgraph.toposort()] == [Dot]
    assert len(scan_ops(slow)[0].fgraph.apply_nodes) == 2
    h0, w = rng.normal(size=4), rng.normal(size=(4, 4)) * 0.3
    np.testing.assert_allclose(f(h0, w, 5), slow(h0, w, 5))


def test_gradient_loop_gets_invariants_pushed_out(rng):
    x, h0, w = tt.dmatrix("x"), tt.dvector("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(w, h) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    g = th.grad(hs.sum(), w)

    def transposes_of_w(mode):
        f = th.function([x, h0, w], g, mode=mode)
        backward = [op for op in scan_ops(f) if op.info.reverse][0]
        nonseqs = backward.fgraph.inputs[len(backward.fgraph.inputs) - backward.info.n_nonseq:]
        return [n for n in backward.fgraph.toposort()
                if type(n.op).__name__ == "DimShuffle" and n.inputs[0] in nonseqs]

    assert len(transposes_of_w(NO_SCAN_PASS)) == 1
    assert transposes_of_w("FAST_RUN") == [], "W.T is computed once, outside the loop"
    backward = [op for op in scan_ops(th.function([x, h0, w], g)) if op.info.reverse][0]
    # x is not read backwards: the step's output comes from the forward trace
    assert backward.info.n_seq == 3


def test_in_place_body_keeps_readers_before_the_writer(rng):
    x = tt.dmatrix("x")
    h0 = tt.dvector("h0")

    def step(s, h):
        a = tt.exp(s) + h          # a temporary, read twice below
        return tt.tanh(a) * a.sum()

    out, _ = th.scan(step, sequences=x, outputs_info=h0)
    f = th.function([x, h0], out)
    body = scan_ops(f)[0].fgraph
    assert any(n.op.destroy_map for n in body.apply_nodes), "the body has in-place nodes"
    ref = th.function([x, h0], out, mode="PY")
    xv, hv = rng.normal(size=(4, 3)), rng.normal(size=3)
    np.testing.assert_allclose(f(xv, hv), ref(xv, hv))


# -- push-out of per-step elementwise work -------------------------------------------------

def test_map_over_sequences_becomes_vectorized_ops(rng):
    """The tutorial's polynomial: a map with no recurrence leaves no loop."""
    coefficients, x = tt.dvector("coefficients"), tt.dscalar("x")
    components, _ = th.scan(lambda c, p, v: c * v ** p, sequences=[coefficients, tt.arange(50)],
                            non_sequences=x)
    f = th.function([coefficients, x], components.sum())
    assert not scan_ops(f)
    looped = th.function([coefficients, x], components.sum(), mode=NO_SCAN_PASS)
    assert scan_ops(looped)
    cv = rng.uniform(size=50)
    want = (cv * 0.97 ** np.arange(50)).sum()
    np.testing.assert_allclose(f(cv, 0.97), want, rtol=1e-12)
    np.testing.assert_allclose(looped(cv, 0.97), want, rtol=1e-12)
    assert f(np.array([1.0, 0.0, 2.0]), 3.0) == 19.0          # fewer coefficients: 3 steps
    g = th.function([coefficients, x], th.grad(components.sum(), [coefficients, x]))
    gc, gx = g(cv, 0.97)
    np.testing.assert_allclose(gc, 0.97 ** np.arange(50), rtol=1e-12)
    np.testing.assert_allclose(gx, (cv * np.arange(50) * 0.97 ** (np.arange(50) - 1)).sum(),
                               rtol=1e-10)


def test_elementwise_work_leaves_a_recurrence_as_a_new_sequence(rng):
    """``h[t] = 0.5 * h[t-1] + exp(x[t]) * c``: ``exp(x[t]) * c`` is computed for every
    step before the loop; the loop keeps only the recurrence."""
    x, c, h0 = tt.dvector("x"), tt.dscalar("c"), tt.dscalar("h0")
    out, _ = th.scan(lambda xt, h, c: 0.5 * h + tt.exp(xt) * c, sequences=x,
                     outputs_info=h0, non_sequences=c)
    f = th.function([x, c, h0], out)
    (op,) = scan_ops(f)
    body_ops = {type(n.op.scalar_op).__name__ for n in op.fgraph.apply_nodes
                if hasattr(n.op, "scalar_op")}
    assert "Exp" not in body_ops and "Composite" not in body_ops
    xv = rng.normal(size=20)
    want, h = [], 0.3
    for v in xv:
        h = 0.5 * h + np.exp(v) * 1.5
        want.append(h)
    np.testing.assert_allclose(f(xv, 1.5, 0.3), want, rtol=1e-12)


def test_pushout_reads_taps_and_reverse_loops(rng):
    x = tt.dvector("x")
    diff, _ = th.scan(lambda prev, cur: cur - prev, sequences=dict(input=x, taps=[-1, 0]))
    back, _ = th.scan(lambda v: v * 2.0, sequences=x, go_backwards=True)
    f = th.function([x], [diff, back])
    assert not scan_ops(f)
    xv = rng.normal(size=9)
    d, b = f(xv)
    np.testing.assert_allclose(d, np.diff(xv))
    np.testing.assert_allclose(b, xv[::-1] * 2.0)


def test_pushout_does_not_fire_on_recurrences_or_while_loops():
    h0, x = tt.dscalar("h0"), tt.dvector("x")
    rec, _ = th.scan(lambda h: tt.exp(h) * 0.5, outputs_info=h0, n_steps=5)
    f = th.function([h0], rec)
    (op,) = scan_ops(f)
    assert op.info.n_seq == 0                        # nothing was turned into a sequence
    until, _ = th.scan(lambda v: (v * 2.0, th.scan.until(v > 1.0)), sequences=x)
    g = th.function([x], until)
    assert scan_ops(g)
    np.testing.assert_allclose(g(np.array([0.5, 2.0, 0.1])), [1.0, 4.0])


def test_pushed_out_sequence_too_short_still_raises():
    x, n = tt.dvector("x"), tt.lscalar("n")
    out, _ = th.scan(lambda v: v * 2.0, sequences=x, n_steps=n, name="short")
    f = th.function([x, n], out)
    assert not scan_ops(f)
    with pytest.raises(ValueError, match="'short': sequence 0 has 3 steps but n_steps=5"):
        f(np.ones(3), 5)


SEQUENCE_WINDOW = OpCase(
    "sequence_window",
    lambda s: SequenceWindow(1, 2, "scan 's': sequence 0")(s, np.int64(3)),
    lambda s: s[1:4], nin=1, shapes=[((6,),), ((5, 2),), ((5, 1, 3),)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sequence_window_op(dtype):
    counts = check_case(SEQUENCE_WINDOW, dtype)
    assert counts["values"] > 0


def test_scan_rewrites_are_excludable_by_name():
    x = tt.dvector("x")
    out, _ = th.scan(lambda v: v * 2.0, sequences=x)
    kept = th.function([x], out, mode=Mode("vm", "fast_run").excluding("pushout_elementwise"))
    assert scan_ops(kept)
    assert not scan_ops(th.function([x], out))
    np.testing.assert_allclose(kept(np.arange(3.0)), [0.0, 2.0, 4.0])
    report = th.function([x], out).maker.rewrite_report
    scan_pass = [p for p in report.passes if p.name == "scan"][0]
    assert scan_pass.applied["pushout_elementwise"] == 1


def test_perform_follows_the_same_storage_plan():
    """The reference loop (``Scan.perform``, the py linker) keeps what the plan says:
    with ``result[-1]`` only, a bounded number of steps, not the whole trace."""
    k, a, result = pow_graph()
    power = th.function([a, k], result[-1], mode=Mode("py", "fast_run"))
    (op,) = scan_ops(power)
    assert op.info.keep == (1,) and op.info.sot_storage(0) == "regs"
    av = np.full(1000, 1.0001)
    np.testing.assert_allclose(power(av, 3000), av ** 3000)
    assert peak_bytes(power, av, 3000) < 10 * av.nbytes     # the full trace: 3000 vectors
