"""A small LeNet written as Theano 1.0 code (``import theano``, ``theano.tensor.nnet.conv2d``,
``theano.tensor.signal.pool.pool_2d``) trains under theanine: the loss goes down, and
its first gradient is the one hand-written JAX computes for the same model."""


import numpy as np
import pytest


def _params(rng):
    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype("float32")
    return [w(4, 1, 3, 3), np.zeros(4, "float32"), w(6, 4, 3, 3), np.zeros(6, "float32"),
            w(24, 16), np.zeros(16, "float32"), w(16, 3), np.zeros(3, "float32")]


def _theano_lenet(theano, params0, lr):
    import theano.tensor as T
    from theano.tensor.nnet import conv2d, softmax
    from theano.tensor.signal.pool import pool_2d

    params = [theano.shared(p.copy()) for p in params0]
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    x, y = T.ftensor4("x"), T.ivector("y")
    h1 = T.tanh(pool_2d(conv2d(x, w1, filter_shape=(4, 1, 3, 3)), (2, 2), ignore_border=True)
                + b1.dimshuffle("x", 0, "x", "x"))
    h2 = T.tanh(pool_2d(conv2d(h1, w2), (2, 2), ignore_border=True)
                + b2.dimshuffle("x", 0, "x", "x"))
    h3 = T.tanh(T.dot(h2.flatten(2), w3) + b3)
    p_y = softmax(T.dot(h3, w4) + b4)
    loss = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    grads = T.grad(loss, params)
    train = theano.function([x, y], loss, updates=[(p, p - lr * g)
                                                   for p, g in zip(params, grads)])
    return train, theano.function([x, y], grads)


def _jax_loss(jax):
    jnp, lax = jax.numpy, jax.lax

    def conv(a, w):
        return lax.conv_general_dilated(a, jnp.flip(w, (2, 3)), (1, 1), "VALID")

    def pool(a):
        return lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        h1 = jnp.tanh(pool(conv(x, w1)) + b1[None, :, None, None])
        h2 = jnp.tanh(pool(conv(h1, w2)) + b2[None, :, None, None])
        h3 = jnp.tanh(h2.reshape(h2.shape[0], -1) @ w3 + b3)
        return -jnp.mean(jax.nn.log_softmax(h3 @ w4 + b4)[jnp.arange(y.shape[0]), y])

    return loss


def test_lenet_written_for_theano_trains(theano):
    import theano.tensor.nnet.abstract_conv as abstract_conv
    import theano.tensor.nnet.conv as legacy_conv

    assert abstract_conv.conv2d is theano.tensor.nnet.conv2d
    assert callable(legacy_conv.conv2d) and callable(abstract_conv.get_conv_output_shape)
    rng = np.random.default_rng(0)
    params0 = _params(rng)
    x = rng.random((16, 1, 14, 14), dtype="float32")
    y = rng.integers(0, 3, 16).astype("int32")
    train, grads = _theano_lenet(theano, params0, np.float32(0.2))

    jax = pytest.importorskip("jax")
    want = jax.jit(jax.grad(_jax_loss(jax)))([jax.numpy.asarray(p) for p in params0], x, y)
    for got, ref in zip(grads(x, y), want):
        np.testing.assert_allclose(got, np.asarray(ref), rtol=2e-3, atol=2e-5)

    losses = [float(train(x, y)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(np.isfinite(losses))
