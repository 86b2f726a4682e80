"""Scan: the tutorial's pow and polynomial, an RNN forward+backward, per-step overhead.

Targets: per-step overhead of a tiny body under 2 us; scan-pow within 1.3x of a
hand-written NumPy loop and compiled in under 0.5 s; with ``result[-1]`` only, a
10^6-step scan-pow keeps about one vector alive, not 10^6 of them; push-out
computes a loop-invariant ``dot(W, W)`` once instead of every step.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
from harness import Workload, optional_import, run_workloads

import theanine as th
import theanine.tensor as tt
from theanine.compile.mode import Mode

jax = optional_import("jax")
pytensor = optional_import("pytensor")


# -- scan-pow -------------------------------------------------------------------------


def _pow_graph(lib, tensor):
    k = tensor.iscalar("k")
    a = tensor.vector("A", dtype="float64") if lib is pytensor else tensor.dvector("A")
    result, updates = lib.scan(lambda prior, a: prior * a, outputs_info=tensor.ones_like(a),
                               non_sequences=a, n_steps=k)
    return lib.function([a, k], result[-1], updates=updates)


def _np_pow(a, k):
    result = np.ones_like(a)
    for _ in range(k):
        result = result * a
    return result


def _pow_setup():
    a = np.random.default_rng(0).uniform(0.99, 1.01, 1000)
    power = _pow_graph(th, tt)
    impls = {"theanine": lambda: power(a, 1000), "numpy": lambda: _np_pow(a, 1000)}
    if jax is not None:
        impls["jax"] = _jax_pow(a)
    if pytensor is not None:
        import pytensor.tensor as pt
        p_power = _pow_graph(pytensor, pt)
        impls["pytensor"] = lambda: p_power(a, 1000)
    return impls


def _jax_pow(a):
    jnp, lax = jax.numpy, jax.lax

    @jax.jit
    def power(a):
        out, _ = lax.scan(lambda c, _: (c * a, None), jnp.ones_like(a), None, length=1000)
        return out

    aj = jnp.asarray(a)
    return lambda: power(aj).block_until_ready()


# -- scan-poly ------------------------------------------------------------------------


def _poly_setup():
    """Side by side: theanine (the loop is pushed out into vectorized ops), the same
    scan looped (push-out excluded), NumPy vectorized, JAX and PyTensor scans."""
    n = 100_000
    coeff = np.random.default_rng(1).normal(size=n) / n
    c, x = tt.dvector("coefficients"), tt.dscalar("x")
    components, _ = th.scan(lambda c, p, v: c * (v ** p), outputs_info=None,
                            sequences=[c, tt.arange(n)], non_sequences=x)
    with th.config.change_flags(fused_kernel_async=False):    # time the kernel, not its build
        poly = th.function([c, x], components.sum())
    looped = th.function([c, x], components.sum(),
                         mode=Mode("vm", "fast_run").excluding("scan"))
    powers = np.arange(n)
    impls = {"theanine": lambda: poly(coeff, 0.999),
             "numpy": lambda: (coeff * 0.999 ** powers).sum(),
             "theanine-loop": lambda: looped(coeff, 0.999)}
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy

        def jpoly(cs, v):
            def body(carry, cp):
                return carry, cp[0] * v ** cp[1]
            return jax.lax.scan(body, 0.0, (cs, jnp.arange(n, dtype=jnp.float64)))[1].sum()

        jf, jc = jax.jit(jpoly), jnp.asarray(coeff)
        impls["jax"] = lambda: jf(jc, 0.999).block_until_ready()
    if pytensor is not None:
        import pytensor.tensor as pt

        pc, px = pt.dvector("c"), pt.dscalar("x")
        comps, _ = pytensor.scan(lambda c, p, v: c * (v ** p), outputs_info=None,
                                 sequences=[pc, pt.arange(n)], non_sequences=px)
        pf = pytensor.function([pc, px], comps.sum())
        impls["pytensor"] = lambda: pf(coeff, 0.999)
    return impls


# -- RNN forward + backward -----------------------------------------------------------

T, HIDDEN, BATCH = 100, 256, 32


def _rnn_data():
    rng = np.random.default_rng(2)
    return (rng.normal(size=(T, BATCH, HIDDEN)) * 0.1, np.zeros((BATCH, HIDDEN)),
            rng.normal(size=(HIDDEN, HIDDEN)) / np.sqrt(HIDDEN))


def _np_rnn(x, h0, w):
    hs, h = [], h0
    for t in range(T):
        h = np.tanh(h @ w + x[t])
        hs.append(h)
    cost = sum((hh ** 2).sum() for hh in hs)
    gw, gx, carry = np.zeros_like(w), np.zeros_like(x), np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        gh = 2 * hs[t] + carry
        gpre = gh * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t > 0 else h0
        gw += prev.T @ gpre
        gx[t] = gpre
        carry = gpre @ w.T
    return cost, gx, carry, gw


def _rnn_setup():
    x, h0, w = tt.dtensor3("x"), tt.dmatrix("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    cost = (hs ** 2).sum()
    # the default engine alone: a hot function's background Numba build (seconds,
    # cold) would share the two cores with the timed calls (39 ms instead of 34)
    with th.config.change_flags(tiered=False):
        f = th.function([x, h0, w], [cost] + th.grad(cost, [x, h0, w]))
    xv, h0v, wv = _rnn_data()
    got, want = f(xv, h0v, wv), _np_rnn(xv, h0v, wv)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    return {"theanine": lambda: f(xv, h0v, wv), "numpy": lambda: _np_rnn(xv, h0v, wv)}


# -- per-step overhead ------------------------------------------------------------------

STEPS = 20_000


def _overhead_setup():
    x0, n = tt.dvector("x0"), tt.lscalar("n")
    out, _ = th.scan(lambda x: x + 1.0, outputs_info=x0, n_steps=n)
    f = th.function([x0, n], out[-1])
    one, v = np.ones(1), np.zeros(1)
    add = np.add

    def np_loop():
        x = v
        for _ in range(STEPS):
            x = add(x, one)
        return x

    return {"theanine": lambda: f(v, STEPS), "numpy": np_loop}


WORKLOADS = [
    Workload("scan-pow: A**k, k=1000, 1000-vector", _pow_setup, repeats=9),
    Workload("scan-poly: 10^5 coefficients", _poly_setup, repeats=5),
    Workload(f"RNN fwd+bwd T={T} hidden={HIDDEN} batch={BATCH}", _rnn_setup, repeats=5),
    Workload(f"tiny body x+1, {STEPS} steps", _overhead_setup, repeats=7),
]


def _compile_time() -> float:
    start = time.perf_counter()
    _pow_graph(th, tt)
    return time.perf_counter() - start


def _peak_memory(steps: int) -> tuple[float, float]:
    """Peak traced bytes of scan-pow with ``result[-1]`` only, and one vector's bytes."""
    power = _pow_graph(th, tt)
    a = np.full(1000, 1.0)
    tracemalloc.start()
    try:
        power(a, steps)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, a.nbytes


