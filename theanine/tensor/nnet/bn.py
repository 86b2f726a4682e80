"""Theano's ``tensor.nnet.bn``: batch normalization as a composition of ops.

The gradients are those of the composition (``grad`` differentiates through the
batch mean and variance), so every backend runs them and they can be
differentiated again.  Parameters (``gamma``, ``beta``, means, variances) either
have the input's number of dims with size 1 on the normalized axes, or have those
axes left out; the statistics returned have the same form as the parameters.
"""

from __future__ import annotations

from theanine.tensor import basic as tb
from theanine.tensor import math as tm
from theanine.tensor.elemwise import dimshuffle


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """``(inputs - mean) * (gamma / std) + beta`` (``mode`` 'low_mem' or 'high_mem'
    order the same arithmetic differently in Theano; the result is the same)."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got "
                         f"{mode!r}")
    inputs, gamma, beta, mean, std = (tb.as_tensor_variable(v)
                                      for v in (inputs, gamma, beta, mean, std))
    if mode == "high_mem":
        return (inputs - mean) / std * gamma + beta
    return (inputs - mean) * (gamma / std) + beta


def _normalized_axes(axes, ndim):
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0,) + tuple(range(2, ndim))
    if isinstance(axes, str):
        raise ValueError(f"axes must be 'per-activation', 'spatial' or a tuple of ints, got "
                         f"{axes!r}")
    out = tuple(sorted({int(a) % ndim for a in axes}))
    if any(not -ndim <= int(a) < ndim for a in axes):
        raise ValueError(f"axes {tuple(axes)} out of range for inputs of {ndim} dims")
    return out


def _as_param(p, axes, ndim, what):
    """``p`` with size-1 broadcastable axes at ``axes`` (and whether it had them)."""
    p = tb.as_tensor_variable(p)
    if p.ndim == ndim:
        return p, True
    if p.ndim != ndim - len(axes):
        raise ValueError(f"{what} has {p.ndim} dims; inputs have {ndim} and {len(axes)} of "
                         f"them are normalized, so it needs {ndim} or {ndim - len(axes)}")
    it = iter(range(p.ndim))
    return dimshuffle(p, *["x" if i in axes else next(it) for i in range(ndim)]), False


def _like_params(x, axes, keep):
    return x if keep else dimshuffle(x, *[i for i in range(x.ndim) if i not in axes])


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None,
                              running_var=None):
    """Normalize with the batch's statistics.

    Returns ``(out, mean, invstd)``, and with ``running_mean``/``running_var`` also
    their updates ``running * (1 - factor) + batch * factor`` (the variance update
    uses the unbiased batch variance, as Theano's did).
    """
    inputs = tb.as_tensor_variable(inputs)
    ndim = inputs.ndim
    axes = _normalized_axes(axes, ndim)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_normalization_train: give both running_mean and "
                         "running_var, or neither")
    gamma, keep = _as_param(gamma, axes, ndim, "gamma")
    beta, _ = _as_param(beta, axes, ndim, "beta")
    mean = tm.mean(inputs, axis=axes, keepdims=True)
    var = tm.var(inputs, axis=axes, keepdims=True)
    invstd = 1.0 / tm.sqrt(var + epsilon)
    out = (inputs - mean) * (gamma * invstd) + beta
    results = [out, _like_params(mean, axes, keep), _like_params(invstd, axes, keep)]
    if running_mean is not None:
        factor = running_average_factor
        rmean, _ = _as_param(running_mean, axes, ndim, "running_mean")
        rvar, _ = _as_param(running_var, axes, ndim, "running_var")
        count = tm.prod(inputs.shape) // tm.prod(mean.shape)
        count = tb.cast(count, var.dtype)
        unbiased = var * (count / tm.maximum(count - 1, 1))
        new_mean = rmean * (1.0 - factor) + mean * factor
        new_var = rvar * (1.0 - factor) + unbiased * factor
        results += [_like_params(tb.cast(new_mean, rmean.dtype), axes, keep),
                    _like_params(tb.cast(new_var, rvar.dtype), axes, keep)]
    return tuple(results)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon=1e-4):
    """Normalize with given statistics: ``(inputs - mean) * gamma / sqrt(var + eps) +
    beta``."""
    inputs = tb.as_tensor_variable(inputs)
    ndim = inputs.ndim
    axes = _normalized_axes(axes, ndim)
    gamma, _ = _as_param(gamma, axes, ndim, "gamma")
    beta, _ = _as_param(beta, axes, ndim, "beta")
    mean, _ = _as_param(mean, axes, ndim, "mean")
    var, _ = _as_param(var, axes, ndim, "var")
    return (inputs - mean) * (gamma / tm.sqrt(var + epsilon)) + beta


__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]
