"""The shared op checker: every op against NumPy, every linker, shapes, dtypes, gradients.

A case is an ``OpCase``: how to build the expression from symbolic inputs, the NumPy
reference, the input domains, shapes and dtypes. ``check_case(case, dtype)`` then, for
every input shape set and for two kinds of symbolic inputs (fully static shapes, and
unknown shapes with size-1 axes marked broadcastable):

* compiles the expression with every registered linker and compares with the reference;
* checks that each output's value has the declared dtype, that the declared dtype is the
  reference's dtype, and that the declared static shape agrees with the value;
* checks that the inputs were not modified in place;
* checks every node's ``infer_shape`` (compiled) against the shapes actually computed;
* checks each node's ``L_op`` against central finite differences (float inputs), and the
  whole expression with ``theanine.gradient.verify_grad`` when that exists.

See docs/testing.md for how to add a case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

import theanine as th
from theanine.compile.mode import LINKERS
from theanine.debug import DebugMode
from theanine.graph.basic import Constant, Variable, io_toposort
from theanine.graph.null_type import NullType
from theanine.graph.utils import MethodNotDefined
from theanine.tensor.shape import shape_i
from theanine.tensor.type import TensorType

try:
    from theanine.gradient import verify_grad
except ImportError:  # the gradient machinery is not merged yet
    verify_grad = None

FLOATS = ("float64", "float32")
NUMERIC = ("float64", "float32", "int64", "int32")
ALL = ("float64", "float32", "int64", "int32", "bool")

# Helper graphs (shapes, node gradients) and the py linker run without rewrites.
REFERENCE_MODE = th.Mode(linker="py", optimizer="None")

# Tolerances per dtype for values (computations may reorder sums) and for gradients.
VALUE_TOL = {"float64": (1e-7, 1e-10), "float32": (2e-4, 1e-5), "float16": (1e-2, 1e-3)}
GRAD_TOL = {"float64": (1e-4, 1e-6), "float32": (5e-2, 5e-3)}


def elemwise_shapes(nin: int) -> list[tuple]:
    """Input shape sets for an ``nin``-ary elementwise op: same shapes, broadcasting
    patterns, 0-d, empty and size-1 axes."""
    same = [(3, 4), (2, 3, 2), (5,), (), (0, 3), (1, 1)]
    sets = [(s,) * nin for s in same]
    if nin == 2:
        sets += [((3, 1), (1, 4)), ((3, 4), (4,)), ((), (3, 4)), ((2, 1, 3), (4, 1)),
                 ((0, 1), (1, 3))]
    elif nin >= 3:
        sets += [((3, 1), (1, 4), (3, 4))[:nin], ((), (3, 4), (4,))[:nin],
                 ((2, 1, 1), (3, 1), (4,))[:nin], ((0, 1), (1, 3), ())[:nin]]
    return sets


@dataclass
class OpCase:
    """One row of the op table.

    ``build(*vars)`` returns the output Variable (or a list); ``ref(*arrays)`` the NumPy
    result(s). ``domains`` gives one entry per input (a single entry applies to all):
    ``(lo, hi)`` for uniform values, or ``fn(rng, shape, dtype) -> array``. ``dtypes`` lists
    the dtypes tried: a string applies to every input, a tuple gives one per input.
    ``shapes`` lists input shape sets (default: ``elemwise_shapes(nin)``).
    ``grad=False`` for ops without a meaningful gradient (integer or boolean results).
    ``grad_inputs`` restricts ``verify_grad`` to those input positions (node-level
    ``L_op`` checks cover every non-constant float input).
    """

    name: str
    build: Callable
    ref: Callable
    nin: int = 1
    domains: Sequence = ((-2.0, 2.0),)
    dtypes: Sequence = FLOATS
    shapes: Sequence | None = None
    grad: bool = True
    grad_inputs: Sequence[int] | None = None
    static: bool = True
    rtol: float | None = None
    atol: float | None = None
    grad_eps: float | None = None
    extra: dict = field(default_factory=dict)

    def shape_sets(self) -> list[tuple]:
        return list(self.shapes) if self.shapes is not None else elemwise_shapes(self.nin)

    def __str__(self):
        return self.name


# -- input generation -----------------------------------------------------------------


def positive(lo=0.1, hi=3.0):
    return (lo, hi)


def nonzero(lo=0.5, hi=2.0):
    """Values with |v| in [lo, hi] and a random sign (denominators)."""
    def gen(rng, shape, dtype):
        mag = rng.uniform(lo, hi, size=shape)
        sign = np.where(rng.random(size=shape) < 0.5, -1, 1)
        return _as_dtype(mag * sign, dtype, lo)
    return gen


def away_from_integers(lo=-3.0, hi=3.0):
    """Values at least 0.1 from an integer (and from .5 for rounding ops)."""
    def gen(rng, shape, dtype):
        base = rng.integers(int(np.floor(lo)), int(np.ceil(hi)), size=shape)
        frac = rng.choice([0.2, 0.3, 0.7, 0.8], size=shape) + rng.uniform(-0.05, 0.05, shape)
        return _as_dtype(base + frac, dtype, 1)
    return gen


def _as_dtype(values, dtype, int_floor):
    if dtype == "bool":
        return np.asarray(values) > 0
    if np.dtype(dtype).kind in "iu":
        return np.asarray(np.round(values), dtype=dtype)
    return np.asarray(values, dtype=dtype)


def make_input(rng, domain, shape, dtype) -> np.ndarray:
    """A random array of ``shape``/``dtype`` inside ``domain``."""
    if callable(domain):
        return np.asarray(domain(rng, shape, dtype), dtype=dtype)
    lo, hi = domain
    if dtype == "bool":
        return rng.random(size=shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(np.ceil(lo)), int(np.floor(hi)) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def _per_input(seq, n, what):
    if isinstance(seq, str) or not isinstance(seq, (list, tuple)):
        return [seq] * n
    if len(seq) == 1 and n != 1 and not _is_domain_pair(seq):
        return list(seq) * n
    if _is_domain_pair(seq):
        return [tuple(seq)] * n
    if len(seq) != n:
        raise ValueError(f"{what}: {len(seq)} entries given for {n} inputs")
    return list(seq)


def _is_domain_pair(seq):
    return len(seq) == 2 and all(isinstance(v, (int, float)) for v in seq)


# -- the checks -----------------------------------------------------------------------


def mode_for_linker(linker: str):
    """FAST_RUN on ``linker``; for DebugMode's ``debug`` linker, its finiteness check is
    off, since the NumPy reference itself says whether NaN/inf is the right answer."""
    if linker == "debug":
        return DebugMode(check_finite=False)
    if linker == TIERED:
        return th.compile.mode.get_mode("FAST_RUN")
    return th.Mode(linker=linker)


#: the default mode with tiering forced early: the checks see the swapped-in Numba version
TIERED = "tiered"
TIERED_FLAGS = {"tiered": True, "tiered__calls": 1, "tiered__seconds": 0.0,
                "tiered__faster": float("inf"), "tiered__child": False}


def run_on(linker: str, inputs, outs, arrays):
    """Compile ``outs`` for ``linker`` and call it on ``arrays``; for ``tiered``, the
    call after the swap (the first call runs the default engine and starts the
    Numba build, which must succeed and agree with it)."""
    if linker != TIERED:
        fn = th.function(inputs, outs, mode=mode_for_linker(linker), on_unused_input="ignore")
        return fn(*arrays)
    with th.config.change_flags(**TIERED_FLAGS):
        fn = th.function(inputs, outs, mode="FAST_RUN", on_unused_input="ignore")
        fn(*[a.copy() for a in arrays])
        fn.tiering.thread.join(600)
        assert fn.tiering.state == "numba", f"[{TIERED}] not swapped: {fn.tiering.reason}"
        got = fn(*arrays)
    assert fn.tiering.calls["numba"] == 1
    return got


def linker_names() -> list[str]:
    """Registered linkers that can run here, one name per linker class (aliases such
    as cvm skipped; an optional backend whose package is missing, e.g. JAX, left out
    with the reason printed once)."""
    seen, names = set(), []
    for name, factory in LINKERS.items():
        if factory in seen:
            continue
        seen.add(factory)
        if name not in _UNAVAILABLE:
            try:
                factory()
            except RuntimeError as exc:
                _UNAVAILABLE[name] = str(exc)
                print(f"op checker: linker {name!r} not run here: {exc}")
        if name not in _UNAVAILABLE:
            names.append(name)
    return names


def engine_names() -> list[str]:
    """What the value checks run on: the linkers, and ``tiered`` where Numba runs."""
    names = linker_names()
    return names + [TIERED] if "numba" in names else names


_UNAVAILABLE: dict = {}


def first_shape_set_linkers() -> list[str]:
    """Linkers that check only the first shape set of each case's first dtype: a
    backend whose every function is compiled to machine code (``compiles_slowly``,
    e.g. Numba) would otherwise dominate the suite's time; that set exercises its
    code for the case's ranks, later ones vary sizes, broadcasting and dtypes."""
    return [name for name in engine_names()
            if name == TIERED or getattr(LINKERS[name], "compiles_slowly", False)]