def _pushout() -> tuple[float, float]:
    """Seconds per call of a body that uses dot(W, W), with and without the scan pass."""
    from theanine.scan.op import Scan, ScanInfo

    h_ph, w_ph = tt.dvector("h[t-1]"), tt.dmatrix("W")
    op = Scan([h_ph, w_ph], [tt.tanh(tt.dot(tt.dot(w_ph, w_ph), h_ph))],
              ScanInfo(sot_taps=((-1,),), n_nonseq=1, name="ww"))
    h0, w, n = tt.dvector("h0"), tt.dmatrix("w"), tt.lscalar("n")
    out = op(n, h0.dimshuffle("x", 0), w)
    rng = np.random.default_rng(3)
    hv, wv = rng.normal(size=200), rng.normal(size=(200, 200)) / 200
    times = []
    for mode in ("FAST_RUN", Mode("vm", "fast_run").excluding("scan")):
        f = th.function([h0, w, n], out[-1], mode=mode)
        times.append(Workload("", lambda f=f: {"x": lambda: f(hv, wv, 100)}))
    return tuple(run_workloads(times, out=lambda s: None)[i]["times"]["x"] for i in range(2))


def _overhead() -> tuple[float, float]:
    """Per-step seconds of the tiny-body scan, and its excess over the NumPy loop."""
    rows = run_workloads([WORKLOADS[-1]], out=lambda s: None)
    t = rows[0]["times"]
    return t["theanine"] / STEPS, (t["theanine"] - t["numpy"]) / STEPS


def main() -> None:
    per_step, excess = _overhead()
    print(f"tiny body: {per_step * 1e6:.2f} us per step, {excess * 1e6:+.2f} us over the "
          f"same ufunc calls in a Python loop (target: overhead < 2 us)")
    print(f"scan-pow compile time: {_compile_time():.3f} s (target < 0.5 s)")
    peak, vec = _peak_memory(1_000_000)
    print(f"scan-pow, 10^6 steps on a 1000-vector, result[-1] only: peak traced memory "
          f"{peak / 1024:.1f} KiB = {peak / vec:.1f} vectors (a full trace: "
          f"{1_000_000 * vec / 2**30:.1f} GiB)")
    with_pass, without = _pushout()
    print(f"push-out, body using dot(W, W) (W 200x200, 100 steps): {with_pass * 1e3:.2f} ms "
          f"hoisted vs {without * 1e3:.2f} ms recomputed each step ({without / with_pass:.1f}x)")


if __name__ == "__main__":
    run_workloads(WORKLOADS)
    main()
