"""The convolution ops, with Theano 1.0's names, constructor arguments and inputs.

``AbstractConv{2d,3d}(img, kern)``, ``AbstractConv{2d,3d}_gradWeights(img, topgrad,
shape)`` and ``AbstractConv{2d,3d}_gradInputs(kern, topgrad, shape)``, where
``shape`` is the spatial shape of the result (with a stride it cannot be told from
``topgrad``).  The three are bilinear and each one's gradients are the other two,
so derivatives of every order exist.  ``imshp``/``kshp`` are shape hints (None
entries allowed): a hint that contradicts a static shape is an error when the node
is built, one that contradicts the values an error when it runs.  With
``unshared=True`` the filters are ``(F, *output pixels, C // groups, *kernel)``.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.nnet import conv_kernels as ck
from theanine.tensor.type import TensorType

BORDER_WORDS = ("valid", "full", "half")


def _ints(value, n, name, low, who):
    """``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,) * n
    try:
        out = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: {name} must be {n} ints, got {value!r}") from None
    if len(out) != n or any(v < low for v in out):
        raise ValueError(f"{who}: {name} must be {n} ints >= {low}, got {value!r}")
    return out


def normalize_border_mode(border_mode, convdim, who="conv"):
    """``'valid'``/``'full'``/``'half'``, or one entry per spatial axis: an int pad on
    both sides or a ``(low, high)`` pair.  An int means that pad on every axis; all
    zeros is ``'valid'``."""
    if isinstance(border_mode, str):
        if border_mode not in BORDER_WORDS:
            raise ValueError(f"{who}: border_mode must be one of {BORDER_WORDS}, an int or "
                             f"a tuple of {convdim} ints or pairs, got {border_mode!r}")
        return border_mode
    if isinstance(border_mode, (int, np.integer)) and not isinstance(border_mode, bool):
        border_mode = (int(border_mode),) * convdim
    if not isinstance(border_mode, (tuple, list)) or len(border_mode) != convdim:
        raise ValueError(f"{who}: border_mode must be one of {BORDER_WORDS}, an int or a "
                         f"tuple of {convdim} ints or pairs, got {border_mode!r}")
    out = []
    for p in border_mode:
        if isinstance(p, (tuple, list)):
            pair = _ints(p, 2, "a border_mode pair", 0, who)
            out.append(pair if pair[0] != pair[1] else pair[0])
        else:
            out.append(_ints((p,), 1, "border_mode", 0, who)[0])
    if all(p == 0 for p in out):
        return "valid"
    return tuple(out)


def _hint(shape, n, name, who):
    if shape is None:
        return None
    if isinstance(shape, Variable):
        if not isinstance(shape, Constant):
            raise TypeError(f"{who}: {name} must hold ints or None, got the symbolic {shape}")
        shape = np.asarray(shape.data).tolist()
    out = []
    for v in shape:
        if isinstance(v, Constant):
            v = v.data
        elif isinstance(v, Variable):   # a symbolic size: unknown when building
            v = None
        out.append(None if v is None else int(v))
    if len(out) != n:
        raise ValueError(f"{who}: {name} must have {n} entries, got {tuple(shape)!r}")
    return tuple(out)


def check_hint(who, name, hint, shape):
    """Error when the known entries of ``hint`` contradict ``shape`` (None: unknown)."""
    if hint is None:
        return
    for h, s in zip(hint, shape):
        if h is not None and s is not None and h != s:
            raise ValueError(f"{who}: the {name} {tuple(shape)} does not match the shape "
                             f"hint {hint} given for it")


