"""The JAX backend (mode="JAX") against hand-written ``jax.jit`` code for the same
work, side by side in one run (CPU here; the same script runs on a GPU machine):
run time with the data on the device and fed NumPy arrays, and compile + first
call from a fresh graph.
"""

from __future__ import annotations

import numpy as np
from bench_logreg import FEATS, LR, REG, _data, _jax_step, _theano_api_step
from bench_scan import BATCH, HIDDEN, T, _rnn_data
from harness import Workload, optional_import, run_workloads

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse

jax = optional_import("jax")


def _logreg(n=5000):
    x, y, w0 = _data(n)
    with jax.enable_x64(True):                   # the data on the device, as JAX users do
        xd, yd = jax.device_put(x), jax.device_put(y)
    with th.config.change_flags(mode="JAX"):
        step = _theano_api_step(th, tt, xd, yd, w0)
        step_host = _theano_api_step(th, tt, x, y, w0)
    return {"theanine-jax": step, "jax": _jax_step(jax, x, y, w0),
            "theanine-jax-from-numpy": step_host,
            "theanine": _theano_api_step(th, tt, x, y, w0)}


def _branch(t, lib):
    return lib.mean(lib.tanh(t) * lib.exp(-t * t))


def _ifelse(n=10**7):
    a, b = tt.dscalars("a", "b")
    u, v = tt.dvectors("u", "v")
    f = th.function([a, b, u, v], ifelse(tt.lt(a, b), _branch(u, tt), _branch(v, tt)),
                    mode="JAX")
    rng = np.random.default_rng(0)
    uv, vv = rng.standard_normal(n), rng.standard_normal(n)
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    cond = jax.jit(lambda a, b, u, v: jax.lax.cond(a < b, lambda: _branch(u, jnp),
                                                   lambda: _branch(v, jnp)))
    ju, jv = jnp.asarray(uv), jnp.asarray(vv)
    return {"theanine-jax": lambda: f(0.0, 1.0, ju, jv),
            "jax": lambda: cond(0.0, 1.0, ju, jv).block_until_ready(),
            "theanine-jax-from-numpy": lambda: f(0.0, 1.0, uv, vv),
            "jax-from-numpy": lambda: cond(0.0, 1.0, uv, vv).block_until_ready()}


def _scan_pow(k=1000, n=1000):
    a = tt.dvector("a")
    out, _ = th.scan(lambda prior, a: prior * a, outputs_info=tt.ones_like(a),
                     non_sequences=a, n_steps=k)
    f = th.function([a], out[-1], mode="JAX")
    jnp = jax.numpy
    hand = jax.jit(lambda a: jax.lax.scan(lambda p, _: (p * a, None), jnp.ones_like(a),
                                          None, length=k)[0])
    with jax.enable_x64(True):
        av = jax.device_put(np.full(n, 1.0001))
        return {"theanine-jax": lambda: f(av),
                "jax": lambda: _x64(lambda: hand(av).block_until_ready())}


def _x64(fn):
    with jax.enable_x64(True):
        return fn()


def _rnn():
    inputs, outputs, hand = _rnn_graph_and_hand()
    f = th.function(inputs, outputs, mode="JAX")
    with jax.enable_x64(True):
        xv, h0v, wv = (jax.device_put(v) for v in _rnn_data())
        return {"theanine-jax": lambda: f(xv, h0v, wv),
                "jax": lambda: _x64(lambda: jax.block_until_ready(hand(xv, h0v, wv)))}


_WORKLOADS = [] if jax is None else [
    Workload("scan-pow k=1000, 1000-vector", _scan_pow, repeats=9),
    Workload(f"RNN fwd+bwd T={T} hidden={HIDDEN} batch={BATCH}", _rnn, repeats=5),
    Workload(f"logreg step 5000x{FEATS} (lr {LR}, reg {REG})", _logreg, repeats=9, number=3),
    Workload("ifelse mean(tanh*exp), 1e7 f64", _ifelse, repeats=7),
]


def _rnn_graph_and_hand():
    """A fresh theanine RNN gradient graph and a fresh hand-written JAX function."""
    x, h0, w = tt.dtensor3("x"), tt.dmatrix("h0"), tt.dmatrix("w")
    hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                    outputs_info=h0, non_sequences=w)
    cost = (hs ** 2).sum()
    jnp = jax.numpy

    def loss(x, h0, w):
        return (jax.lax.scan(lambda h, xt: (jnp.tanh(h @ w + xt),) * 2, h0, x)[1] ** 2).sum()

    return ([x, h0, w], [cost] + th.grad(cost, [x, h0, w]),
            jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2))))


def _first_call_times(repeats=3):
    """Compile + first call, from a fresh graph each time: theanine (graph build,
    rewrite, trace, XLA compile) against hand-written JAX (trace, XLA compile)."""
    from time import perf_counter
    data = _rnn_data()
    mine, theirs = [], []
    for _ in range(repeats):
        inputs, outputs, hand = _rnn_graph_and_hand()
        start = perf_counter()
        th.function(inputs, outputs, mode="JAX")(*data)
        mine.append(perf_counter() - start)
        start = perf_counter()
        with jax.enable_x64(True):
            jax.block_until_ready(hand(*data))
        theirs.append(perf_counter() - start)
    return float(np.median(mine)), float(np.median(theirs))


def main() -> None:
    if jax is None:
        print("JAX not installed: no rows")
        return
    mine, theirs = _first_call_times()
    print(f"RNN fwd+bwd compile + first call: theanine-jax {mine * 1e3:.0f} ms, "
          f"hand-written jax {theirs * 1e3:.0f} ms (ratio {mine / theirs:.2f})")
    rows = run_workloads(_WORKLOADS, out=lambda s: None)
    for row in rows:
        t = row["times"]
        print(f"{row['name']}: theanine-jax {t['theanine-jax'] * 1e3:.2f} ms, "
              f"hand-written jax {t['jax'] * 1e3:.2f} ms "
              f"(ratio {t['theanine-jax'] / t['jax']:.2f})"
              + (f", default engine {t['theanine'] * 1e3:.2f} ms" if "theanine" in t else "")
              + (f", theanine-jax fed NumPy arrays {t['theanine-jax-from-numpy'] * 1e3:.2f} ms"
                 if "theanine-jax-from-numpy" in t else "")
              + (f", jax fed NumPy arrays {t['jax-from-numpy'] * 1e3:.2f} ms"
                 if "jax-from-numpy" in t else ""))


if __name__ == "__main__":
    main()