def declared_unsupported(mode, exc) -> bool:
    """Whether ``exc`` (raised compiling or running on ``mode``'s backend) is the clear
    error for an op that backend declares it cannot run yet (``unsupported_ops``):
    the message must name the op."""
    declared = getattr(mode.linker, "unsupported_ops", ())
    message = str(exc)
    if not isinstance(exc, NotImplementedError):
        return False
    return any(cls.__name__ in message for cls in declared)


def symbolic_inputs(arrays, dtypes, static: bool) -> list[Variable]:
    """Inputs with the arrays' exact static shapes, or unknown shapes with size-1 axes
    marked broadcastable (Theano's convention)."""
    out = []
    for pos, (arr, dt) in enumerate(zip(arrays, dtypes)):
        shape = arr.shape if static else tuple(1 if s == 1 else None for s in arr.shape)
        out.append(TensorType(dt, shape)(f"in{pos}"))
    return out


def _outputs(built) -> list[Variable]:
    return list(built) if isinstance(built, (list, tuple)) else [built]


def _tol(case, dtype):
    rtol, atol = VALUE_TOL.get(dtype, (0, 0))
    return (case.rtol if case.rtol is not None else rtol,
            case.atol if case.atol is not None else atol)


def compare(got, want, dtype_for_tol, rtol, atol, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, NumPy gives {want.shape}"
    if got.dtype.kind in "biu" and want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True,
                                   err_msg=what)


