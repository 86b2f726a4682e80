"""Random draws in JAX: each shared NumPy generator feeds a JAX key per call.

The entry (``linker.py``) draws a 63-bit seed from each ``numpy.random.Generator``
argument (advancing it, so the stream moves on every call and stays reproducible
from its seed) and passes ``jax.random.key(seed)``; the draws below split that key.
The generator itself goes back into its shared container as the update.  The
numbers are JAX's, not NumPy's: the same seed gives the same draws on this
backend, but not the default engine's draws (``JAXLinker.same_random_numbers``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from theanine.link.jax.dispatch import JAXLoweringError, _static_ints, _where, jax_funcify
from theanine.tensor.random.op import Choice, Permutation, RandomVariable


def _normal(key, shape, dtype, loc, scale):
    return loc + scale * jax.random.normal(key, shape, dtype)


def _uniform(key, shape, dtype, low, high):
    return jax.random.uniform(key, shape, dtype, minval=low, maxval=high)


def _binomial(key, shape, dtype, n, p):
    return jax.random.binomial(key, n, p, shape)


def _integers(key, shape, dtype, low, high=None):
    if high is None:
        low, high = 0, low
    return jax.random.randint(key, shape, low, high, dtype="int64")


_DRAWS = {"normal": _normal, "uniform": _uniform, "binomial": _binomial,
          "integers": _integers}


@jax_funcify.register(RandomVariable)
def _random_variable(op, node):
    draw = _DRAWS.get(op.method)
    if draw is None:
        raise JAXLoweringError(f"the JAX backend cannot draw {op.method!r} yet{_where(node)}")
    dtype = op.dtype
    work = dtype if dtype[0] == "f" else "float64"

    def random_variable(key, *rest):
        if op.has_size:
            shape = _static_ints(np.asarray(rest[0]).reshape(-1), "the size", node)
            params = rest[1:]
        else:
            params = rest
            shape = jnp.broadcast_shapes(*[jnp.shape(p) for p in params])
        key, sub = jax.random.split(key)
        params = [jnp.asarray(p) for p in params]
        return key, jnp.asarray(draw(sub, tuple(shape), work, *params)).astype(dtype)

    return random_variable


@jax_funcify.register(Choice)
def _choice(op, node):
    dtype = node.outputs[1].dtype

    def choice(key, *rest):
        rest = list(rest)
        shape = _static_ints(np.asarray(rest.pop(0)).reshape(-1), "the size", node) \
            if op.has_size else ()
        a = rest.pop(0)
        p = rest.pop(0) if op.has_p else None
        if jnp.ndim(a) == 0:
            a = _static_ints((a,), "the number of choices", node)[0]
        key, sub = jax.random.split(key)
        sample = jax.random.choice(sub, a, tuple(shape), replace=op.replace, p=p)
        return key, jnp.asarray(sample).astype(dtype)

    return choice


@jax_funcify.register(Permutation)
def _permutation(op, node):
    dtype = node.outputs[1].dtype

    def permutation(key, x):
        if jnp.ndim(x) == 0:
            x = _static_ints((x,), "the permutation length", node)[0]
        key, sub = jax.random.split(key)
        return key, jnp.asarray(jax.random.permutation(sub, x)).astype(dtype)

    return permutation


__all__ = []
