"""The Numba backend (mode="NUMBA") side by side, in one run, with JAX, PyTensor's
own NUMBA mode and theanine's default engine, on the loops and branches where the
default engine pays Python per step or per node.

Rows: scan-pow (k=1000 on a 1000-vector), the tutorial's polynomial as a real
10^5-step scan (push-out disabled; also reported per step), a lazy ifelse whose
branch is ``mean(tanh(v) * exp(-v*v))`` on 10^7 float64, and an RNN forward and
backward through scan (T=100, hidden 256, batch 32), and a training step of the
deep-learning tutorial's softmax classifier.  Then the compile cost of
that RNN gradient: cold (an empty cache directory, in a fresh process) and from
the disk cache (a second process), for theanine-numba, with JAX's and
PyTensor-numba's first call for comparison.
"""

from __future__ import annotations

# BLAS threads: every engine keeps its default (both cores, as JAX uses them).
# NumPy's and SciPy's OpenBLAS (the default engine's and the Numba backend's
# products) each read OPENBLAS_NUM_THREADS when they load; setting it here, after
# run.py has loaded NumPy, gave the Numba backend one thread and the default
# engine two, and made its RNN row look 1.45x JAX's time where it is at parity.
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
from bench_jax import _branch
from bench_scan import BATCH, HIDDEN, T, _rnn_data
from harness import Workload, optional_import, run_workloads

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse

jax = optional_import("jax")
pytensor = optional_import("pytensor")
NUMBA = th.Mode(linker="numba")


def _untiered(graph, *args):
    """The default engine alone: tiering off, so no background compile of a Numba
    version (the RNN's takes seconds) shares the two cores with later rows; in one
    run it made the classifier step 5.2 ms instead of 1.3 ms."""
    with th.config.change_flags(tiered=False):
        return graph(*args)
POLY_STEPS = 100_000
ROOT = Path(__file__).resolve().parents[1]


def _jnp():
    jax.config.update("jax_enable_x64", True)
    return jax.numpy


def _scan_pow(k=1000, n=1000):
    av = np.random.default_rng(0).uniform(0.99, 1.01, n)

    def graph(lib, tensor, mode):
        a = tensor.dvector("a")
        out, _ = lib.scan(lambda prior, a: prior * a, outputs_info=tensor.ones_like(a),
                          non_sequences=a, n_steps=k)
        return lib.function([a], out[-1], mode=mode)

    impls = {"theanine-numba": graph(th, tt, NUMBA), "theanine": _untiered(graph, th, tt, None)}
    impls = {name: (lambda f=f: f(av)) for name, f in impls.items()}
    if jax is not None:
        jnp = _jnp()
        hand = jax.jit(lambda a: jax.lax.scan(lambda p, _: (p * a, None), jnp.ones_like(a),
                                              None, length=k)[0])
        aj = jnp.asarray(av)
        impls["jax"] = lambda: hand(aj).block_until_ready()
    if pytensor is not None:
        import pytensor.tensor as pt
        pf = graph(pytensor, pt, "NUMBA")
        impls["pytensor-numba"] = lambda: pf(av)
    return impls


def _poly():
    coeff = np.random.default_rng(1).normal(size=POLY_STEPS) / POLY_STEPS

    def graph(lib, tensor, mode):
        c, x = tensor.dvector("c"), tensor.dscalar("x")
        comps, _ = lib.scan(lambda c, p, v: c * (v ** p), outputs_info=None,
                            sequences=[c, tensor.arange(POLY_STEPS)], non_sequences=x)
        return lib.function([c, x], comps.sum(), mode=mode)

    looped = graph(th, tt, NUMBA.excluding("scan"))             # a real loop: no push-out
    default = graph(th, tt, th.Mode("vm", "fast_run").excluding("scan"))
    impls = {"theanine-numba": lambda: looped(coeff, 0.999),
             "theanine": lambda: default(coeff, 0.999)}
    if jax is not None:
        jnp = _jnp()

        def jpoly(cs, v):
            return jax.lax.scan(lambda carry, cp: (carry, cp[0] * v ** cp[1]), 0.0,
                                (cs, jnp.arange(POLY_STEPS, dtype=jnp.float64)))[1].sum()

        jf, jc = jax.jit(jpoly), jnp.asarray(coeff)
        impls["jax"] = lambda: jf(jc, 0.999).block_until_ready()
    if pytensor is not None:
        import pytensor.tensor as pt
        pf = graph(pytensor, pt, pytensor.compile.mode.get_mode("NUMBA").excluding("scan"))
        impls["pytensor-numba"] = lambda: pf(coeff, 0.999)
    return impls