def check_values(case, in_vars, outs, arrays, refs, dtype, label, linkers=None):
    """Every linker gives the reference values with the declared dtypes and shapes."""
    rtol, atol = _tol(case, dtype)
    for linker in linkers or engine_names():
        # the py linker runs the graph as built (the reference); others after fast_run.
        # DebugMode checks every rewrite and node contract; the reference itself says
        # whether non-finite values are right, so its finiteness check is off here.
        mode = REFERENCE_MODE if linker == "py" else mode_for_linker(linker)
        copies = [a.copy() for a in arrays]
        try:
            got = run_on(linker, in_vars, outs, arrays) if linker != "py" else th.function(
                in_vars, outs, mode=mode, on_unused_input="ignore")(*arrays)
        except NotImplementedError as exc:
            assert declared_unsupported(mode, exc), f"{label} [{linker}]: {exc}"
            continue
        for pos, (a, c) in enumerate(zip(arrays, copies)):
            np.testing.assert_array_equal(a, c, err_msg=f"{label} [{linker}]: input {pos} "
                                          "was modified in place")
        for k, (out, value, ref) in enumerate(zip(outs, got, refs)):
            what = f"{label} [{linker}] output {k}"
            value = np.asarray(value) if not isinstance(value, np.ndarray) else value
            assert isinstance(value, np.ndarray), f"{what}: not an ndarray ({type(value)})"
            assert str(value.dtype) == out.type.dtype, \
                f"{what}: value dtype {value.dtype}, declared {out.type.dtype}"
            assert out.type.dtype == str(np.asarray(ref).dtype), \
                f"{what}: declared dtype {out.type.dtype}, NumPy gives {np.asarray(ref).dtype}"
            for st, real in zip(out.type.shape, value.shape):
                assert st is None or st == real, \
                    f"{what}: static shape {out.type.shape} but value shape {value.shape}"
            assert value.ndim == out.type.ndim, \
                f"{what}: {value.ndim} dims, declared {out.type.ndim}"
            if np.dtype(dtype).kind not in "fc" and out.type.dtype in VALUE_TOL:
                # integer inputs, float result (log2 of ints): the result's tolerance
                compare(value, ref, dtype, *_tol(case, out.type.dtype), what)
            else:
                compare(value, ref, dtype, rtol, atol, what)


