"""The convolution ops (``tensor/nnet/conv_ops.py``) in JAX.

The forward op is ``lax.conv_general_dilated`` (NC... layouts, which are its
defaults; the filters reversed for a true convolution, ``feature_group_count`` for
groups, ``rhs_dilation`` for dilated filters); unshared filters contract each
pixel's patch (``lax.conv_general_dilated_patches``) with that pixel's filter.
Both gradient ops are the vector-Jacobian products of that forward convolution,
which XLA compiles to convolutions of their own.  Shapes, strides and padding are fixed when the
function is compiled.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from theanine.link.jax.dispatch import _static_ints, jax_funcify
from theanine.tensor.nnet.conv_ops import (
    AbstractConv,
    AbstractConv_gradInputs,
    AbstractConv_gradWeights,
)


def _forward(op, kspatial):
    pads = [tuple(p) for p in op.pads(kspatial)]
    nd = op.convdim
    g = op.num_groups

    def conv(img, kern):
        if op.filter_flip:
            kern = jnp.flip(kern, axis=tuple(range(kern.ndim - nd, kern.ndim)))
        if op.unshared:
            # every pixel's patch (channel-major, as the filters), then one filter each
            patches = lax.conv_general_dilated_patches(
                img, kspatial, op.subsample, pads, rhs_dilation=op.filter_dilation)
            b, outs = patches.shape[0], patches.shape[2:]
            patches = patches.reshape((b, g, -1, int(np.prod(outs))))
            f = kern.shape[0]
            w = kern.reshape((g, f // g, int(np.prod(outs)), -1))
            out = jnp.einsum("bgcp,gfpc->bgfp", patches, w)
            return out.reshape((b, f) + tuple(outs))
        return lax.conv_general_dilated(img, kern, window_strides=op.subsample, padding=pads,
                                        rhs_dilation=op.filter_dilation,
                                        feature_group_count=g)
    return conv


@jax_funcify.register(AbstractConv)
def _jax_conv(op, node):
    dtype = node.outputs[0].dtype

    def conv(img, kern):
        op.check_shapes(tuple(jnp.shape(img)), tuple(jnp.shape(kern)))
        out = _forward(op, op.kern_spatial(jnp.shape(kern)))(img, kern)
        return out.astype(dtype)
    return conv


def _pulled_back(forward, shape, dtype, top):
    """A gradient op is the transpose of the forward convolution: ``top`` pulled back
    through ``forward`` to its argument (of ``shape``)."""
    _, pullback = jax.vjp(forward, jnp.zeros(shape, dtype))
    return pullback(top)[0]


def _spatial(op, node, shape):
    return _static_ints(np.asarray(shape).reshape(-1), "the result's shape", node)


@jax_funcify.register(AbstractConv_gradWeights)
def _jax_conv_grad_weights(op, node):
    dtype = node.outputs[0].dtype

    def grad_weights(img, top, shape):
        img, top = jnp.asarray(img, dtype), jnp.asarray(top, dtype)
        spatial = _spatial(op, node, shape)
        kshape = op.kern_shape(top.shape[1], top.shape[2:], img.shape[1] // op.num_groups,
                               spatial)
        op.check_shapes(tuple(img.shape), kshape, tuple(top.shape))
        conv = _forward(op, spatial)
        return _pulled_back(lambda k: conv(img, k), kshape, dtype, top)
    return grad_weights


@jax_funcify.register(AbstractConv_gradInputs)
def _jax_conv_grad_inputs(op, node):
    dtype = node.outputs[0].dtype

    def grad_inputs(kern, top, shape):
        kern, top = jnp.asarray(kern, dtype), jnp.asarray(top, dtype)
        spatial = _spatial(op, node, shape)
        ishape = (top.shape[0], op.kern_channels(kern.shape) * op.num_groups) + spatial
        op.check_shapes(ishape, tuple(kern.shape), tuple(top.shape))
        conv = _forward(op, op.kern_spatial(kern.shape))
        return _pulled_back(lambda x: conv(x, kern), ishape, dtype, top)
    return grad_inputs


__all__ = []
