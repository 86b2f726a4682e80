"""Every op's gradient against central finite differences (``verify_grad``).

Each ScalarOp is checked through its Elemwise, in float64 and (with looser
tolerances) float32, with a broadcast second input so that summing the gradient
back over broadcast axes is exercised too.  Inputs are drawn inside each op's
domain and away from its non-differentiable points.
"""

import numpy as np
import pytest

import theanine.tensor as tt
from theanine.gradient import verify_grad
from theanine.scalar import basic as sb
from theanine.scalar.basic import ScalarOp
from theanine.tensor import basic as tb
from theanine.tensor.elemwise import elemwise_op

# op name -> domain per input as (low, high); shapes (2, 3) and (1, 3) broadcast
UNIT = (-0.9, 0.9)
POS = (0.5, 2.0)
ANY = (-2.0, 2.0)
DOMAINS = {
    "add": (ANY, ANY), "sub": (ANY, ANY), "mul": (ANY, ANY), "true_div": (ANY, POS),
    "int_div": (POS, POS), "mod": ((0.1, 0.4), (1.0, 1.2)), "pow": (POS, ANY),
    "neg": (ANY,), "reciprocal": (POS,), "abs": (ANY,), "sign": (ANY,), "floor": (ANY,),
    "ceil": (ANY,), "round": (ANY,), "round_half_away": (ANY,), "trunc": (ANY,),
    "maximum": (ANY, ANY), "minimum": (ANY, ANY), "clip": (ANY, (-3, -2.5), (2.5, 3)),
    "sqr": (ANY,), "sqrt": (POS,), "exp": (ANY,), "exp2": (ANY,), "expm1": (ANY,),
    "log": (POS,), "log2": (POS,), "log10": (POS,), "log1p": (POS,), "sin": (ANY,),
    "cos": (ANY,), "tan": (UNIT,), "arcsin": (UNIT,), "arccos": (UNIT,), "arctan": (ANY,),
    "arctan2": (ANY, POS), "sinh": (ANY,), "cosh": (ANY,), "tanh": (ANY,),
    "arcsinh": (ANY,), "arccosh": ((1.5, 3.0),), "arctanh": (UNIT,), "sigmoid": (ANY,),
    "softplus": (ANY,), "erf": (ANY,), "erfc": (ANY,), "erfinv": (UNIT,),
    "gammaln": (POS,), "psi": (POS,), "identity": (ANY,), "second": (ANY, ANY),
    "isnan": (ANY,), "isinf": (ANY,), "lt": (ANY, ANY), "gt": (ANY, ANY), "le": (ANY, ANY),
    "ge": (ANY, ANY), "eq": (ANY, ANY), "neq": (ANY, ANY),
}
# ops whose inputs must be bool/int: checked through a float path in test_logic_ops
DISCRETE_ONLY = {"and", "or", "xor", "invert"}
PIECEWISE = {"sign", "floor", "ceil", "round", "round_half_away", "trunc", "int_div"}


def _catalogue():
    return {op.name: op for op in vars(sb).values()
            if isinstance(op, ScalarOp) and type(op).__props__ == ()}


def test_every_scalar_op_is_covered():
    names = set(_catalogue()) - DISCRETE_ONLY - {"switch"}
    assert names <= set(DOMAINS), f"no gradient check for {sorted(names - set(DOMAINS))}"


