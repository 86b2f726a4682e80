"""Scalar gradients: one formula per ScalarOp, written with scalar ops.

Each formula gets ``(op, inputs, outputs, output_grads)`` as scalar Variables and
returns one gradient per input.  ``Elemwise.L_op`` maps the resulting scalar graph
onto elementwise tensor ops, so fused (Composite) kernels can reuse the same
formulas.  Constants take the dtype of the value they combine with, so a float32
graph keeps float32 gradients.

Conventions at non-differentiable points (documented in ``docs/gradients.md``):
``abs'(0) = 0``; ``floor``, ``ceil``, rounding, ``sign``, comparisons, logic,
``isnan``/``isinf`` and integer division have zero gradient; ``maximum`` sends the
gradient to ``x`` where ``x >= y`` (so ties go to the first argument), ``minimum``
where ``x <= y``; ``clip`` passes the gradient to ``x`` on the closed interval.
Gradients with respect to boolean/integer inputs are zeros (``Elemwise`` makes them).
"""

from __future__ import annotations

import math

from theanine.config import config
from theanine.graph.basic import Constant
from theanine.scalar import basic as sb
from theanine.scalar.basic import (
    CONTINUOUS_DTYPES,
    add,
    cos,
    cosh,
    eq,
    exp,
    ge,
    gt,
    int_div,
    le,
    log,
    lt,
    mul,
    neg,
    register_grad,
    sigmoid,
    sign,
    sin,
    sinh,
    sqr,
    sqrt,
    sub,
    switch,
    true_div,
)


def k(value, like):
    """A scalar constant with the dtype of ``like`` (floatX if ``like`` is discrete)."""
    dtype = like.type.dtype if like.type.dtype in CONTINUOUS_DTYPES else config.floatX
    return Constant(sb.get_scalar_type(dtype), value)


def zero(x):
    return k(0, x)


def where(cond, a, b):
    return switch(cond, a, b)


# -- arithmetic -----------------------------------------------------------------

@register_grad(sb.Add)
def _add(op, inputs, outputs, gouts):
    return [gouts[0], gouts[0]]


@register_grad(sb.Sub)
def _sub(op, inputs, outputs, gouts):
    return [gouts[0], neg(gouts[0])]


@register_grad(sb.Mul)
def _mul(op, inputs, outputs, gouts):
    (x, y), (g,) = inputs, gouts
    return [mul(g, y), mul(g, x)]


@register_grad(sb.TrueDiv)
def _true_div(op, inputs, outputs, gouts):
    (_x, y), (z,), (g,) = inputs, outputs, gouts
    return [true_div(g, y), neg(true_div(mul(g, z), y))]


@register_grad(sb.Mod)
def _mod(op, inputs, outputs, gouts):
    (x, y), (g,) = inputs, gouts
    return [g, neg(mul(g, int_div(x, y)))]


@register_grad(sb.Pow)
def _pow(op, inputs, outputs, gouts):
    (x, y), (z,), (g,) = inputs, outputs, gouts
    gx = mul(g, mul(y, sb.pow(x, sub(y, k(1, y)))))
    # d/dy x**y = log(x) x**y; taken as 0 where x == 0 (the limit for y > 0)
    gy = mul(g, where(eq(x, zero(x)), zero(z), mul(log(x), z)))
    return [gx, gy]


@register_grad(sb.Neg)
def _neg(op, inputs, outputs, gouts):
    return [neg(gouts[0])]


@register_grad(sb.Reciprocal)
def _reciprocal(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [neg(mul(g, sqr(z)))]


@register_grad(sb.Abs)
def _abs(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [mul(g, sign(x))]


@register_grad(sb.Sign, sb.Floor, sb.Ceil, sb.Round, sb.RoundHalfAway, sb.Trunc, sb.IntDiv,
               sb.Lt, sb.Gt, sb.Le, sb.Ge, sb.Eq, sb.Neq, sb.And, sb.Or, sb.Xor, sb.Invert,
               sb.Isnan, sb.Isinf)
def _zero_grad(op, inputs, outputs, gouts):
    """Piecewise constant (or discrete-valued): the gradient is zero almost everywhere."""
    return [zero(x) for x in inputs]


@register_grad(sb.Maximum)
def _maximum(op, inputs, outputs, gouts):
    (x, y), (g,) = inputs, gouts
    first = ge(x, y)
    return [where(first, g, zero(g)), where(first, zero(g), g)]


@register_grad(sb.Minimum)
def _minimum(op, inputs, outputs, gouts):
    (x, y), (g,) = inputs, gouts
    first = le(x, y)
    return [where(first, g, zero(g)), where(first, zero(g), g)]


@register_grad(sb.Clip)
def _clip(op, inputs, outputs, gouts):
    (x, lo, hi), (g,) = inputs, gouts
    below, above = lt(x, lo), gt(x, hi)
    inside = where(below, zero(g), where(above, zero(g), g))
    return [inside, where(below, g, zero(g)), where(above, g, zero(g))]


@register_grad(sb.Sqr)
def _sqr(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [mul(g, mul(k(2, x), x))]


@register_grad(sb.Sqrt)
def _sqrt(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [true_div(g, mul(k(2, z), z))]


# -- exponentials and logarithms --------------------------------------------------

@register_grad(sb.Exp)
def _exp(op, inputs, outputs, gouts):
    return [mul(gouts[0], outputs[0])]


@register_grad(sb.Exp2)
def _exp2(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, mul(z, k(math.log(2.0), z)))]


@register_grad(sb.Expm1)
def _expm1(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, add(z, k(1, z)))]


@register_grad(sb.Log)
def _log(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, x)]


@register_grad(sb.Log2)
def _log2(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, mul(x, k(math.log(2.0), x)))]