def check_infer_shape(in_vars, outs, arrays, label):
    """Each node's ``infer_shape`` (compiled) equals the shapes of its real outputs."""
    nodes = io_toposort(in_vars, outs)
    watched, entries, where = [], [], []
    for node in nodes:
        shapes = [tuple(shape_i(inp, k) for k in range(inp.type.ndim))
                  if isinstance(inp.type, TensorType) else None for inp in node.inputs]
        try:
            inferred = node.op.infer_shape(None, node, shapes)
        except MethodNotDefined:
            raise AssertionError(f"{label}: {node.op} has no infer_shape") from None
        assert len(inferred) == len(node.outputs), \
            f"{label}: {node.op}.infer_shape gave {len(inferred)} shapes for " \
            f"{len(node.outputs)} outputs"
        for out, shp in zip(node.outputs, inferred):
            if not isinstance(out.type, TensorType):
                continue
            assert len(shp) == out.type.ndim, \
                f"{label}: {node.op}.infer_shape gave {len(shp)} entries for {out.type}"
            watched.append(out)
            for k, s in enumerate(shp):
                if not isinstance(s, Variable):
                    s = th.tensor.constant(np.int64(int(s)))
                entries.append(s)
                where.append((node, len(watched) - 1, k))
    if not watched:
        return
    fn = th.function(in_vars, watched + entries, mode=REFERENCE_MODE,
                     on_unused_input="ignore")
    values = fn(*arrays)
    real, inferred = values[:len(watched)], values[len(watched):]
    for (node, out_pos, k), value in zip(where, inferred):
        assert int(value) == np.shape(real[out_pos])[k], \
            f"{label}: {node.op}.infer_shape says axis {k} has size {int(value)}, the real " \
            f"output has shape {np.shape(real[out_pos])}"


def _float_positions(node):
    return [i for i, inp in enumerate(node.inputs)
            if isinstance(inp.type, TensorType) and inp.type.dtype.startswith("float")
            and not isinstance(inp, Constant)]


