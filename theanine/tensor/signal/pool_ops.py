"""The pooling ops, with Theano 1.0's names, constructor arguments and inputs.

Every op takes ``(..., ws, stride, pad)`` as int vector *inputs* (as Theano does),
so a window size may be symbolic; when they are constants the output's static
shape is known at build time.  ``perform`` calls the vectorized kernels of
``pool_kernels``.  The gradient ops are linear in their last tensor input, and
each pair is the other's transpose: ``AveragePoolGrad`` <-> ``Pool`` (average and
sum modes), ``MaxPoolGrad`` <-> ``DownsampleFactorMaxGradGrad``; that is what makes
every order of derivative of max pooling exist.
"""

from __future__ import annotations

import warnings

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.null_type import disconnected_type
from theanine.graph.op import Op
from theanine.scalar import basic as ts
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.alloc import zeros_like
from theanine.tensor.signal import pool_kernels as pk
from theanine.tensor.type import TensorType

_NUMERIC = ts.INT_DTYPES + ts.FLOAT_DTYPES


def renamed_argument(new, old, new_name, old_name, default=None, who="pool", stacklevel=3):
    """Theano's handling of a deprecated argument name: the old one is accepted
    with a warning, giving both is an error."""
    if old is None:
        return new
    if new is not None and (default is None or not isinstance(new, (tuple, list))
                            or tuple(new) != tuple(default)):
        raise ValueError(f"{who}: both '{new_name}' and its deprecated name '{old_name}' "
                         f"were given; pass only '{new_name}'")
    warnings.warn(f"DEPRECATION: {who}: the '{old_name}' parameter is replaced by "
                  f"'{new_name}'", UserWarning, stacklevel=stacklevel)
    return old


def _constant_ints(var):
    """The entries of a constant int vector as Python ints, else None."""
    if isinstance(var, Constant):
        return tuple(int(v) for v in np.asarray(var.data).reshape(-1))
    return None


