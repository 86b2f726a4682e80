"""``verify_grad``: compare symbolic gradients with central finite differences.

The function under test is projected on a random direction of its output
(``cost = sum(fn(*inputs) * r)``), so one scalar cost checks the whole Jacobian
with high probability.  Each input's gradient is compared element by element with
``(cost(x + eps e_i) - cost(x - eps e_i)) / (2 eps)``.  Graphs are evaluated node
by node with each op's NumPy ``perform`` (the reference semantics), which keeps
this module below the compile layer and free of compile time.
"""

from __future__ import annotations

import numpy as np

from theanine.scalar.basic import DISCRETE_DTYPES
from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.gradient.core import grad
from theanine.tensor.gradient.interp import evaluate
from theanine.tensor.type import TensorType

# (eps, abs_tol, rel_tol) by the lowest float precision among the inputs and output
_DEFAULTS = {"float64": (1e-6, 1e-4, 1e-4), "float32": (1e-3, 1e-2, 1e-2),
             "float16": (1e-1, 5e-2, 5e-2)}


class GradientError(AssertionError):
    """A symbolic gradient disagrees with finite differences."""

    def __init__(self, arg, name, abs_err, rel_err, where, analytic, numeric, abs_tol, rel_tol):
        self.arg, self.abs_err, self.rel_err = arg, abs_err, rel_err
        self.analytic, self.numeric = analytic, numeric
        super().__init__(
            f"verify_grad: the gradient of input {arg}{f' ({name})' if name else ''} disagrees "
            f"with finite differences: max absolute error {abs_err:.3g} (tolerance "
            f"{abs_tol:g}), max relative error {rel_err:.3g} (tolerance {rel_tol:g}); worst "
            f"at index {where}: symbolic {analytic:.6g} vs numeric {numeric:.6g}")


def _symbolic_input(value, pos):
    shape = tuple(1 if s == 1 else None for s in value.shape)
    return TensorType(str(value.dtype), shape)(f"input{pos}")


def _lowest_precision(dtypes):
    for dt in ("float16", "float32"):
        if dt in dtypes or dt.replace("float", "complex") in dtypes:
            return dt
    return "float64"


def verify_grad(fn, points, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None):
    """Check ``grad`` of ``fn`` at ``points`` (a list of arrays) against finite differences.

    ``fn`` maps symbolic inputs (typed like ``points``; size-1 axes broadcastable)
    to one symbolic output.  Raises ``GradientError`` naming the first input whose
    gradient disagrees, with its max absolute and relative errors.  An element fails
    only when both errors exceed their tolerances.
    """
    if not isinstance(points, (list, tuple)):
        raise TypeError("verify_grad: points must be a list of arrays, one per input")
    rng = rng if rng is not None else np.random.default_rng(0)
    points = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else None, copy=True,
                       order="C")   # C order: perturbations go through reshape(-1) views
              for p in points]
    for pos, p in enumerate(points):
        if p.dtype.kind != "f":
            raise TypeError(f"verify_grad: point {pos} has dtype {p.dtype}; gradients are "
                            "checked for float inputs only")
    inputs = [_symbolic_input(p, i) for i, p in enumerate(points)]
    out = fn(*inputs)
    if isinstance(out, (list, tuple)):
        raise TypeError("verify_grad: fn must return one output (wrap several in a sum)")
    out = tb.as_tensor_variable(out)
    if out.dtype in DISCRETE_DTYPES:
        raise TypeError(f"verify_grad: fn returns {out.type}, which has no gradient")
    precision = _lowest_precision([p.dtype.name for p in points] + [out.dtype])
    d_eps, d_abs, d_rel = _DEFAULTS[precision]
    eps = d_eps if eps is None else eps
    abs_tol = d_abs if abs_tol is None else abs_tol
    rel_tol = d_rel if rel_tol is None else rel_tol
    out_shape = np.shape(evaluate(out, dict(zip(inputs, points))))
    for _ in range(n_tests):
        proj = tb.constant(rng.uniform(0.5, 1.5, out_shape) * rng.choice([-1, 1], out_shape),
                           dtype=out.dtype)
        cost = tm.sum(tm.mul(out, proj))
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        analytic = evaluate(grads, dict(zip(inputs, points)))
        for pos, g in enumerate(analytic):
            numeric = _numeric_grad(cost, inputs, points, pos, eps)
            _compare(pos, inputs[pos].name, np.asarray(g, dtype="float64"), numeric,
                     abs_tol, rel_tol)


def _numeric_grad(cost, inputs, points, pos, eps):
    base = points[pos]
    result = np.zeros(base.shape, dtype="float64")
    flat = base.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = float(evaluate(cost, dict(zip(inputs, points))))
        flat[i] = saved - eps
        minus = float(evaluate(cost, dict(zip(inputs, points))))
        flat[i] = saved
        step = (float(saved + np.asarray(eps, base.dtype))
                - float(saved - np.asarray(eps, base.dtype)))
        result.reshape(-1)[i] = (plus - minus) / step
    return result


def _compare(pos, name, analytic, numeric, abs_tol, rel_tol):
    if analytic.shape != numeric.shape:
        raise GradientError(pos, name, np.inf, np.inf, "shape", np.nan, np.nan, abs_tol, rel_tol)
    if analytic.size == 0:
        return
    abs_err = np.abs(analytic - numeric)
    denom = np.abs(analytic) + np.abs(numeric)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(denom > 0, abs_err / denom, 0.0)
    bad = (abs_err > abs_tol) & (rel_err > rel_tol) | ~np.isfinite(abs_err)
    if np.any(bad):
        worst = np.unravel_index(np.argmax(np.where(bad, abs_err, -1)), analytic.shape)
        raise GradientError(pos, name, float(np.nanmax(abs_err)), float(np.nanmax(rel_err)),
                            tuple(int(i) for i in worst), float(analytic[worst]),
                            float(numeric[worst]), abs_tol, rel_tol)
