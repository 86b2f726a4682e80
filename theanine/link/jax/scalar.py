"""Scalar ops in JAX: the one table from the scalar catalogue (by ``kernel_name``)
to ``jax.numpy`` functions, and how Elemwise and Composite nodes use it.

NumPy ufuncs map by name (``np.add`` -> ``jnp.add``); the others are listed in
``_BY_KERNEL_NAME``.  Every named scalar op has an entry or is in ``UNSUPPORTED``
(a test checks it).  Arguments are promoted with NumPy's rules first, and
results cast to the dtype the graph declares, so JAX computes what NumPy would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np

from theanine.link.jax.checks import check_later
from theanine.scalar.arithmetic import CASTS_WRAP_AS_X86
from theanine.scalar.composite import Composite


def _round_half_away(x):
    """XLA's round-half-away (exact: ``floor(x + 0.5)`` rounds 0.5 - 2**-54 up)."""
    return jax.lax.round(x, jax.lax.RoundingMethod.AWAY_FROM_ZERO) \
        if jnp.issubdtype(x.dtype, jnp.floating) else x


def _floor_divide(x, y):
    """NumPy's floor division: an integer divided by 0 gives 0 (XLA's is undefined)."""
    if jnp.issubdtype(jnp.result_type(x, y), jnp.integer):
        zero = y == 0
        return jnp.where(zero, 0, jnp.floor_divide(x, jnp.where(zero, 1, y)))
    return jnp.floor_divide(x, y)


#: the integer types NumPy converts floats to through an int32 (``CASTS_WRAP_AS_X86``;
#: XLA saturates, as NumPy does on ARM)
_VIA_INT32 = ("int8", "int16", "int32", "uint8", "uint16")


def _signed(x, via):
    """``x`` converted to the signed type ``via``, the most negative value where out of
    range or NaN (x86's conversion)."""
    bound = float(2 ** (np.iinfo(via).bits - 1))
    inside = (x >= -bound) & (x < bound)          # (NaN: outside)
    return jnp.where(inside, jnp.where(inside, x, 0).astype(via), np.iinfo(via).min)


def _cast_function(dtype):
    """``astype(dtype)`` as NumPy computes it on this CPU."""
    def cast(x):
        x = jnp.asarray(x)
        if not (CASTS_WRAP_AS_X86 and jnp.issubdtype(x.dtype, jnp.floating)):
            return x                              # the result cast below does it
        if dtype in ("uint32", "uint64"):         # x, or x - 2**(bits-1) and the top bit
            via = np.int64 if dtype == "uint64" else np.int32
            x = x.astype("float64")
            top = float(2 ** (np.iinfo(via).bits - 1))
            low = _signed(x, via).astype(dtype)
            high = _signed(x - top, via).astype(dtype) ^ np.array(int(top), dtype)
            return jnp.where(x >= top, high, low)
        if dtype == "int64" or dtype in _VIA_INT32:
            return _signed(x, np.int64 if dtype == "int64" else np.int32).astype(dtype)
        return x

    return cast


def _power(x, y):
    """NumPy's power: an integer to a negative integer power is refused, where XLA
    computes one (a traced exponent is checked after the call)."""
    if jnp.issubdtype(jnp.result_type(x, y), jnp.integer):
        if isinstance(y, jax.core.Tracer):
            check_later(jnp.all(y >= 0))
        elif np.any(np.asarray(y) < 0):
            raise ValueError("Integers to negative integer powers are not allowed.")
    return jnp.power(x, y)


def _sign(x):
    """NumPy's sign: 0.0 for -0.0 (XLA keeps the zero's sign)."""
    if jnp.issubdtype(x.dtype, jnp.floating):
        return jnp.where(x == 0, jnp.zeros((), x.dtype), jnp.sign(x))
    return jnp.sign(x)


def _second(x, y):
    return jnp.broadcast_to(y, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(y)))


_BY_KERNEL_NAME = {
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
    "erf": jsp.erf,
    "erfc": jsp.erfc,
    "erfinv": jsp.erfinv,
    "gammaln": jsp.gammaln,
    "psi": jsp.digamma,
    "clip": jnp.clip,
    "switch": jnp.where,
    "sqr": jnp.square,
    "identity": lambda x: x,
    "second": _second,
    "reciprocal": lambda x: 1 / x,
    "round_half_away": _round_half_away,
    "int_div": _floor_divide,
    "pow": _power,
    "sign": _sign,
}

UNSUPPORTED: frozenset = frozenset()     # named scalar ops without a JAX form


def scalar_function(scalar_op):
    """The JAX function of a scalar op, or None."""
    name = scalar_op.kernel_name
    if name == "cast":
        return _cast_function(scalar_op.dtype)
    if type(scalar_op).__name__ == "Polygamma":
        n = scalar_op.n
        return lambda x: jsp.polygamma(n, x)
    if isinstance(scalar_op, Composite):
        return composite_function(scalar_op)
    fn = _BY_KERNEL_NAME.get(name or type(scalar_op).__name__.lower())
    if fn is not None:
        return fn
    nfunc = getattr(scalar_op, "nfunc", None)
    if isinstance(nfunc, np.ufunc):
        return getattr(jnp, nfunc.__name__, None)
    return None


def promoted(scalar_op, args, in_dtypes):
    """``args`` cast to the dtype NumPy would compute the op in."""
    if scalar_op.kernel_name in ("switch", "cast") or len(args) < 2:
        if scalar_op.kernel_name == "switch":
            common = np.result_type(*in_dtypes[1:])
            return [args[0]] + [jnp.asarray(a).astype(common) for a in args[1:]]
        return args
    common = np.result_type(*in_dtypes)
    return [jnp.asarray(a).astype(common) for a in args]


def composite_function(comp: Composite):
    """One function evaluating a Composite's steps (XLA fuses them anyway)."""
    steps = []
    for op, args, dts in comp.code:
        fn = scalar_function(op)
        if fn is None:
            return None
        steps.append((op, fn, args, dts))

    def value(a, inputs, values):
        if a[0] == "in":
            return inputs[a[1]]
        if a[0] == "node":
            return values[a[1]][a[2]]
        return jnp.asarray(np.asarray(a[2], dtype=a[1]))

    def run(*inputs):
        values = []
        for op, fn, args, dts in steps:
            vals = [value(a, inputs, values) for a in args]
            in_dtypes = [str(jnp.asarray(v).dtype) for v in vals]
            out = fn(*promoted(op, vals, in_dtypes))
            outs = out if len(dts) > 1 else (out,)
            values.append([jnp.asarray(o).astype(dt) for o, dt in zip(outs, dts)])
        results = [jnp.asarray(value(r, inputs, values)).astype(dt)
                   for r, dt in zip(comp.outputs_ref, comp.out_dtypes)]
        return results[0] if comp.nout == 1 else tuple(results)

    return run


__all__ = ["UNSUPPORTED", "composite_function", "promoted", "scalar_function"]