def _symbolic_out(size, k, pad, stride, dilation):
    """``conv_kernels.out_size`` for symbolic entries (``pad``: a word or a pair)."""
    span = (k - 1) * dilation + 1
    if pad == "full":
        total = size + (span - 1) * 2
    elif pad == "half":
        total = size + (span // 2) * 2
    else:
        total = size + pad[0] + pad[1]
    return tm.maximum((total - span) // stride + 1, 0)


class BaseAbstractConv(Op):
    """What the convolution ops share: arguments, shape hints, padding, shapes."""

    __props__ = ("convdim", "border_mode", "subsample", "filter_flip", "imshp", "kshp",
                 "filter_dilation", "num_groups", "unshared")

    def __init__(self, convdim, imshp=None, kshp=None, border_mode="valid", subsample=None,
                 filter_flip=True, filter_dilation=None, num_groups=1, unshared=False):
        who = type(self).__name__
        self.convdim = int(convdim)
        n = self.convdim
        self.border_mode = normalize_border_mode(border_mode, n, who)
        self.subsample = _ints((1,) * n if subsample is None else subsample, n,
                               "subsample", 1, who)
        self.filter_dilation = _ints((1,) * n if filter_dilation is None else filter_dilation,
                                     n, "filter_dilation", 1, who)
        self.filter_flip = bool(filter_flip)
        if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) \
                or num_groups < 1:
            raise ValueError(f"{who}: num_groups must be a positive int, got {num_groups!r}")
        self.num_groups = int(num_groups)
        # unshared: a different filter per output pixel, filters (F, *outs, Cg, *K)
        self.unshared = bool(unshared)
        self.imshp = _hint(imshp, n + 2, "imshp", who)
        self.kshp = _hint(kshp, self.kern_ndim, "kshp", who)

    def __str__(self):
        unshared = ", unshared" if self.unshared else ""
        return (f"{type(self).__name__}{{{self.border_mode}, {self.subsample}, "
                f"{self.filter_flip}, {self.filter_dilation}, {self.num_groups}{unshared}}}")

    # -- inputs -----------------------------------------------------------------
    @property
    def kern_ndim(self):
        return self.convdim * (2 if self.unshared else 1) + 2

    def _tensor(self, value, name):
        var = tb.as_tensor_variable(value)
        if var.ndim != self.convdim + 2:
            raise TypeError(f"{self}: {name} must be a {self.convdim + 2}-d tensor "
                            f"(batch, channels, {self.convdim} spatial axes), got {var.type}")
        return var

    def _kern(self, value):
        var = tb.as_tensor_variable(value)
        if var.ndim != self.kern_ndim:
            layout = ("(filters, *output pixels, channels, *kernel)" if self.unshared
                      else "(filters, channels, *kernel)")
            raise TypeError(f"{self}: kern must be a {self.kern_ndim}-d tensor {layout}, "
                            f"got {var.type}")
        return var

    def kern_spatial(self, kshape):
        """The kernel's spatial sizes from a filters shape (last ``convdim`` entries)."""
        return tuple(kshape[len(kshape) - self.convdim:])

    def kern_channels(self, kshape):
        return kshape[len(kshape) - self.convdim - 1]

    def kern_shape(self, filters, outs, channels, spatial):
        """A filters shape from its parts (the output pixels only when unshared)."""
        return (filters,) + (tuple(outs) if self.unshared else ()) + (channels,) \
            + tuple(spatial)

    def _floats(self, *vars):
        dtype = str(np.result_type(*(v.dtype for v in vars)))
        if dtype not in ts.FLOAT_DTYPES:
            raise TypeError(f"{self}: convolution needs float tensors, got "
                            f"{', '.join(str(v.type) for v in vars)}")
        return [tb.cast(v, dtype) for v in vars]

    def _shape_input(self, shape):
        try:
            var = tb.as_tensor_variable(shape)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{self}: shape must be {self.convdim} ints, got {shape!r:.60} "
                            f"({err})") from None
        if var.dtype not in ts.INT_DTYPES or var.ndim != 1 \
                or var.type.shape[0] not in (None, self.convdim):
            raise TypeError(f"{self}: shape must be a vector of {self.convdim} ints, got "
                            f"{var.type}")
        return var

    def _static_spatial(self, var):
        if isinstance(var, Constant):
            return tuple(int(v) for v in np.asarray(var.data).reshape(-1))
        return (None,) * self.convdim

    # -- geometry ---------------------------------------------------------------
    def pads(self, kshape):
        return ck.pads_for(self.border_mode, kshape, self.filter_dilation)

    def _pad_spec(self, i):
        if isinstance(self.border_mode, str) and self.border_mode != "valid":
            return self.border_mode
        if self.border_mode == "valid":
            return (0, 0)
        p = self.border_mode[i]
        return (p, p) if isinstance(p, int) else p

    def out_spatial(self, in_sizes, k_sizes):
        """Output spatial sizes from input and kernel sizes (ints, None or symbolic)."""
        out = []
        for i, (n, k) in enumerate(zip(in_sizes, k_sizes)):
            s, d = self.subsample[i], self.filter_dilation[i]
            if n is None or k is None:
                out.append(None)
            elif isinstance(n, Variable) or isinstance(k, Variable):
                out.append(_symbolic_out(n, k, self._pad_spec(i), s, d))
            else:
                pad = ck.pads_for(self.border_mode, (int(k),), (d,))[0] \
                    if isinstance(self.border_mode, str) else self._pad_spec(i)
                out.append(ck.out_size(int(n), int(k), pad, s, d))
        return tuple(out)

    def _check_groups(self, channels, kern_channels, filters):
        g = self.num_groups
        if channels is not None and kern_channels is not None and channels != kern_channels * g:
            raise ValueError(f"{self}: the image has {channels} channels, the filters expect "
                             f"{kern_channels} per group x {g} group(s)")
        if filters is not None and filters % g:
            raise ValueError(f"{self}: {filters} filters cannot be split into {g} groups")

    def _check_top(self, top_shape, img_shape, kern_shape):
        want = (img_shape[0], kern_shape[0]) + self.out_spatial(img_shape[2:],
                                                                self.kern_spatial(kern_shape))
        for t, w in zip(top_shape, want):
            if t is not None and w is not None and t != w:
                raise ValueError(f"{self}: the output gradient has shape {tuple(top_shape)}, "
                                 f"the convolution of an image {tuple(img_shape)} with "
                                 f"filters {tuple(kern_shape)} gives {want}")

    def check_shapes(self, img_shape, kern_shape, top_shape=None):
        """Every check on concrete (or partly known) shapes: hints, groups, topgrad."""
        who = type(self).__name__
        check_hint(who, "image shape", self.imshp, img_shape)
        check_hint(who, "filter shape", self.kshp, kern_shape)
        self._check_groups(img_shape[1], self.kern_channels(kern_shape), kern_shape[0])
        if self.unshared:
            outs = self.out_spatial(img_shape[2:], self.kern_spatial(kern_shape))
            for got, want in zip(kern_shape[1:1 + self.convdim], outs):
                if got is not None and want is not None and got != want:
                    raise ValueError(f"{self}: unshared filters {tuple(kern_shape)} need one "
                                     f"filter per output pixel {outs}")
        if top_shape is not None:
            self._check_top(top_shape, img_shape, kern_shape)

    def _spatial_shape(self, var):
        """The spatial shape of an image or filters (its last ``convdim`` axes):
        constant ints when the static shape knows them (so the gradient's static
        shape is known too), else a shape graph."""
        first = var.ndim - self.convdim
        static = var.type.shape[first:]
        return static if None not in static else var.shape[first:]

    def _cast_grads(self, grads, inputs):
        return [tb.cast(g, v.dtype) for g, v in zip(grads, inputs)]


