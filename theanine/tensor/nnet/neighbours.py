"""Theano's ``tensor.nnet.neighbours``: image patches as rows (``images2neibs``) and
back (``neibs2images``).

``Images2Neibs`` cuts every ``neib_shape`` window of the last two axes of a 4-d
tensor, ``neib_step`` apart, into one row each (rows ordered by image, channel,
window row, window column; each row the window in C order).  ``Neibs2Images`` is its
transpose: it adds each row back where its window came from, so each op is the
other's gradient.  Modes (per axis, ``c`` the window size, ``s`` the step, ``n``
the image size):

* ``'valid'``: windows inside the image; ``(n - c)`` must be a multiple of ``s``;
* ``'ignore_borders'``: windows inside the image; a partial last one is dropped;
* ``'half'``: zero padding of ``c // 2`` on both sides;
* ``'full'``: zero padding of ``c - 1`` on both sides;
* ``'wrap_centered'``: a window centred on every ``s``-th pixel, wrapping around
  the image (``c`` must be odd).

Window sizes and steps are fixed when the graph is built (constants), as the
kernels are plain NumPy: ``sliding_window_view`` forward, one strided
``+=`` per window offset backward.
"""

from __future__ import annotations

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable
from theanine.graph.op import Op
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.type import TensorType

MODES = ("valid", "ignore_borders", "half", "full", "wrap_centered")


