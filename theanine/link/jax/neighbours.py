"""``Images2Neibs``/``Neibs2Images`` (``tensor/nnet/neighbours.py``) in JAX.

The same geometry as the NumPy kernels (``axis_geometry``): the image is padded
(zeros, or wrapped for ``'wrap_centered'``), each window offset is one strided
slice (``prod(neib_shape)`` of them, unrolled when traced), and the transpose adds
them back with ``.at[].add``.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

from theanine.link.jax.dispatch import _static_ints, jax_funcify
from theanine.tensor.nnet.neighbours import Images2Neibs, Neibs2Images


def _offsets(op, n0, n1):
    (c0, c1), (s0, s1) = op.neib_shape, op.neib_step
    for i, j in itertools.product(range(c0), range(c1)):
        yield (Ellipsis, slice(i, i + s0 * (n0 - 1) + 1, s0),
               slice(j, j + s1 * (n1 - 1) + 1, s1))


@jax_funcify.register(Images2Neibs)
def _images2neibs(op, node):
    width = op.neib_shape[0] * op.neib_shape[1]

    def images2neibs(x):
        (b0, a0, n0), (b1, a1, n1) = op.geometry(x.shape)
        if n0 == 0 or n1 == 0:
            return jnp.zeros((0, width), dtype=x.dtype)
        pad = ((0, 0), (0, 0), (b0, a0), (b1, a1))
        padded = jnp.pad(x, pad, mode="wrap" if op.mode == "wrap_centered" else "constant")
        cells = jnp.stack([padded[idx] for idx in _offsets(op, n0, n1)], axis=-1)
        return cells.reshape(-1, width)
    return images2neibs


@jax_funcify.register(Neibs2Images)
def _neibs2images(op, node):
    (c0, c1) = op.neib_shape

    def neibs2images(neibs, shape):
        shape = _static_ints(shape, "original_shape", node)
        (b0, a0, n0), (b1, a1, n1) = op.geometry(shape)
        patches = neibs.reshape(shape[:2] + (n0, n1, c0 * c1))
        padded = jnp.zeros(shape[:2] + (shape[2] + b0 + a0, shape[3] + b1 + a1),
                           dtype=neibs.dtype)
        for k, idx in enumerate(_offsets(op, n0, n1)):
            padded = padded.at[idx].add(patches[..., k])
        if op.mode != "wrap_centered":
            return padded[:, :, b0:b0 + shape[2], b1:b1 + shape[3]]
        rows = (np.arange(padded.shape[2]) - b0) % shape[2]
        cols = (np.arange(padded.shape[3]) - b1) % shape[3]
        folded = jnp.zeros(shape[:2] + (shape[2], padded.shape[3]), dtype=neibs.dtype)
        folded = folded.at[:, :, rows].add(padded)
        return jnp.zeros(shape, dtype=neibs.dtype).at[..., cols].add(folded)
    return neibs2images