def check_node_grads(case, in_vars, outs, arrays, dtype, label, rng):
    """``L_op`` of each node against central finite differences of ``sum(out * gz)``.

    Nodes whose op has no ``L_op`` yet are left to ``verify_grad``. Returns the number
    of nodes checked.
    """
    nodes = [n for n in io_toposort(in_vars, outs)
             if any(isinstance(o.type, TensorType) and o.type.dtype.startswith("float")
                    for o in n.outputs)]
    if not nodes:
        return 0
    every = [v for n in nodes for v in n.inputs]
    values = th.function(in_vars, every, mode=REFERENCE_MODE,
                         on_unused_input="ignore")(*arrays)
    it = iter(values)
    checked = 0
    for node in nodes:
        vals = [next(it) for _ in node.inputs]
        if not all(np.all(np.isfinite(v)) for v in vals
                   if isinstance(v, np.ndarray) and v.dtype.kind == "f"):
            continue  # finite differences are meaningless at infinities
        if _check_one_node(node, vals, _float_positions(node), _node_dtype(node, dtype),
                           label, rng):
            checked += 1
    return checked


def _node_dtype(node, dtype):
    """The lowest float precision among the node's variables sets eps and tolerances."""
    floats = [v.type.dtype for v in node.inputs + node.outputs
              if isinstance(v.type, TensorType) and v.type.dtype.startswith("float")]
    return min(floats + [dtype], key=lambda d: np.dtype(d).itemsize)


def _check_one_node(node, vals, positions, dtype, label, rng) -> bool:
    if not positions:
        return False
    xs = [inp if isinstance(inp, Constant) or i not in positions else inp.type(f"x{i}")
          for i, inp in enumerate(node.inputs)]
    free = [xs[i] for i in positions]
    # non-float, non-constant inputs become constants holding their values
    xs = [x if (isinstance(x, Constant) or i in positions) else
          x.type.make_constant(vals[i]) for i, x in enumerate(xs)]
    new = node.op.make_node(*xs)
    float_outs = [k for k, o in enumerate(new.outputs)
                  if isinstance(o.type, TensorType) and o.type.dtype.startswith("float")]
    gzs = [new.outputs[k].type(f"gz{k}") if k in float_outs else None
           for k in range(len(new.outputs))]
    try:
        grads = node.op.L_op(xs, new.outputs, gzs)
    except MethodNotDefined:
        return False
    forward = th.function(free, [new.outputs[k] for k in float_outs],
                          mode=REFERENCE_MODE, on_unused_input="ignore")
    fvals = [vals[i] for i in positions]
    out_vals = forward(*fvals)
    gz_vals = [rng.standard_normal(np.shape(v)).astype(v.dtype) for v in out_vals]
    symbolic = [grads[i] for i in positions]
    for pos, g in zip(positions, symbolic):
        if isinstance(g, Variable) and isinstance(g.type, NullType):
            raise AssertionError(f"{label}: {node.op} declares no gradient w.r.t. input {pos}: "
                                 f"{g.type.why_null}")
    wanted = [g for g in symbolic if isinstance(g, Variable) and isinstance(g.type, TensorType)]
    backward = th.function(free + [gzs[k] for k in float_outs], wanted,
                           mode=REFERENCE_MODE, on_unused_input="ignore")
    got_wanted = iter(backward(*fvals, *gz_vals))
    rtol, atol = GRAD_TOL.get(dtype, GRAD_TOL["float32"])
    eps = 1e-6 if dtype == "float64" else 1e-2

    def phi(args):
        res = forward(*args)
        return sum(float(np.sum(np.asarray(r, dtype="float64") * g))
                   for r, g in zip(res, gz_vals))

    for j, (pos, g) in enumerate(zip(positions, symbolic)):
        got = next(got_wanted) if g in wanted else np.zeros_like(fvals[j])
        got = np.broadcast_to(got, np.shape(fvals[j]))
        num = np.zeros(np.shape(fvals[j]), dtype="float64")
        base = [np.array(v, copy=True) for v in fvals]
        for idx in np.ndindex(*np.shape(fvals[j])):
            plus = [np.array(v, copy=True) for v in base]
            minus = [np.array(v, copy=True) for v in base]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            num[idx] = (phi(plus) - phi(minus)) / (2 * eps)
        np.testing.assert_allclose(
            np.asarray(got, dtype="float64"), num, rtol=rtol, atol=atol * max(1, np.abs(num).max(
                initial=0)), err_msg=f"{label}: L_op of {node.op} w.r.t. input {pos} "
            "disagrees with finite differences")
    return True


