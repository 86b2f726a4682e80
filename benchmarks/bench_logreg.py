"""One training step of the tutorial's logistic regression (400 x 784, float64).

theanine: the compiled ``train`` of examples/logreg.py (forward, ``th.grad``
gradient, shared-variable updates), timed over its first calls (tiering off).
theanine-tiered: the same function after the calls that make the tiered default
swap in its Numba version, with its call counter on (a long training loop's steady
state).  numpy: the same step
with the gradient written by hand.  JAX (``jit`` of ``value_and_grad``) and
PyTensor (the tutorial code) run when installed.  Results are quoted in
benchmarks/README.md.
"""

from __future__ import annotations

import importlib

import numpy as np
from harness import Workload, optional_import, run_workloads

import theanine as th
import theanine.tensor as tt

N, FEATS, LR, REG = 400, 784, 0.1, 0.01


def _data(n=N):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, FEATS)), rng.integers(0, 2, n).astype("float64"),
            rng.standard_normal(FEATS) * 0.01)


def _theano_api_step(lib, tensor, x, y, w0):
    """The training step written once against the Theano API (``lib``: theanine or PyTensor,
    ``tensor``: its tensor module)."""
    xs, ys = tensor.dmatrix("x"), tensor.dvector("y")
    w, b = lib.shared(w0.copy(), name="w"), lib.shared(0.0, name="b")
    p_1 = 1 / (1 + tensor.exp(-tensor.dot(xs, w) - b))
    xent = -ys * tensor.log(p_1) - (1 - ys) * tensor.log(1 - p_1)
    cost = xent.mean() + REG * (w ** 2).sum()
    gw, gb = lib.grad(cost, [w, b])
    train = lib.function([xs, ys], [p_1 > 0.5, xent],
                         updates=[(w, w - LR * gw), (b, b - LR * gb)])
    step = lambda: train(x, y)   # noqa: E731
    step.function = train
    return step


def _tiered_step(x, y, w0):
    """The same function after the calls that make the tiered default swap in its
    whole-function Numba version (when it was faster; the benchmark says which), with
    the call counter on (``tiered__min_call``, off by default)."""
    with th.config.change_flags(tiered=True, tiered__min_call=2e-5):
        step = _theano_api_step(th, tt, x, y, w0)
        tiering = step.function.tiering
        for _ in range(100_000):
            if tiering.state != "watching":
                break
            step()
    thread = getattr(tiering, "thread", None)
    if thread is not None:
        thread.join(600)
    print(f"  tiered: {tiering.state} after {tiering.calls['default']} calls "
          f"({tiering.reason})")
    return step


def _numpy_step(x, y, w0):
    state = {"w": w0.copy(), "b": 0.0}

    def step():
        w, b = state["w"], state["b"]
        p = 1 / (1 + np.exp(-(x @ w) - b))    # -(x @ w): no negated copy of x
        xent = -y * np.log(p) - (1 - y) * np.log(1 - p)
        d = (p - y) / len(y)
        state["w"] = w - LR * (x.T @ d + 2 * REG * w)
        state["b"] = b - LR * d.sum()
        return p > 0.5, xent

    return step


def _jax_step(jax, x, y, w0):
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def cost(params, xv, yv):
        w, b = params
        p = 1 / (1 + jnp.exp(-xv @ w - b))
        xent = -yv * jnp.log(p) - (1 - yv) * jnp.log(1 - p)
        return xent.mean() + REG * (w ** 2).sum(), (p > 0.5, xent)

    @jax.jit
    def step(params, xv, yv):
        (_, aux), grads = jax.value_and_grad(cost, has_aux=True)(params, xv, yv)
        return tuple(p - LR * g for p, g in zip(params, grads)), aux

    state = {"params": (jnp.asarray(w0), jnp.asarray(0.0))}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        state["params"], aux = step(state["params"], xj, yj)
        jax.block_until_ready(aux)
        return aux

    return run


def _setup(n=N):
    x, y, w0 = _data(n)
    with th.config.change_flags(tiered=False):
        plain = _theano_api_step(th, tt, x, y, w0)
    impls = {"theanine": plain, "numpy": _numpy_step(x, y, w0),
             "theanine-tiered": _tiered_step(x, y, w0)}
    jax = optional_import("jax")
    if jax is not None:
        impls["jax"] = _jax_step(jax, x, y, w0)
    pytensor = optional_import("pytensor")
    if pytensor is not None:
        impls["pytensor"] = _theano_api_step(
            pytensor, importlib.import_module("pytensor.tensor"), x, y, w0)
    return impls


WORKLOADS = [Workload("logreg train step (400x784, float64)", _setup, repeats=7, number=20,
                      notes="tutorial logistic regression: forward + th.grad + updates"),
             Workload("logreg train step (5000x784, float64)", lambda: _setup(5000), repeats=9,
                      number=5),
             Workload("logreg train step (20000x784, float64)", lambda: _setup(20000),
                      repeats=7, number=2,
                      notes="its fused kernels run on both cores: the BLAS calls share them")]


if __name__ == "__main__":
    run_workloads(WORKLOADS)
