"""Random elementwise/reduction graphs: every linker agrees with NumPy on the same expression.

Hypothesis draws 1-3 inputs whose shapes broadcast against a common shape (size-1 axes
declared broadcastable, some leading axes dropped), then a sequence of steps, each
applying a unary function, a binary function of two broadcast-compatible earlier
values, or a reduction. Every step is evaluated with NumPy as it is built, so the
reference is the same expression computed directly. Every runtime size-1 axis is
declared (static shape 1), Theano's broadcasting convention, and steps keep it so.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import scipy.special as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_checker import (
    REFERENCE_MODE,
    engine_names,
    first_shape_set_linkers,
    run_on,
)

import theanine as th
import theanine.tensor as tt
from theanine.tensor.type import TensorType

# Unary functions kept finite on any finite input (no overflow, no domain errors).
UNARY = {
    "neg": (tt.neg, np.negative),
    "tanh": (tt.tanh, np.tanh),
    "sin": (tt.sin, np.sin),
    "abs": (tt.abs, np.abs),
    "sigmoid": (tt.sigmoid, sp.expit),
    "exp_tanh": (lambda x: tt.exp(tt.tanh(x)), lambda x: np.exp(np.tanh(x))),
    "log1p_sqr": (lambda x: tt.log1p(tt.sqr(x)), lambda x: np.log1p(x * x)),
    "sqrt_abs": (lambda x: tt.sqrt(tt.abs(x)), lambda x: np.sqrt(np.abs(x))),
    "scale": (lambda x: x * 0.5 + 1, lambda x: x * 0.5 + 1),
    "softplus": (tt.softplus, lambda x: np.logaddexp(0, x)),
    "log_sigmoid": (lambda x: tt.log(tt.sigmoid(x)), lambda x: -np.logaddexp(0, -x)),
}
BINARY = {
    "add": (tt.add, np.add),
    "sub": (tt.sub, np.subtract),
    "mul": (tt.mul, np.multiply),
    "maximum": (tt.maximum, np.maximum),
    "minimum": (tt.minimum, np.minimum),
    "div": (lambda a, b: a / (1 + tt.sqr(b)), lambda a, b: a / (1 + b * b)),
    "switch": (lambda a, b: tt.switch(a > b, a, b * 2), lambda a, b: np.where(a > b, a, b * 2)),
}
REDUCE = {
    "sum": (tt.sum, np.sum),
    "mean": (tt.mean, np.mean),
    "max": (tt.max, np.max),
    "prod": (lambda x, axis, keepdims: tt.prod(tt.tanh(x), axis=axis, keepdims=keepdims),
             lambda x, axis, keepdims: np.prod(np.tanh(x), axis=axis, keepdims=keepdims)),
    # written out: the stabilizing rewrite turns it into LogSumExp (-inf over nothing)
    "logsumexp": (lambda x, axis, keepdims: tt.log(tt.sum(tt.exp(x), axis=axis,
                                                         keepdims=keepdims)),
                  lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis,
                                                          keepdims=keepdims))),
}


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


@st.composite
def graphs(draw):
    """``(inputs, arrays, outputs, reference values, dtype)`` of a random expression."""
    dtype = draw(st.sampled_from(["float64", "float32"]))
    ndim = draw(st.integers(0, 3))
    base = tuple(draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = []  # (symbolic, numpy value)
    for k in range(draw(st.integers(1, 3))):
        drop = draw(st.integers(0, ndim))
        shape = tuple(1 if draw(st.booleans()) and draw(st.booleans()) else s
                      for s in base[drop:])
        arr = rng.uniform(-2, 2, size=shape).astype(dtype)
        var = TensorType(dtype, tuple(1 if s == 1 else None for s in shape))(f"x{k}")
        values.append((var, arr))
    inputs = [v for v, _ in values]
    arrays = [a for _, a in values]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce"]))
        if kind == "unary":
            sym, ref = UNARY[draw(st.sampled_from(sorted(UNARY)))]
            x, a = draw(st.sampled_from(values))
            values.append((sym(x), ref(a)))
        elif kind == "binary":
            pairs = [(p, q) for p in values for q in values
                     if _broadcastable(np.shape(p[1]), np.shape(q[1]))]
            (x, a), (y, b) = draw(st.sampled_from(pairs))
            sym, ref = BINARY[draw(st.sampled_from(sorted(BINARY)))]
            values.append((sym(x, y), ref(a, b)))
        else:
            x, a = draw(st.sampled_from(values))
            if np.ndim(a) == 0:
                continue
            name = draw(st.sampled_from(sorted(REDUCE)))
            axes = draw(st.lists(st.integers(0, np.ndim(a) - 1), min_size=1, max_size=2,
                                 unique=True))
            axis = None if draw(st.booleans()) and len(axes) == 2 else tuple(axes)
            if name == "max" and np.size(a) == 0:
                continue
            keepdims = draw(st.booleans())
            sym, ref = REDUCE[name]
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty axis
                value = np.asarray(ref(a, axis=axis, keepdims=keepdims))
            values.append((sym(x, axis=axis, keepdims=keepdims), value))
    n_out = draw(st.integers(1, 2))
    outs = values[-1:] + (draw(st.lists(st.sampled_from(values), max_size=n_out - 1)))
    return inputs, arrays, [o for o, _ in outs], [np.asarray(r) for _, r in outs], dtype


# a backend compiling every function to machine code (Numba) checks one graph in
# SLOW_LINKER_EVERY: the suite's time stays in check, and with the CI profile's fixed
# examples those graphs come from its disk cache after the first run
SLOW_LINKER_EVERY = 8
_examples = itertools.count()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graph_matches_numpy(graph):
    inputs, arrays, outs, refs, dtype = graph
    rtol, atol = (1e-9, 1e-12) if dtype == "float64" else (1e-4, 1e-5)
    slow = set(first_shape_set_linkers()) if next(_examples) % SLOW_LINKER_EVERY else set()
    for linker in [name for name in engine_names() if name not in slow]:
        with np.errstate(all="ignore"):
            got = run_on(linker, inputs, outs, arrays)
        for k, (value, ref, out) in enumerate(zip(got, refs, outs)):
            assert value.shape == ref.shape, f"[{linker}] output {k}: {value.shape} vs {ref.shape}"
            assert str(value.dtype) == out.dtype
            np.testing.assert_allclose(value, ref.astype(out.dtype), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=f"[{linker}] output {k}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graph_gradients_match_the_reference(graph):
    """The gradient of a weighted sum of the outputs with respect to every input, on
    every linker (the rewrites, fusion and each backend's ops on gradient graphs),
    against the same gradient graph run by the NumPy reference without rewrites."""
    inputs, arrays, outs, _, dtype = graph
    if dtype != "float64":
        return
    cost = sum(tt.sum(out * (k + 1.5)) for k, out in enumerate(outs))
    grads = th.grad(cost, inputs, disconnected_inputs="ignore")
    with np.errstate(all="ignore"):
        want = th.function(inputs, [cost, *grads], mode=REFERENCE_MODE)(*arrays)
    slow = set(first_shape_set_linkers()) if next(_examples) % SLOW_LINKER_EVERY else set()
    for linker in [name for name in engine_names() if name not in slow]:
        with np.errstate(all="ignore"):
            got = run_on(linker, inputs, [cost, *grads], [a.copy() for a in arrays])
        for k, (value, ref) in enumerate(zip(got, want)):
            assert value.shape == ref.shape, f"[{linker}] gradient {k}: {value.shape}"
            np.testing.assert_allclose(value, ref, rtol=1e-7, atol=1e-10, equal_nan=True,
                                       err_msg=f"[{linker}] value {k} (0: the cost)")