def check_verify_grad(case, build, arrays, dtype, rng):
    """End-to-end gradient of the expression through ``verify_grad`` (if available)."""
    if verify_grad is None:
        return False
    positions = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"
                 and (case.grad_inputs is None or i in case.grad_inputs)]
    if not positions or any(a.size == 0 for a in arrays):
        return False
    fixed = list(arrays)

    def fun(*free):
        args = list(th.tensor.constant(a) for a in fixed)
        for p, v in zip(positions, free):
            args[p] = v
        outs = _outputs(build(*args))
        total = None
        for o in outs:
            if o.type.dtype.startswith("float"):
                term = o.sum()
                total = term if total is None else total + term
        return total

    # verify_grad picks eps and tolerances from the lowest precision in the graph
    verify_grad(fun, [fixed[p] for p in positions], rng=rng)
    return True


def check_case(case: OpCase, dtype, seed: int = 0, quick: bool = False) -> dict:
    """Run every check of ``case`` with input dtype(s) ``dtype``; returns counts.

    ``quick`` keeps one shape set in three (always the first and the last), which is
    how the secondary dtypes of a case are run.  Gradients are checked on the first
    shape set and on the first broadcasting one.
    """
    rng = np.random.default_rng(seed)
    counts = {"values": 0, "node_grads": 0, "verify_grad": 0}
    sets = case.shape_sets()
    if quick:
        sets = [s for k, s in enumerate(sets) if k % 3 == 0 or k == len(sets) - 1]
    # gradients are the slow part: check them on the first shape set and on the first
    # one that broadcasts (not in quick mode)
    grad_sets = {0} if quick else {0, next((k for k, s in enumerate(sets)
                                             if len(set(s)) > 1 and 0 not in sum(s, ())), 0)}
    for k_set, shapes in enumerate(sets):
        n = len(shapes)
        dtypes = _per_input(dtype, n, f"{case.name} dtypes")
        domains = _per_input(case.domains, n, f"{case.name} domains")
        arrays = [make_input(rng, d, s, dt) for d, s, dt in zip(domains, shapes, dtypes)]
        with np.errstate(all="ignore"):
            refs = _outputs(case.ref(*[a.copy() for a in arrays]))
        for static in ((True, False) if case.static else (False,)):
            label = f"{case.name} {dtypes} shapes={shapes} static={static}"
            in_vars = symbolic_inputs(arrays, dtypes, static)
            outs = _outputs(case.build(*in_vars))
            assert len(outs) == len(refs), f"{label}: {len(outs)} outputs, ref {len(refs)}"
            # static shapes exercise make_node's shape logic: one linker is enough there
            linkers = ["vm"] if static else None if k_set == 0 and not quick else [
                name for name in linker_names() if name not in first_shape_set_linkers()]
            check_values(case, in_vars, outs, arrays, refs, dtypes[0], label, linkers=linkers)
            if not static:
                check_infer_shape(in_vars, outs, arrays, label)
            counts["values"] += 1
            if case.grad and not static and k_set in grad_sets:
                grad_dtype = next((d for d in dtypes if d.startswith("float")), None)
                if grad_dtype is None:
                    continue
                counts["node_grads"] += check_node_grads(case, in_vars, outs, arrays,
                                                         grad_dtype, label, rng)
                counts["verify_grad"] += check_verify_grad(case, case.build, arrays,
                                                           grad_dtype, rng)
    return counts


def case_params(cases):
    """``(case, dtype, quick)`` triples for ``pytest.mark.parametrize`` with readable ids."""
    return [pytest.param(c, d, k > 0,
                         id=f"{c.name}-{d if isinstance(d, str) else '_'.join(d)}")
            for c in cases for k, d in enumerate(c.dtypes)]