class AbstractConv(BaseAbstractConv):
    """``AbstractConv(convdim, ...)(img, kern)``: the convolution itself."""

    def make_node(self, img, kern):
        img, kern = self._floats(self._tensor(img, "img"), self._kern(kern))
        ishape, kshape = img.type.shape, kern.type.shape
        self.check_shapes(ishape, kshape)
        out = (ishape[0], kshape[0]) + self.out_spatial(ishape[2:], self.kern_spatial(kshape))
        return Apply(self, [img, kern], [TensorType(img.dtype, out)()])

    def perform(self, node, inputs, output_storage):
        img, kern = (np.asarray(v) for v in inputs)
        self.check_shapes(img.shape, kern.shape)
        w = ck.flip(kern, self.convdim) if self.filter_flip else kern
        out = ck.correlate(img, w, self.pads(self.kern_spatial(kern.shape)), self.subsample,
                           self.filter_dilation, self.num_groups, self.unshared)
        output_storage[0][0] = out.astype(node.outputs[0].dtype, copy=False)

    def infer_shape(self, fgraph, node, input_shapes):
        ishape, kshape = input_shapes
        return [(ishape[0], kshape[0]) + self.out_spatial(ishape[2:], self.kern_spatial(kshape))]

    def L_op(self, inputs, outputs, output_grads):
        img, kern = inputs
        (top,) = output_grads
        args = self._args()
        gimg = self._grad_inputs_cls(*args)(kern, top, self._spatial_shape(img))
        gkern = self._grad_weights_cls(*args)(img, top, self._spatial_shape(kern))
        return self._cast_grads([gimg, gkern], inputs)