def _points(rng, name, dtype):
    doms = DOMAINS[name]
    shapes = [(2, 3)] + [(1, 3)] * (len(doms) - 1)
    pts = [rng.uniform(lo, hi, shape).astype(dtype) for (lo, hi), shape in zip(doms, shapes)]
    if name in PIECEWISE:  # keep away from the jumps, where differences are meaningless
        pts = [np.floor(p) + rng.uniform(0.2, 0.3, p.shape).astype(dtype) for p in pts]
    return pts


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(DOMAINS))
def test_scalar_op_gradient(name, dtype, rng):
    op = elemwise_op(_catalogue()[name])

    def fn(*xs):
        out = op(*xs)
        return tt.cast(out, xs[0].dtype) if out.dtype == "bool" else out

    verify_grad(fn, _points(rng, name, dtype), rng=rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_switch_gradient(dtype, rng):
    a, b = rng.normal(size=(2, 3)).astype(dtype), rng.normal(size=(1, 3)).astype(dtype)
    verify_grad(lambda x, y: tt.switch(tt.gt(x, 0), x * 2, y), [a, b], rng=rng)


def test_polygamma_gradient(rng):
    op = elemwise_op(sb.polygamma_op(1))
    verify_grad(op, [rng.uniform(0.5, 2.0, (4,))], rng=rng)


def test_logic_ops_pass_zero_gradient(rng):
    def fn(x):
        inside = tt.and_(tt.gt(x, -1), tt.lt(x, 1))
        mixed = tt.xor(tt.or_(inside, tt.invert(inside)), tt.gt(x, 5))
        return tt.cast(mixed, "float64") * x

    verify_grad(fn, [rng.uniform(-2, 2, (5,))], rng=rng)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cast_gradient(dtype, rng):
    other = "float32" if dtype == "float64" else "float64"
    verify_grad(lambda x: tt.cast(x, other) ** 2, [rng.normal(size=(3,)).astype(dtype)],
                rng=rng)


# -- tensor ops ---------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [(1, 0), ("x", 0, 1), (0, "x", 1), (1,), (2, 0, "x", 1)])
def test_dimshuffle_gradient(pattern, rng):
    shapes = {(1,): (1, 4), (2, 0, "x", 1): (2, 3, 4)}
    shape = shapes.get(pattern, (2, 3))
    verify_grad(lambda x: x.dimshuffle(*pattern), [rng.normal(size=shape)], rng=rng)


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 2)])
def test_careduce_gradient(kind, axis, rng):
    fn = getattr(tt, kind)
    verify_grad(lambda x: fn(x, axis=axis), [rng.uniform(0.5, 1.5, (2, 3, 2))], rng=rng)


def test_prod_gradient_with_zeros(rng):
    x = np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0], [2.0, 3.0, 0.5]])
    verify_grad(lambda v: tt.prod(v, axis=1), [x], rng=rng)
    verify_grad(lambda v: tt.prod(v, axis=0), [x], rng=rng)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                    ((2, 3), (3, 4))])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_dot_gradient(shapes, dtype, rng):
    pts = [rng.normal(size=s).astype(dtype) for s in shapes]
    verify_grad(tt.dot, pts, rng=rng)


def test_reshape_specify_shape_gradient(rng):
    verify_grad(lambda x: tt.reshape(x, (3, -1)) * np.arange(4.0), [rng.normal(size=(2, 6))],
                rng=rng)
    verify_grad(lambda x: tt.specify_shape(x, (2, None)) ** 2, [rng.normal(size=(2, 3))],
                rng=rng)
    verify_grad(lambda x: tt.reshape(x, (tt.shape_i(x, 1), tt.shape_i(x, 0))),
                [rng.normal(size=(2, 3))], rng=rng)


def test_make_vector_and_scalar_wrapping_gradient(rng):
    def fn(x):
        a, b = tt.sum(x), tt.max(x)
        vec = tb.MakeVector("float64")(a, b, a * b)
        round_trip = tb.tensor_from_scalar(tb.scalar_from_tensor(a))
        return vec * round_trip

    verify_grad(fn, [rng.normal(size=(3,))], rng=rng)


def test_mean_var_std_gradient(rng):
    x = rng.normal(size=(3, 4))
    verify_grad(lambda v: tt.mean(v, axis=0), [x], rng=rng)
    verify_grad(lambda v: tt.var(v, axis=1), [x], rng=rng)
    verify_grad(lambda v: tt.std(v), [x], rng=rng)
