"""Theano's ``tensor.nnet``: activations, softmax and cross-entropies (``basic.py``).

A package so that Theano's submodule names (``nnet.abstract_conv``, ``nnet.conv``,
``nnet.bn``, ``nnet.neighbours``) can live beside the basics.
"""

from theanine.tensor.nnet.abstract_conv import conv2d, conv2d_transpose, conv3d  # noqa: F401
from theanine.tensor.nnet.basic import *  # noqa: F401,F403
from theanine.tensor.nnet.basic import __all__  # noqa: F401

__all__ = [*__all__, "conv2d", "conv2d_transpose", "conv3d"]

# isort: split
# Theano's nnet submodules for batch normalization and image patches
from theanine.tensor.nnet import bn, neighbours  # noqa: E402,F401
from theanine.tensor.nnet.neighbours import images2neibs, neibs2images  # noqa: E402,F401
