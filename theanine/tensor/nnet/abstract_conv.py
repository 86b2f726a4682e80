"""Theano 1.0's ``theano.tensor.nnet.abstract_conv``: ``conv2d``, ``conv3d``, their
gradients as functions, ``conv2d_transpose`` and the output-shape helpers.

Inputs are ``(batch, channels, rows, cols)`` (3d: ``(batch, channels, depth, rows,
cols)``), filters ``(out_channels, in_channels // num_groups, rows, cols)`` (3d:
``depth`` before ``rows``).  ``filter_flip=True`` (the
default) is a true convolution (the filters are flipped), ``False`` a
cross-correlation.  ``border_mode`` is ``'valid'`` (no padding), ``'full'`` (pad
kernel - 1), ``'half'`` (pad kernel // 2: same size for odd kernels), an int or a
tuple of ints (symmetric padding), or a tuple of ``(low, high)`` pairs.
``input_shape``/``filter_shape`` are optional hints (entries may be None), checked
against the actual shapes.  The ops are in ``conv_ops``, the NumPy kernels (im2col
and GEMM) in ``conv_kernels``.
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.graph.basic import Constant, Variable
from theanine.tensor import basic as tb
from theanine.tensor.nnet import conv_kernels as ck
from theanine.tensor.nnet.conv_ops import (
    AbstractConv,
    AbstractConv2d,
    AbstractConv2d_gradInputs,
    AbstractConv2d_gradWeights,
    AbstractConv3d,
    AbstractConv3d_gradInputs,
    AbstractConv3d_gradWeights,
    AbstractConv_gradInputs,
    AbstractConv_gradWeights,
    BaseAbstractConv,
    normalize_border_mode,
)

_OPS = {2: (AbstractConv2d, AbstractConv2d_gradWeights, AbstractConv2d_gradInputs),
        3: (AbstractConv3d, AbstractConv3d_gradWeights, AbstractConv3d_gradInputs)}


def get_conv_shape_1axis(image_shape, kernel_shape, border_mode, subsample, dilation=1):
    """The output length of one axis; None when an argument is None."""
    if None in (image_shape, kernel_shape, border_mode, subsample, dilation):
        return None
    if isinstance(border_mode, str):
        pad = ck.pads_for(border_mode, (kernel_shape,), (dilation,))[0]
    elif isinstance(border_mode, (tuple, list)):
        pad = tuple(border_mode)
    else:
        pad = (border_mode, border_mode)
    if any(isinstance(v, Variable) for v in (image_shape, kernel_shape) + pad):
        span = (kernel_shape - 1) * dilation + 1
        return (image_shape + pad[0] + pad[1] - span) // subsample + 1
    if pad[0] < 0 or pad[1] < 0:
        raise ValueError(f"get_conv_shape_1axis: border_mode must be >= 0, got {border_mode}")
    return ck.out_size(image_shape, kernel_shape, pad, subsample, dilation)


def get_conv_output_shape(image_shape, kernel_shape, border_mode, subsample,
                          filter_dilation=None):
    """``(batch, out_channels, *spatial)`` of a convolution (Theano's helper); entries
    are None where an input entry is None."""
    nd = len(subsample)
    dilation = (1,) * nd if filter_dilation is None else tuple(filter_dilation)
    modes = _per_axis(border_mode, nd)
    spatial = tuple(get_conv_shape_1axis(image_shape[2 + i], kernel_shape[-nd + i], modes[i],
                                         subsample[i], dilation[i]) for i in range(nd))
    return (image_shape[0], kernel_shape[0]) + spatial


def _pad_pair(border_mode, dilated_kernel):
    """``(low, high)`` padding of one axis, or None where it depends on an unknown
    kernel size (``'half'`` when inferring the kernel)."""
    if border_mode == "valid":
        return (0, 0)
    if border_mode == "full":
        return None if dilated_kernel is None else (dilated_kernel - 1,) * 2
    if border_mode == "half":
        return None if dilated_kernel is None else (dilated_kernel // 2,) * 2
    if isinstance(border_mode, (tuple, list)):
        return tuple(border_mode)
    return (border_mode, border_mode)


def get_conv_gradinputs_shape_1axis(kernel_shape, top_shape, border_mode, subsample,
                                    dilation):
    """The image length of one axis that gives ``top_shape``; None when an argument
    is None or the stride makes it ambiguous."""
    if None in (kernel_shape, top_shape, border_mode, subsample, dilation) or subsample != 1:
        return None
    span = (kernel_shape - 1) * dilation + 1
    lo, hi = _pad_pair(border_mode, span)
    return top_shape + span - 1 - lo - hi


def get_conv_gradinputs_shape(kernel_shape, top_shape, border_mode, subsample,
                              filter_dilation=None, num_groups=1):
    """``(batch, channels, *spatial)`` of the image of a convolution whose output has
    ``top_shape`` (spatial entries None where ambiguous)."""
    nd = len(subsample)
    dilation = (1,) * nd if filter_dilation is None else tuple(filter_dilation)
    modes = _per_axis(border_mode, nd)
    kspatial = kernel_shape[len(kernel_shape) - nd:]
    channels = kernel_shape[len(kernel_shape) - nd - 1]
    spatial = tuple(get_conv_gradinputs_shape_1axis(kspatial[i], top_shape[2 + i], modes[i],
                                                    subsample[i], dilation[i])
                    for i in range(nd))
    return (top_shape[0], None if channels is None else channels * num_groups) + spatial


def get_conv_gradweights_shape_1axis(image_shape, top_shape, border_mode, subsample,
                                     dilation):
    """The kernel length of one axis that gives ``top_shape`` from ``image_shape``;
    None when an argument is None or it is ambiguous (a stride, ``'half'``)."""
    if None in (image_shape, top_shape, border_mode, subsample, dilation) \
            or subsample != 1 or border_mode == "half":
        return None
    if border_mode == "full":
        span = top_shape - image_shape + 1
    else:
        lo, hi = _pad_pair(border_mode, None)
        span = image_shape + lo + hi - top_shape + 1
    return (span - 1) // dilation + 1


def get_conv_gradweights_shape(image_shape, top_shape, border_mode, subsample,
                               filter_dilation=None, num_groups=1, unshared=False):
    """The filters shape of a convolution from its image and output shapes."""
    nd = len(subsample)
    dilation = (1,) * nd if filter_dilation is None else tuple(filter_dilation)
    modes = _per_axis(border_mode, nd)
    spatial = tuple(get_conv_gradweights_shape_1axis(image_shape[2 + i], top_shape[2 + i],
                                                     modes[i], subsample[i], dilation[i])
                    for i in range(nd))
    channels = None if image_shape[1] is None else image_shape[1] // num_groups
    outs = tuple(top_shape[2:]) if unshared else ()
    return (top_shape[1],) + outs + (channels,) + spatial


def _per_axis(border_mode, nd):
    if isinstance(border_mode, str) or isinstance(border_mode, (int, np.integer)):
        return (border_mode,) * nd
    return tuple(border_mode)


def _check_nd(var, nd, name, who):
    var = tb.as_tensor_variable(var)
    if var.ndim != nd + 2:
        raise TypeError(f"{who}: {name} must be a {nd + 2}-d tensor, got {var.type}")
    return var


def _split_shape(shape, nd, name, who, entries=None):
    """A user's full shape (``entries``, default ``nd + 2``: ints, None or symbolic
    scalars) -> (the hint with symbolic entries as None, the spatial part (the last
    ``nd``) as an int vector)."""
    entries = nd + 2 if entries is None else entries
    if shape is None:
        raise TypeError(f"{who}: {name} is required")
    if isinstance(shape, Variable):
        if isinstance(shape, Constant):
            shape = [int(v) for v in shape.data]
        else:
            if shape.ndim != 1:
                raise TypeError(f"{who}: {name} must be a vector of {entries} ints")
            return None, shape[entries - nd:]
    shape = list(shape)
    if len(shape) != entries:
        raise ValueError(f"{who}: {name} must have {entries} entries, got {shape!r}")
    spatial = shape[entries - nd:]
    if any(v is None for v in spatial):
        raise ValueError(f"{who}: the spatial entries of {name} must be known, got {shape!r}")
    hint = tuple(None if isinstance(v, Variable) and not isinstance(v, Constant) else v
                 for v in shape)
    if all(isinstance(v, int) or isinstance(v, Constant) for v in spatial):
        vec = tb.constant([int(getattr(v, "data", v)) for v in spatial], dtype="int64")
    else:
        vec = tb.as_tensor_variable([tb.cast(tb.as_tensor_variable(v), "int64")
                                     for v in spatial])
    return hint, vec


def _conv(nd, input, filters, input_shape, filter_shape, border_mode, subsample,
          filter_flip, filter_dilation, num_groups, unshared):
    op = _OPS[nd][0](imshp=input_shape, kshp=filter_shape, border_mode=border_mode,
                     subsample=subsample, filter_flip=filter_flip,
                     filter_dilation=filter_dilation, num_groups=num_groups,
                     unshared=unshared)
    who = f"conv{nd}d"
    return op(_check_nd(input, nd, "input", who), filters)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, image_shape=None, filter_dilation=(1, 1),
           num_groups=1, unshared=False, **kwargs):
    """2-d convolution of a 4-d ``input`` with 4-d ``filters`` (see the module doc).

    ``image_shape`` is the old name of ``input_shape`` (a ``DEPRECATION`` warning);
    the legacy ``conv.conv2d``'s tuning keywords are refused with a pointer to it.
    """
    if kwargs:
        raise TypeError(f"conv2d: unexpected keyword arguments {sorted(kwargs)} (the legacy "
                        "keywords belong to theanine.tensor.nnet.conv.conv2d)")
    if image_shape is not None:
        if input_shape is not None:
            raise ValueError("conv2d: give input_shape or its old name image_shape, not both")
        warnings.warn("DEPRECATION: conv2d: the 'image_shape' keyword is replaced by "
                      "'input_shape'", UserWarning, stacklevel=2)
        input_shape = image_shape
    return _conv(2, input, filters, input_shape, filter_shape, border_mode, subsample,
                 filter_flip, filter_dilation, num_groups, unshared)


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """3-d convolution of a 5-d ``input`` ``(batch, channels, depth, rows, cols)`` with
    5-d ``filters``."""
    return _conv(3, input, filters, input_shape, filter_shape, border_mode, subsample,
                 filter_flip, filter_dilation, num_groups, False)


def _grad_inputs(nd, output_grad, filters, input_shape, filter_shape, border_mode, subsample,
                 filter_flip, filter_dilation, num_groups, unshared):
    who = f"conv{nd}d_grad_wrt_inputs"
    hint, spatial = _split_shape(input_shape, nd, "input_shape", who)
    op = _OPS[nd][2](imshp=hint, kshp=filter_shape, border_mode=border_mode,
                     subsample=subsample, filter_flip=filter_flip,
                     filter_dilation=filter_dilation, num_groups=num_groups,
                     unshared=unshared)
    return op(filters, _check_nd(output_grad, nd, "output_grad", who), spatial)


def _grad_weights(nd, input, output_grad, filter_shape, input_shape, border_mode, subsample,
                  filter_flip, filter_dilation, num_groups, unshared):
    who = f"conv{nd}d_grad_wrt_weights"
    hint, spatial = _split_shape(filter_shape, nd, "filter_shape", who,
                                 nd * (2 if unshared else 1) + 2)
    op = _OPS[nd][1](imshp=input_shape, kshp=hint, border_mode=border_mode,
                     subsample=subsample, filter_flip=filter_flip,
                     filter_dilation=filter_dilation, num_groups=num_groups,
                     unshared=unshared)
    return op(_check_nd(input, nd, "input", who),
              _check_nd(output_grad, nd, "output_grad", who), spatial)


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of ``conv2d`` in its input, given the gradient of its output.

    ``input_shape`` has 4 entries; the last two (the image's rows and columns) must
    be given (ints or symbolic scalars): with a stride they cannot be inferred.
    """
    return _grad_inputs(2, output_grad, filters, input_shape, filter_shape, border_mode,
                        subsample, filter_flip, filter_dilation, num_groups, unshared)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1, unshared=False):
    """The gradient of ``conv2d`` in its filters; ``filter_shape``'s last two entries
    must be given."""
    return _grad_weights(2, input, output_grad, filter_shape, input_shape, border_mode,
                         subsample, filter_flip, filter_dilation, num_groups, unshared)