def _ifelse(n=10**7):
    rng = np.random.default_rng(0)
    uv, vv = rng.standard_normal(n), rng.standard_normal(n)

    def graph(mode):
        a, b = tt.dscalars("a", "b")
        u, v = tt.dvectors("u", "v")
        return th.function([a, b, u, v], ifelse(tt.lt(a, b), _branch(u, tt), _branch(v, tt)),
                           mode=mode)

    fn, fd = graph(NUMBA), _untiered(graph, None)
    impls = {"theanine-numba": lambda: fn(0.0, 1.0, uv, vv),
             "theanine": lambda: fd(0.0, 1.0, uv, vv)}
    if jax is not None:
        jnp = _jnp()
        cond = jax.jit(lambda a, b, u, v: jax.lax.cond(a < b, lambda: _branch(u, jnp),
                                                       lambda: _branch(v, jnp)))
        ju, jv = jnp.asarray(uv), jnp.asarray(vv)
        impls["jax"] = lambda: cond(0.0, 1.0, ju, jv).block_until_ready()
    if pytensor is not None:
        import pytensor.tensor as pt
        from pytensor.ifelse import ifelse as p_ifelse
        a, b, u, v = pt.dscalar(), pt.dscalar(), pt.dvector(), pt.dvector()
        pf = pytensor.function([a, b, u, v], p_ifelse(pt.lt(a, b), _branch(u, pt),
                                                      _branch(v, pt)), mode="NUMBA")
        impls["pytensor-numba"] = lambda: pf(0.0, 1.0, uv, vv)
    return impls


RNN_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    start = time.perf_counter()
    lib_name = sys.argv[1]
    T, B, H = {T}, {B}, {H}
    rng = np.random.default_rng(2)
    xv, h0v, wv = (rng.normal(size=(T, B, H)) * 0.1, np.zeros((B, H)),
                   rng.normal(size=(H, H)) / np.sqrt(H))
    if lib_name == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        def loss(x, h0, w):
            def step(h, xt):
                h = jnp.tanh(h @ w + xt)
                return h, h
            return (jax.lax.scan(step, h0, x)[1] ** 2).sum()
        f = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
        run = lambda: jax.block_until_ready(f(xv, h0v, wv))
    else:
        if lib_name == "pytensor":
            import pytensor as lib, pytensor.tensor as tensor
        else:
            import theanine as lib, theanine.tensor as tensor
        x, h0, w = tensor.dtensor3("x"), tensor.dmatrix("h0"), tensor.dmatrix("w")
        hs, _ = lib.scan(lambda xt, h, w: tensor.tanh(tensor.dot(h, w) + xt), sequences=x,
                         outputs_info=h0, non_sequences=w)
        cost = (hs ** 2).sum()
        f = lib.function([x, h0, w], [cost] + lib.grad(cost, [x, h0, w]), mode="NUMBA")
        run = lambda: f(xv, h0v, wv)
    imported = time.perf_counter()
    run()
    done = time.perf_counter()
    run()
    steady = time.perf_counter() - done
    print(json.dumps({{"compile": done - imported, "total": done - start, "steady": steady}}))