class AbstractConv_gradWeights(BaseAbstractConv):
    """``(img, topgrad, shape)`` -> the gradient in the filters, whose spatial shape is
    ``shape``."""

    def make_node(self, img, topgrad, shape):
        img, topgrad = self._floats(self._tensor(img, "img"), self._tensor(topgrad, "topgrad"))
        shape = self._shape_input(shape)
        g = self.num_groups
        chans = img.type.shape[1]
        kshape = self.kern_shape(topgrad.type.shape[1], topgrad.type.shape[2:],
                                 None if chans is None else chans // g,
                                 self._static_spatial(shape))
        self.check_shapes(img.type.shape, kshape, topgrad.type.shape)
        return Apply(self, [img, topgrad, shape], [TensorType(img.dtype, kshape)()])

    def perform(self, node, inputs, output_storage):
        img, top, shape = (np.asarray(v) for v in inputs)
        kspatial = tuple(int(v) for v in shape)
        kshape = self.kern_shape(top.shape[1], top.shape[2:], img.shape[1] // self.num_groups,
                                 kspatial)
        if img.shape[1] % self.num_groups:
            raise ValueError(f"{self}: {img.shape[1]} image channels cannot be split into "
                             f"{self.num_groups} groups")
        self.check_shapes(img.shape, kshape, top.shape)
        gw = ck.correlate_grad_weights(img, top, kspatial, self.pads(kspatial), self.subsample,
                                       self.filter_dilation, self.num_groups, self.unshared)
        if self.filter_flip:
            gw = ck.flip(gw, self.convdim)
        output_storage[0][0] = np.ascontiguousarray(gw, dtype=node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        ishape, tshape, _ = input_shapes
        shape = node.inputs[2]
        spatial = self._static_spatial(shape)
        if None in spatial:
            spatial = tuple(shape[i] for i in range(self.convdim))
        return [self.kern_shape(tshape[1], tshape[2:], ishape[1] // self.num_groups, spatial)]

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        img, top, _ = inputs
        (gw,) = output_grads
        args = self._args()
        gimg = self._grad_inputs_cls(*args)(gw, top, self._spatial_shape(img))
        gtop = self._forward_cls(*args)(img, gw)
        return self._cast_grads([gimg, gtop], inputs[:2]) + [disconnected_type()]


class AbstractConv_gradInputs(BaseAbstractConv):
    """``(kern, topgrad, shape)`` -> the gradient in the image, whose spatial shape is
    ``shape``."""

    def make_node(self, kern, topgrad, shape):
        kern, topgrad = self._floats(self._kern(kern), self._tensor(topgrad, "topgrad"))
        shape = self._shape_input(shape)
        kc = self.kern_channels(kern.type.shape)
        ishape = (topgrad.type.shape[0], None if kc is None else kc * self.num_groups) \
            + self._static_spatial(shape)
        self.check_shapes(ishape, kern.type.shape, topgrad.type.shape)
        return Apply(self, [kern, topgrad, shape], [TensorType(kern.dtype, ishape)()])

    def perform(self, node, inputs, output_storage):
        kern, top, shape = (np.asarray(v) for v in inputs)
        spatial = tuple(int(v) for v in shape)
        ishape = (top.shape[0], self.kern_channels(kern.shape) * self.num_groups) + spatial
        self.check_shapes(ishape, kern.shape, top.shape)
        w = ck.flip(kern, self.convdim) if self.filter_flip else kern
        gx = ck.correlate_grad_inputs(w, top, spatial, self.pads(self.kern_spatial(kern.shape)),
                                      self.subsample, self.filter_dilation, self.num_groups,
                                      self.unshared)
        output_storage[0][0] = gx.astype(node.outputs[0].dtype, copy=False)

    def infer_shape(self, fgraph, node, input_shapes):
        kshape, tshape, _ = input_shapes
        shape = node.inputs[2]
        spatial = self._static_spatial(shape)
        if None in spatial:
            spatial = tuple(shape[i] for i in range(self.convdim))
        return [(tshape[0], self.kern_channels(kshape) * self.num_groups) + spatial]

    def connection_pattern(self, node):
        return [[True], [True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        kern, top, _ = inputs
        (gx,) = output_grads
        args = self._args()
        gkern = self._grad_weights_cls(*args)(gx, top, self._spatial_shape(kern))
        gtop = self._forward_cls(*args)(gx, kern)
        return self._cast_grads([gkern, gtop], inputs[:2]) + [disconnected_type()]


def _make(base, convdim):
    """The ``convdim``-d class of ``base``, with Theano's constructor signature."""
    ones = (1,) * convdim

    def __init__(self, imshp=None, kshp=None, border_mode="valid", subsample=ones,
                 filter_flip=True, filter_dilation=ones, num_groups=1, unshared=False):
        base.__init__(self, convdim, imshp, kshp, border_mode, subsample, filter_flip,
                      filter_dilation, num_groups, unshared)

    def _args(self):
        return (self.imshp, self.kshp, self.border_mode, self.subsample, self.filter_flip,
                self.filter_dilation, self.num_groups, self.unshared)

    name = {AbstractConv: "AbstractConv", AbstractConv_gradWeights: "AbstractConv_gradWeights",
            AbstractConv_gradInputs: "AbstractConv_gradInputs"}[base]
    name = name.replace("AbstractConv", f"AbstractConv{convdim}d")
    return type(name, (base,), {"__init__": __init__, "_args": _args,
                                "__doc__": f"{base.__doc__}  ({convdim}-d)",
                                "__module__": __name__})


AbstractConv2d = _make(AbstractConv, 2)
AbstractConv2d_gradWeights = _make(AbstractConv_gradWeights, 2)
AbstractConv2d_gradInputs = _make(AbstractConv_gradInputs, 2)
AbstractConv3d = _make(AbstractConv, 3)
AbstractConv3d_gradWeights = _make(AbstractConv_gradWeights, 3)
AbstractConv3d_gradInputs = _make(AbstractConv_gradInputs, 3)

for _family in ((AbstractConv2d, AbstractConv2d_gradWeights, AbstractConv2d_gradInputs),
                (AbstractConv3d, AbstractConv3d_gradWeights, AbstractConv3d_gradInputs)):
    for _cls in _family:
        _cls._forward_cls, _cls._grad_weights_cls, _cls._grad_inputs_cls = _family

__all__ = ["BaseAbstractConv", "AbstractConv", "AbstractConv_gradWeights",
           "AbstractConv_gradInputs", "AbstractConv2d", "AbstractConv2d_gradWeights",
           "AbstractConv2d_gradInputs", "AbstractConv3d", "AbstractConv3d_gradWeights",
           "AbstractConv3d_gradInputs", "normalize_border_mode", "check_hint"]