def conv3d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                           filter_dilation=(1, 1, 1), num_groups=1):
    """``conv2d_grad_wrt_inputs`` for ``conv3d``."""
    return _grad_inputs(3, output_grad, filters, input_shape, filter_shape, border_mode,
                        subsample, filter_flip, filter_dilation, num_groups, False)


def conv3d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1, 1), filter_flip=True,
                            filter_dilation=(1, 1, 1), num_groups=1):
    """``conv2d_grad_wrt_weights`` for ``conv3d``."""
    return _grad_weights(3, input, output_grad, filter_shape, input_shape, border_mode,
                         subsample, filter_flip, filter_dilation, num_groups, False)


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip=True, filter_dilation=(1, 1),
                     num_groups=1, unshared=False):
    """The transpose of ``conv2d`` (a "deconvolution"): ``input`` plays the output
    gradient, ``output_shape`` (4 entries, last two required) the input's shape, and
    ``input_dilation`` the stride of the convolution it transposes."""
    return _grad_inputs(2, input, filters, output_shape, filter_shape, border_mode,
                        input_dilation, filter_flip, filter_dilation, num_groups, unshared)


__all__ = ["conv2d", "conv3d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "conv3d_grad_wrt_inputs", "conv3d_grad_wrt_weights", "conv2d_transpose",
           "get_conv_output_shape", "get_conv_shape_1axis", "get_conv_gradinputs_shape",
           "get_conv_gradinputs_shape_1axis", "get_conv_gradweights_shape",
           "get_conv_gradweights_shape_1axis", "normalize_border_mode",
           "BaseAbstractConv", "AbstractConv", "AbstractConv_gradWeights",
           "AbstractConv_gradInputs", "AbstractConv2d", "AbstractConv2d_gradWeights",
           "AbstractConv2d_gradInputs", "AbstractConv3d", "AbstractConv3d_gradWeights",
           "AbstractConv3d_gradInputs"]