@register_grad(sb.Log10)
def _log10(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, mul(x, k(math.log(10.0), x)))]


@register_grad(sb.Log1p)
def _log1p(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, add(x, k(1, x)))]


# -- trigonometry ---------------------------------------------------------------------

@register_grad(sb.Sin)
def _sin(op, inputs, outputs, gouts):
    return [mul(gouts[0], cos(inputs[0]))]


@register_grad(sb.Cos)
def _cos(op, inputs, outputs, gouts):
    return [neg(mul(gouts[0], sin(inputs[0])))]


@register_grad(sb.Tan)
def _tan(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, add(k(1, z), sqr(z)))]


def _one_minus_sq(x):
    return sub(k(1, x), sqr(x))


@register_grad(sb.Arcsin)
def _arcsin(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, sqrt(_one_minus_sq(x)))]


@register_grad(sb.Arccos)
def _arccos(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [neg(true_div(g, sqrt(_one_minus_sq(x))))]


@register_grad(sb.Arctan)
def _arctan(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, add(k(1, x), sqr(x)))]


@register_grad(sb.Arctan2)
def _arctan2(op, inputs, outputs, gouts):
    (y, x), (g,) = inputs, gouts
    r2 = add(sqr(x), sqr(y))
    return [mul(g, true_div(x, r2)), neg(mul(g, true_div(y, r2)))]


@register_grad(sb.Sinh)
def _sinh(op, inputs, outputs, gouts):
    return [mul(gouts[0], cosh(inputs[0]))]


@register_grad(sb.Cosh)
def _cosh(op, inputs, outputs, gouts):
    return [mul(gouts[0], sinh(inputs[0]))]


@register_grad(sb.Tanh)
def _tanh(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, _one_minus_sq(z))]


@register_grad(sb.Arcsinh)
def _arcsinh(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, sqrt(add(sqr(x), k(1, x))))]


@register_grad(sb.Arccosh)
def _arccosh(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, sqrt(sub(sqr(x), k(1, x))))]


@register_grad(sb.Arctanh)
def _arctanh(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [true_div(g, _one_minus_sq(x))]


# -- special functions -----------------------------------------------------------------

@register_grad(sb.Sigmoid)
def _sigmoid(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, mul(z, sub(k(1, z), z)))]


@register_grad(sb.Softplus)
def _softplus(op, inputs, outputs, gouts):
    return [mul(gouts[0], sigmoid(inputs[0]))]


@register_grad(sb.Erf)
def _erf(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [mul(g, mul(k(2 / math.sqrt(math.pi), x), exp(neg(sqr(x)))))]


@register_grad(sb.Erfc)
def _erfc(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    return [mul(g, mul(k(-2 / math.sqrt(math.pi), x), exp(neg(sqr(x)))))]


@register_grad(sb.Erfinv)
def _erfinv(op, inputs, outputs, gouts):
    (z,), (g,) = outputs, gouts
    return [mul(g, mul(k(math.sqrt(math.pi) / 2, z), exp(sqr(z))))]


@register_grad(sb.Gammaln)
def _gammaln(op, inputs, outputs, gouts):
    return [mul(gouts[0], sb.psi(inputs[0]))]


@register_grad(sb.Psi)
def _psi(op, inputs, outputs, gouts):
    return [mul(gouts[0], sb.polygamma_op(1)(inputs[0]))]


@register_grad(sb.Polygamma)
def _polygamma(op, inputs, outputs, gouts):
    return [mul(gouts[0], sb.polygamma_op(op.n + 1)(inputs[0]))]


# -- selection, identity, conversion ----------------------------------------------------

@register_grad(sb.Switch)
def _switch(op, inputs, outputs, gouts):
    (c, _a, _b), (g,) = inputs, gouts
    return [zero(c), where(c, g, zero(g)), where(c, zero(g), g)]


@register_grad(sb.Identity)
def _identity(op, inputs, outputs, gouts):
    return [gouts[0]]


@register_grad(sb.Second)
def _second(op, inputs, outputs, gouts):
    (x, _y), (g,) = inputs, gouts
    return [zero(x), g]


@register_grad(sb.Cast)
def _cast(op, inputs, outputs, gouts):
    (x,), (g,) = inputs, gouts
    if x.type.dtype not in CONTINUOUS_DTYPES or outputs[0].type.dtype not in CONTINUOUS_DTYPES:
        return [zero(x)]
    return [sb.cast_op(x.type.dtype)(g)]
