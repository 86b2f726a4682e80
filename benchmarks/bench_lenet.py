"""One SGD training step of LeNet-5 on MNIST-sized data (float32, batch 500, 1x28x28).

conv 20 5x5 -> max pool 2x2 -> tanh -> conv 50 5x5 -> max pool 2x2 -> tanh ->
dense 500 tanh -> softmax 10 -> mean negative log-likelihood; the step computes
the loss, the gradient of all 8 parameters and the SGD updates.

* theanine: the model written against the Theano API (``conv2d``, ``pool_2d``,
  ``th.grad``, updates on shared variables), default engine;
* theanine-1blas: the same, with BLAS limited to one thread (``threadpoolctl``):
  on a machine shared with other jobs, OpenBLAS's threads wait for each other
  and a one-thread GEMM is often several times faster;
* theanine-jax: the same compiled function with ``mode="JAX"``;
* jax: the model hand-written in JAX (``lax.conv_general_dilated``,
  ``lax.reduce_window``, ``jax.jit`` of ``jax.value_and_grad``).

PyTensor has no row: its 3.0 release has neither ``abstract_conv.conv2d`` nor
``signal.pool`` (only ``signal.convolve2d``, a per-image SciPy-style convolution
without channels or batches).

Times are medians and ratios are to JAX.  ``python benchmarks/bench_lenet.py
--profile`` also prints theanine's per-op profile of the step.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from harness import optional_import, time_callable

import theanine as th
import theanine.tensor as tt
from theanine.tensor.nnet import conv2d, softmax
from theanine.tensor.signal.pool import pool_2d

BATCH, LR = 500, np.float32(0.1)


def init_params(rng):
    def w(*shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype("float32")

    return [w(20, 1, 5, 5, fan_in=25), np.zeros(20, "float32"),
            w(50, 20, 5, 5, fan_in=500), np.zeros(50, "float32"),
            w(800, 500, fan_in=800), np.zeros(500, "float32"),
            w(500, 10, fan_in=500), np.zeros(10, "float32")]


def data(rng, batch=BATCH):
    return (rng.random((batch, 1, 28, 28), dtype="float32"),
            rng.integers(0, 10, batch).astype("int32"))


def lenet_step(lib, tensor, conv, pool, softmax_fn, params0, lr=LR, **function_kwargs):
    """The compiled training step ``train(x, y) -> loss`` written once against the
    Theano API (``lib``: theanine, or Theano itself through its alias)."""
    params = [lib.shared(p.copy(), name=f"p{i}") for i, p in enumerate(params0)]
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    x, y = tensor.ftensor4("x"), tensor.ivector("y")
    h1 = tensor.tanh(pool(conv(x, w1), (2, 2), ignore_border=True)
                     + b1.dimshuffle("x", 0, "x", "x"))
    h2 = tensor.tanh(pool(conv(h1, w2), (2, 2), ignore_border=True)
                     + b2.dimshuffle("x", 0, "x", "x"))
    h3 = tensor.tanh(tensor.dot(h2.flatten(2), w3) + b3)
    p = softmax_fn(tensor.dot(h3, w4) + b4)
    loss = -tensor.mean(tensor.log(p)[tensor.arange(y.shape[0]), y])
    grads = lib.grad(loss, params)
    updates = [(v, v - lr * g) for v, g in zip(params, grads)]
    return lib.function([x, y], loss, updates=updates, **function_kwargs), params


def _jax_step(jax, params0, x, y):
    jnp, lax = jax.numpy, jax.lax

    def conv(a, w):   # a true convolution, as Theano's conv2d
        return lax.conv_general_dilated(a, jnp.flip(w, (2, 3)), (1, 1), "VALID")

    def pool(a):
        return lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(params, xv, yv):
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        h1 = jnp.tanh(pool(conv(xv, w1)) + b1[None, :, None, None])
        h2 = jnp.tanh(pool(conv(h1, w2)) + b2[None, :, None, None])
        h3 = jnp.tanh(h2.reshape(h2.shape[0], -1) @ w3 + b3)
        logp = jax.nn.log_softmax(h3 @ w4 + b4)
        return -jnp.mean(logp[jnp.arange(yv.shape[0]), yv])

    @jax.jit
    def step(params, xv, yv):
        loss, grads = jax.value_and_grad(loss_fn)(params, xv, yv)
        return [p - LR * g for p, g in zip(params, grads)], loss

    state = {"params": [jnp.asarray(p) for p in params0]}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        state["params"], loss = step(state["params"], xj, yj)
        return jax.block_until_ready(loss)

    return run


def implementations(batch=BATCH):
    rng = np.random.default_rng(0)
    params0 = init_params(rng)
    x, y = data(rng, batch)
    train, _ = lenet_step(th, tt, conv2d, pool_2d, softmax, params0)
    impls = {"theanine": lambda: train(x, y)}
    threadpoolctl = optional_import("threadpoolctl")
    if threadpoolctl is not None:
        def one_blas_thread():
            with threadpoolctl.threadpool_limits(1, "blas"):
                return train(x, y)
        impls["theanine-1blas"] = one_blas_thread
    jax = optional_import("jax")
    if jax is not None:
        train_jax, _ = lenet_step(th, tt, conv2d, pool_2d, softmax, params0, mode="JAX")
        impls["theanine-jax"] = lambda: train_jax(x, y)
        impls["jax"] = _jax_step(jax, params0, x, y)
    return impls


def main(repeats=7, profile=False):
    impls = implementations()
    times = {name: time_callable(fn, repeats, 1) for name, fn in impls.items()}
    base = times.get("jax")
    print(f"LeNet-5 training step, float32, batch {BATCH} of 1x28x28 (median of {repeats})")
    for name, t in times.items():
        ratio = f"  ({t / base:.2f} x jax)" if base else ""
        print(f"  {name:14s} {t * 1e3:9.1f} ms{ratio}")
    if profile:
        rng = np.random.default_rng(1)
        train, _ = lenet_step(th, tt, conv2d, pool_2d, softmax, init_params(rng),
                              profile=True)
        x, y = data(rng)
        start = time.perf_counter()
        for _ in range(repeats):
            train(x, y)
        print(f"\nprofiled: {(time.perf_counter() - start) / repeats * 1e3:.1f} ms per step")
        train.profile.summary()
    return times


if __name__ == "__main__":
    main(profile="--profile" in sys.argv)