""").format(T=T, B=BATCH, H=HIDDEN)


def _first_call(lib_name, env) -> dict:
    out = subprocess.run([sys.executable, "-c", RNN_SCRIPT, lib_name], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_rows() -> dict:
    """Graph building + compile + first call of the RNN gradient, in fresh processes."""
    rows = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, THEANINE_FLAGS=f"compiledir={cache}",
                   PYTHONPATH=str(ROOT), PYTENSOR_FLAGS=f"base_compiledir={cache}/pt")
        rows["theanine-numba cold"] = _first_call("theanine", env)
        rows["theanine-numba from the disk cache"] = _first_call("theanine", env)
        if jax is not None:
            rows["jax (no disk cache)"] = _first_call("jax", env)
        if pytensor is not None:
            rows["pytensor-numba cold"] = _first_call("pytensor", env)
            rows["pytensor-numba from its cache"] = _first_call("pytensor", env)
    return rows


def _rnn():
    xv, h0v, wv = _rnn_data()

    def graph(mode):
        x, h0, w = tt.dtensor3("x"), tt.dmatrix("h0"), tt.dmatrix("w")
        hs, _ = th.scan(lambda xt, h, w: tt.tanh(tt.dot(h, w) + xt), sequences=x,
                        outputs_info=h0, non_sequences=w)
        cost = (hs ** 2).sum()
        return th.function([x, h0, w], [cost] + th.grad(cost, [x, h0, w]), mode=mode)

    fn, fd = graph(NUMBA), _untiered(graph, None)
    for a, b in zip(fn(xv, h0v, wv), fd(xv, h0v, wv)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    impls = {"theanine-numba": lambda: fn(xv, h0v, wv), "theanine": lambda: fd(xv, h0v, wv)}
    if jax is not None:
        jnp = _jnp()

        def loss(x, h0, w):
            def step(h, xt):
                h = jnp.tanh(h @ w + xt)
                return h, h
            return (jax.lax.scan(step, h0, x)[1] ** 2).sum()

        hand = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
        xj, hj, wj = (jnp.asarray(v) for v in (xv, h0v, wv))
        impls["jax"] = lambda: jax.block_until_ready(hand(xj, hj, wj))
    return impls


def _classifier(n=500, feats=784, classes=10):
    """One training step of the deep-learning tutorial's softmax classifier: its cost
    indexes ``log(p)[arange(n), y]`` and its error rate takes an ``argmax`` (native
    in the Numba backend, no call-out)."""
    rng = np.random.default_rng(4)
    xv, yv = rng.normal(size=(n, feats)), rng.integers(0, classes, n).astype("int32")

    def graph(lib, tensor, mode, softmax=tt.nnet.softmax):
        x, y = tensor.dmatrix("x"), tensor.ivector("y")
        w = lib.shared(np.zeros((feats, classes)), name="W")
        b = lib.shared(np.zeros(classes), name="b")
        p = softmax(tensor.dot(x, w) + b)
        nll = -tensor.mean(tensor.log(p)[tensor.arange(y.shape[0]), y])
        errors = tensor.mean(tensor.neq(tensor.argmax(p, axis=1), y))
        gw, gb = lib.grad(nll, [w, b])
        return lib.function([x, y], [nll, errors], mode=mode,
                            updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])

    fn, fd = graph(th, tt, NUMBA), _untiered(graph, th, tt, None)
    assert fn.fn.callouts == [], fn.fn.callouts
    impls = {"theanine-numba": lambda: fn(xv, yv), "theanine": lambda: fd(xv, yv)}
    if jax is not None:
        jnp = _jnp()

        def cost(params, x, y):
            p = jax.nn.softmax(x @ params[0] + params[1])
            return -jnp.mean(jnp.log(p)[jnp.arange(y.shape[0]), y]), p

        @jax.jit
        def step(params, x, y):
            (nll, p), grads = jax.value_and_grad(cost, has_aux=True)(params, x, y)
            errors = jnp.mean(jnp.argmax(p, axis=1) != y)
            return [w - 0.1 * g for w, g in zip(params, grads)], nll, errors

        state = {"params": [jnp.zeros((feats, classes)), jnp.zeros(classes)]}
        xj, yj = jnp.asarray(xv), jnp.asarray(yv)

        def run():
            state["params"], nll, errors = step(state["params"], xj, yj)
            jax.block_until_ready((nll, errors))
        impls["jax"] = run
    if pytensor is not None:
        import pytensor.tensor as pt
        pf = graph(pytensor, pt, "NUMBA", lambda z: pt.special.softmax(z, axis=-1))
        impls["pytensor-numba"] = lambda: pf(xv, yv)
    return impls


# the RNN first: once JAX's and PyTensor's thread pools have run, NumPy's BLAS
# threads compete with them on a small machine and the BLAS-bound rows slow down
WORKLOADS = [
    Workload(f"RNN fwd+bwd T={T} hidden={HIDDEN} batch={BATCH}", _rnn, repeats=5),
    Workload("scan-pow k=1000, 1000-vector", _scan_pow, repeats=9),
    Workload(f"poly scan {POLY_STEPS} steps (no push-out)", _poly, repeats=7),
    Workload("lazy ifelse mean(tanh*exp), 1e7 f64", _ifelse, repeats=7),
    Workload("softmax classifier step 500x784 -> 10", _classifier, repeats=9),
]


def main() -> None:
    rows = run_workloads(WORKLOADS, out=print)
    for row in rows:
        t = row["times"]
        cells = ", ".join(f"{name} {sec * 1e3:.3f} ms" for name, sec in t.items())
        ratio = f" (numba/jax {t['theanine-numba'] / t['jax']:.2f})" if "jax" in t else ""
        print(f"{row['name']}: {cells}{ratio}")
        if row["name"].startswith("poly"):
            print("  per step: " + ", ".join(f"{name} {sec / POLY_STEPS * 1e6:.4f} us"
                                              for name, sec in t.items()))
    if "--no-compile" not in sys.argv:
        for name, r in compile_rows().items():
            print(f"RNN gradient, build + compile + first call, {name}: " + (
                r["error"] if "error" in r else
                f"{r['compile']:.2f} s ({r['total']:.2f} s with imports; the first call "
                f"less a second one: {r['compile'] - r['steady']:.2f} s)"))


if __name__ == "__main__":
    main()