def _symbolic_axis_out(size, ws, stride, pad, ignore_border):
    """``pool_kernels.axis_out`` as a graph (some argument is symbolic)."""
    size, ws, stride, pad = (tb.as_tensor_variable(v) if isinstance(v, Variable)
                             else tb.constant(np.int64(v)) for v in (size, ws, stride, pad))
    size = size + pad * 2
    if ignore_border:
        return tm.maximum((size - ws) // stride + 1, 0)
    return tm.switch(tm.ge(stride, ws), (size - 1) // stride + 1,
                     tm.maximum((size - 1 - ws + stride) // stride, 0) + 1)


class PoolBase(Op):
    """Arguments and checks shared by the four pooling ops.

    ``mode='max_deterministic'`` is taken as ``'max'`` (as Theano does: the NumPy
    max is deterministic); ``openmp`` is accepted and ignored.
    """

    __props__ = ("ignore_border", "mode", "ndim")
    modes: tuple[str, ...] = pk.MODES

    def __init__(self, ignore_border=False, mode="max", ndim=2, openmp=None):
        if mode == "max_deterministic":
            mode = "max"
        if mode not in self.modes:
            hint = " ('average' is spelled 'average_inc_pad')" if mode == "average" else ""
            raise ValueError(f"{type(self).__name__}: mode must be one of {self.modes}, "
                             f"got {mode!r}{hint}")
        if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1:
            raise ValueError(f"{type(self).__name__}: ndim must be a positive int, got {ndim!r}")
        self.ignore_border = bool(ignore_border)
        self.mode = mode
        self.ndim = int(ndim)

    def __str__(self):
        return (f"{type(self).__name__}{{ndim={self.ndim}, mode={self.mode}, "
                f"ignore_border={self.ignore_border}}}")

    # -- inputs -----------------------------------------------------------------
    def _tensor(self, value, name, ndim=None):
        try:
            var = tb.as_tensor_variable(value)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{self}: {name} must be a tensor, got {value!r:.60} ({err})") \
                from None
        if var.dtype not in _NUMERIC:
            raise TypeError(f"{self}: {name} must be a float or integer tensor, got {var.type}")
        if var.ndim < self.ndim:
            raise TypeError(f"{self}: {name} has {var.ndim} dims; pooling over {self.ndim} "
                            f"axes needs at least {self.ndim}")
        if ndim is not None and var.ndim != ndim:
            raise TypeError(f"{self}: {name} has {var.ndim} dims, expected {ndim} (like x)")
        return var

    def _params(self, ws, stride, pad):
        """``ws``, ``stride`` (default ``ws``), ``pad`` (default zeros) as int vectors."""
        if ws is None:
            raise TypeError(f"{self}: ws (the window size) is required")
        if stride is None:
            stride = ws
        if pad is None:
            pad = (0,) * self.ndim
        out = []
        for name, value in (("ws", ws), ("stride", stride), ("pad", pad)):
            try:
                var = tb.as_tensor_variable(value)
            except (TypeError, ValueError) as err:
                raise TypeError(f"{self}: {name} must be a vector of ints, got {value!r:.60} "
                                f"({err})") from None
            if var.dtype not in ts.INT_DTYPES or var.ndim != 1:
                raise TypeError(f"{self}: {name} must be a vector of ints, got {var.type}")
            if var.type.shape[0] not in (None, self.ndim):
                raise ValueError(f"{self}: {name} has {var.type.shape[0]} entries, one per "
                                 f"pooled axis ({self.ndim}) expected")
            out.append(var)
        self.check_params(*(_constant_ints(v) for v in out))
        return out

    def check_params(self, ws, stride, pad):
        """Value checks (each argument a tuple of ints, or None when unknown)."""
        for name, vals, low in (("ws", ws, 1), ("stride", stride, 1), ("pad", pad, 0)):
            if vals is not None and len(vals) != self.ndim:
                raise ValueError(f"{self}: {name} has {len(vals)} entries, one per pooled "
                                 f"axis ({self.ndim}) expected")
            if vals is not None and any(v < low for v in vals):
                raise ValueError(f"{self}: {name} must be >= {low}, got {vals}")
        if pad is not None and any(pad) and not self.ignore_border:
            raise NotImplementedError(f"{self}: padding works only with ignore_border=True "
                                      f"(pad={pad})")
        if pad is not None and ws is not None and any(p >= w for p, w in zip(pad, ws)):
            raise NotImplementedError(f"{self}: padding must be smaller than the window "
                                      f"(pad={pad}, ws={ws})")

    def _values(self, ws, stride, pad):
        vals = [tuple(int(v) for v in np.asarray(a).reshape(-1)) for a in (ws, stride, pad)]
        self.check_params(*vals)
        return vals

    def _entries(self, var):
        """A parameter's entries for shape graphs: ints when constant, else scalars."""
        found = _constant_ints(var)
        return found if found is not None else [var[i] for i in range(self.ndim)]

    def _pooled_shape(self, x_type, ws, stride, pad):
        """The static output shape, pooled sizes None unless everything is known."""
        nd = self.ndim
        lead = tuple(x_type.shape[:x_type.ndim - nd])
        vals = [_constant_ints(v) for v in (ws, stride, pad)]
        sizes = x_type.shape[x_type.ndim - nd:]
        if any(v is None for v in vals) or any(s is None for s in sizes):
            return lead + (None,) * nd
        return pk.out_shape(tuple(x_type.shape), *vals, self.ignore_border)

    def _check_pooled(self, name, shape, x_shape, vals):
        want = pk.out_shape(x_shape, *vals, self.ignore_border)
        if tuple(shape) != want:
            raise ValueError(f"{self}: {name} has shape {tuple(shape)}, the pooled shape of "
                             f"x {tuple(x_shape)} is {want}")

    @staticmethod
    def out_shape(imgshape, ws=None, ignore_border=False, stride=None, pad=None, ndim=2,
                  ds=None, st=None, padding=None):
        """The shape of pooling an array of ``imgshape`` (Theano's ``Pool.out_shape``).

        Entries may be ints or symbolic scalars (then the result has graphs).
        """
        ws = renamed_argument(ws, ds, "ws", "ds", who="out_shape")
        stride = renamed_argument(stride, st, "stride", "st", who="out_shape")
        pad = renamed_argument(pad, padding, "pad", "padding", who="out_shape")
        if ws is None:
            raise ValueError("out_shape: ws (the window size) is required")
        if len(imgshape) < ndim:
            raise TypeError(f"out_shape: imgshape {tuple(imgshape)} must have at least "
                            f"{ndim} dimensions")
        stride = ws if stride is None else stride
        pad = (0,) * ndim if pad is None else pad
        lead = list(imgshape[:len(imgshape) - ndim])
        pooled = []
        for i in range(ndim):
            args = (imgshape[len(imgshape) - ndim + i], ws[i], stride[i], pad[i])
            if any(isinstance(a, Variable) for a in args):
                pooled.append(_symbolic_axis_out(*args, ignore_border))
            else:
                pooled.append(pk.axis_out(*(int(a) for a in args), ignore_border))
        return lead + pooled

    def _disconnected_params(self):
        return [disconnected_type() for _ in range(3)]


class Pool(PoolBase):
    """Pool the last ``ndim`` axes of ``x``: ``Pool(ignore_border, mode, ndim)(x, ws,
    stride=None, pad=None)``."""

    def make_node(self, x, ws, stride=None, pad=None):
        x = self._tensor(x, "x")
        ws, stride, pad = self._params(ws, stride, pad)
        out = TensorType(x.dtype, self._pooled_shape(x.type, ws, stride, pad))()
        return Apply(self, [x, ws, stride, pad], [out])

    def perform(self, node, inputs, output_storage):
        x, *params = inputs
        vals = self._values(*params)
        output_storage[0][0] = pk.pool(np.asarray(x), *vals, self.ignore_border, self.mode)

    def infer_shape(self, fgraph, node, input_shapes):
        _, ws, stride, pad = node.inputs
        return [tuple(self.out_shape(input_shapes[0], self._entries(ws), self.ignore_border,
                                     self._entries(stride), self._entries(pad), self.ndim))]

    def connection_pattern(self, node):
        return [[True], [False], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, ws, stride, pad = inputs
        (gz,) = output_grads
        if x.dtype not in ts.FLOAT_DTYPES:
            return [disconnected_type()] + self._disconnected_params()
        if self.mode == "max":
            gx = MaxPoolGrad(self.ignore_border, ndim=self.ndim)(x, outputs[0], gz, ws,
                                                                 stride, pad)
        else:
            gx = AveragePoolGrad(self.ignore_border, self.mode, self.ndim)(x, gz, ws,
                                                                           stride, pad)
        return [gx] + self._disconnected_params()


class _MaxGradBase(PoolBase):
    """What ``MaxPoolGrad`` and ``DownsampleFactorMaxGradGrad`` share: max mode only,
    inputs ``(x, maxout, g, ws, stride, pad)``, connected through ``g`` only."""

    modes = ("max",)

    def __init__(self, ignore_border, mode="max", ndim=2, openmp=None):
        super().__init__(ignore_border, mode, ndim, openmp)

    def _inputs(self, x, maxout, g, ws, stride, pad):
        x = self._tensor(x, "x")
        maxout = self._tensor(maxout, "maxout", x.ndim)
        g = self._tensor(g, "gz", x.ndim)
        ws, stride, pad = self._params(ws, stride, pad)
        return [x, maxout, g, ws, stride, pad]

    def connection_pattern(self, node):
        return [[True], [True], [True], [False], [False], [False]]


class MaxPoolGrad(_MaxGradBase):
    """Gradient of max pooling: ``MaxPoolGrad(ignore_border, ndim=..)(x, maxout, gz, ws,
    stride=None, pad=None)``.

    Theano's rule: a window's ``gz`` goes to every cell of the window equal to the
    window's max, so tied cells each receive the whole ``gz`` (the result is then not
    the derivative of any one selection; with distinct values it is the gradient).
    """

    def make_node(self, x, maxout, gz, ws, stride=None, pad=None):
        inputs = self._inputs(x, maxout, gz, ws, stride, pad)
        return Apply(self, inputs, [TensorType(inputs[0].dtype, inputs[0].type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, maxout, gz, *params = (np.asarray(v) for v in inputs)
        vals = self._values(*params)
        self._check_pooled("maxout", maxout.shape, x.shape, vals)
        self._check_pooled("gz", gz.shape, x.shape, vals)
        output_storage[0][0] = pk.max_pool_grad(x, maxout, gz, *vals)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, gz, ws, stride, pad = inputs
        (ggx,) = output_grads
        ggz = DownsampleFactorMaxGradGrad(self.ignore_border, ndim=self.ndim)(
            x, maxout, ggx, ws, stride, pad)
        # zero in x and maxout: the routing is piecewise constant in them
        return [zeros_like(x), zeros_like(maxout), ggz] + self._disconnected_params()


class AveragePoolGrad(PoolBase):
    """Gradient of sum/average pooling: ``AveragePoolGrad(ignore_border, mode, ndim)(x,
    gz, ws, stride=None, pad=None)``; only ``x``'s shape is used."""

    modes = ("sum", "average_inc_pad", "average_exc_pad")

    def __init__(self, ignore_border, mode="average_inc_pad", ndim=2):
        super().__init__(ignore_border, mode, ndim)

    def make_node(self, x, gz, ws, stride=None, pad=None):
        x = self._tensor(x, "x")
        gz = self._tensor(gz, "gz", x.ndim)
        ws, stride, pad = self._params(ws, stride, pad)
        return Apply(self, [x, gz, ws, stride, pad], [TensorType(x.dtype, x.type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, gz, *params = (np.asarray(v) for v in inputs)
        vals = self._values(*params)
        self._check_pooled("gz", gz.shape, x.shape, vals)
        output_storage[0][0] = pk.average_pool_grad(x.shape, gz, *vals, self.ignore_border,
                                                     self.mode, node.outputs[0].dtype)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[0])]

    def connection_pattern(self, node):
        return [[True], [True], [False], [False], [False]]

    def L_op(self, inputs, outputs, output_grads):
        x, gz, ws, stride, pad = inputs
        (ggx,) = output_grads
        ggz = Pool(self.ignore_border, self.mode, self.ndim)(ggx, ws, stride, pad)
        return [zeros_like(x), ggz] + self._disconnected_params()


class DownsampleFactorMaxGradGrad(_MaxGradBase):
    """Gradient of ``MaxPoolGrad`` in ``gz``: ``DownsampleFactorMaxGradGrad(
    ignore_border, ndim=..)(x, maxout, ggx, ws, stride=None, pad=None)`` sums, per
    window, ``ggx`` over the cells equal to the window's max (output shaped like
    ``maxout``).  Theano's name is kept; it serves every ``ndim``.
    """

    def make_node(self, x, maxout, gz, ws, stride=None, pad=None):
        inputs = self._inputs(x, maxout, gz, ws, stride, pad)
        return Apply(self, inputs, [TensorType(inputs[0].dtype, inputs[1].type.shape)()])

    def perform(self, node, inputs, output_storage):
        x, maxout, ggx, *params = (np.asarray(v) for v in inputs)
        vals = self._values(*params)
        self._check_pooled("maxout", maxout.shape, x.shape, vals)
        if ggx.shape != x.shape:
            raise ValueError(f"{self}: gz has shape {ggx.shape}, x has {x.shape}")
        output_storage[0][0] = pk.max_pool_grad_grad(x, maxout, ggx, *vals)

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(input_shapes[1])]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, ggx, ws, stride, pad = inputs
        (gz,) = output_grads
        gggx = MaxPoolGrad(self.ignore_border, ndim=self.ndim)(x, maxout, gz, ws, stride, pad)
        return [zeros_like(x), zeros_like(maxout), gggx] + self._disconnected_params()


__all__ = ["PoolBase", "Pool", "MaxPoolGrad", "AveragePoolGrad",
           "DownsampleFactorMaxGradGrad"]