def axis_geometry(mode, n, c, s):
    """``(pad_before, pad_after, windows)`` along one axis of size ``n`` (Python ints)."""
    if mode == "wrap_centered":
        return c // 2, c // 2, -(-n // s)
    pad = {"valid": 0, "ignore_borders": 0, "half": c // 2, "full": c - 1}[mode]
    span = n + 2 * pad - c
    if mode == "valid" and (span < 0 or span % s):
        raise ValueError(f"images2neibs: mode 'valid' needs (image size {n} - window {c}) "
                         f"to be a non-negative multiple of the step {s}; use "
                         "mode='ignore_borders' to drop the partial windows")
    return pad, pad, max(span // s + 1, 0)


def _symbolic_windows(mode, n, c, s):
    if mode == "wrap_centered":
        return (n + (s - 1)) // s
    pad = {"valid": 0, "ignore_borders": 0, "half": c // 2, "full": c - 1}[mode]
    return tm.maximum((n + (2 * pad - c)) // s + 1, 0)


def _constant_pair(value, what):
    """A pair of positive Python ints from ints, a tuple or a constant vector."""
    if isinstance(value, Variable):
        if not isinstance(value, Constant):
            raise NotImplementedError(f"images2neibs: {what} must be known when the graph is "
                                      "built (a tuple of ints or a constant)")
        value = value.data
    pair = tuple(int(v) for v in np.asarray(value).reshape(-1))
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"images2neibs: {what} must be two positive ints, got {value!r}")
    return pair


class _NeibsOp(Op):
    __props__ = ("mode", "neib_shape", "neib_step")

    def __init__(self, mode="valid", neib_shape=(2, 2), neib_step=None):
        if mode not in MODES:
            raise ValueError(f"images2neibs: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.neib_shape = _constant_pair(neib_shape, "neib_shape")
        self.neib_step = self.neib_shape if neib_step is None else \
            _constant_pair(neib_step, "neib_step")
        if mode == "wrap_centered" and not all(c % 2 for c in self.neib_shape):
            raise ValueError(f"images2neibs: mode 'wrap_centered' needs odd window sizes, got "
                             f"{self.neib_shape}")

    def geometry(self, image_shape):
        return [axis_geometry(self.mode, n, c, s)
                for n, c, s in zip(image_shape[2:], self.neib_shape, self.neib_step)]

    def static_rows(self, shape):
        if any(v is None for v in shape):
            return None
        (_, _, n0), (_, _, n1) = self.geometry(shape)
        return shape[0] * shape[1] * n0 * n1

    def symbolic_rows(self, shape):
        n0, n1 = (_symbolic_windows(self.mode, n, c, s)
                  for n, c, s in zip(shape[2:], self.neib_shape, self.neib_step))
        return shape[0] * shape[1] * n0 * n1


class Images2Neibs(_NeibsOp):
    """``ten4`` (batch, channels, rows, cols) -> one row per window."""

    def make_node(self, ten4):
        ten4 = tb.as_tensor_variable(ten4)
        if ten4.ndim != 4:
            raise TypeError(f"images2neibs: ten4 ({ten4}) has {ten4.ndim} dims; it must be "
                            "4-d (batch, channels, rows, cols)")
        try:
            rows = self.static_rows(ten4.type.shape)
        except ValueError:
            rows = None          # reported with the actual shape when it runs
        width = self.neib_shape[0] * self.neib_shape[1]
        return Apply(self, [ten4], [TensorType(ten4.dtype, (rows, width))()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = images_to_neibs(inputs[0], self)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(self.symbolic_rows(input_shapes[0]),
                 self.neib_shape[0] * self.neib_shape[1])]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        back = Neibs2Images(self.mode, self.neib_shape, self.neib_step)
        return [back(gz, x.shape)]


class Neibs2Images(_NeibsOp):
    """The transpose of ``Images2Neibs``: rows added back into an image of
    ``original_shape`` (overlapping windows sum)."""

    def make_node(self, neibs, original_shape):
        neibs = tb.as_tensor_variable(neibs)
        original_shape = tb.cast(tb.as_tensor_variable(original_shape), "int64")
        if neibs.ndim != 2 or original_shape.ndim != 1:
            raise TypeError(f"neibs2images: neibs must be a matrix and original_shape a "
                            f"vector, got {neibs.ndim} and {original_shape.ndim} dims")
        static = (None,) * 4
        if isinstance(original_shape, Constant):
            static = tuple(int(v) for v in original_shape.data)
            if len(static) != 4:
                raise ValueError(f"neibs2images: original_shape {static} must have 4 entries")
        return Apply(self, [neibs, original_shape], [TensorType(neibs.dtype, static)()])

    def perform(self, node, inputs, output_storage):
        neibs, shape = inputs
        output_storage[0][0] = neibs_to_images(neibs, tuple(int(v) for v in shape), self)

    def infer_shape(self, fgraph, node, input_shapes):
        shape = node.inputs[1]
        return [tuple(shape[i] for i in range(4))]

    def connection_pattern(self, node):
        return [[True], [False]]

    def L_op(self, inputs, outputs, output_grads):
        forward = Images2Neibs(self.mode, self.neib_shape, self.neib_step)
        return [forward(output_grads[0]), None]


# -- NumPy kernels -------------------------------------------------------------------


def images_to_neibs(x, op):
    (b0, a0, n0), (b1, a1, n1) = op.geometry(x.shape)
    (c0, c1), (s0, s1) = op.neib_shape, op.neib_step
    pad = ((0, 0), (0, 0), (b0, a0), (b1, a1))
    if op.mode == "wrap_centered":
        padded = np.pad(x, pad, mode="wrap")
    else:
        padded = np.pad(x, pad)
    if n0 == 0 or n1 == 0 or padded.shape[2] < c0 or padded.shape[3] < c1:
        return np.zeros((0, c0 * c1), dtype=x.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (c0, c1), axis=(2, 3))
    windows = windows[:, :, :s0 * (n0 - 1) + 1:s0, :s1 * (n1 - 1) + 1:s1]
    return np.ascontiguousarray(windows).reshape(-1, c0 * c1)


def neibs_to_images(neibs, shape, op):
    (b0, a0, n0), (b1, a1, n1) = op.geometry(shape)
    (c0, c1), (s0, s1) = op.neib_shape, op.neib_step
    rows = shape[0] * shape[1] * n0 * n1
    if neibs.shape != (rows, c0 * c1):
        raise ValueError(f"neibs2images: neibs of shape {neibs.shape} do not come from an "
                         f"image of shape {shape} with windows {op.neib_shape}, steps "
                         f"{op.neib_step} and mode {op.mode!r} (that gives ({rows}, "
                         f"{c0 * c1}))")
    padded = np.zeros(shape[:2] + (shape[2] + b0 + a0, shape[3] + b1 + a1), dtype=neibs.dtype)
    patches = neibs.reshape(shape[:2] + (n0, n1, c0, c1))
    for i in range(c0):
        for j in range(c1):
            padded[:, :, i:i + s0 * (n0 - 1) + 1:s0, j:j + s1 * (n1 - 1) + 1:s1] += \
                patches[:, :, :, :, i, j]
    if op.mode == "wrap_centered":
        out = np.zeros(shape[:2] + (shape[2], padded.shape[3]), dtype=neibs.dtype)
        np.add.at(out, (slice(None), slice(None), (np.arange(padded.shape[2]) - b0) % shape[2]),
                  padded)
        image = np.zeros(shape, dtype=neibs.dtype)
        np.add.at(image, (Ellipsis, (np.arange(padded.shape[3]) - b1) % shape[3]), out)
        return image
    return padded[:, :, b0:b0 + shape[2], b1:b1 + shape[3]].copy()


# -- Theano's functions ----------------------------------------------------------------


def images2neibs(ten4, neib_shape, neib_step=None, mode="valid"):
    """Every ``neib_shape`` window of the last two axes of ``ten4`` as a row."""
    return Images2Neibs(mode, neib_shape, neib_step)(ten4)


def neibs2images(neibs, neib_shape, original_shape, mode="valid"):
    """Rows made by ``images2neibs(x, neib_shape, mode=mode)`` (non-overlapping
    windows) put back into an image of ``original_shape``; cells no window covered
    are zero."""
    return Neibs2Images(mode, neib_shape, None)(neibs, original_shape)


__all__ = ["Images2Neibs", "Neibs2Images", "images2neibs", "neibs2images"]
