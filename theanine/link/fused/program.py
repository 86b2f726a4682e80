"""Plain-data description of a fused elementwise kernel.

A :class:`KernelProgram` is a straight-line SSA program over scalars: every
instruction reads input names, earlier SSA names or Python number constants and
defines one new name.  The engines (``numba_engine``, ``numexpr_engine``) turn
it into a loop over the broadcast shape of the inputs.  Nothing here imports
numba, so the compiler side can build and hash programs cheaply.

Semantics follow NumPy ufuncs exactly, with the result dtype of every
instruction given explicitly in ``dtypes``: arguments are cast to the
instruction's *compute dtype* (the output dtype for arithmetic, the promoted
argument dtype for comparisons) and the result is cast to the output dtype.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from theanine.scalar.basic import numpy_output_dtypes

__all__ = [
    "KernelProgram",
    "OPS",
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "SUPPORTED_DTYPES",
    "supported",
    "compute_dtype",
    "reduce_result_dtype",
]

FLOAT_DTYPES = frozenset({"float32", "float64"})
SIGNED_DTYPES = frozenset({"int8", "int16", "int32", "int64"})
UNSIGNED_DTYPES = frozenset({"uint8", "uint16", "uint32", "uint64"})
INT_DTYPES = SIGNED_DTYPES | UNSIGNED_DTYPES
SUPPORTED_DTYPES = FLOAT_DTYPES | INT_DTYPES | {"bool"}

# opname -> number of arguments
OPS: dict[str, int] = {
    **{n: 2 for n in (
        "add", "sub", "mul", "true_div", "int_div", "mod", "pow", "arctan2",
        "maximum", "minimum", "lt", "gt", "le", "ge", "eq", "neq", "and", "or", "xor",
    )},
    **{n: 1 for n in (
        "neg", "abs", "sign", "floor", "ceil", "round", "round_half_away", "trunc", "exp",
        "exp2", "expm1", "gammaln",
        "log", "log2", "log10", "log1p", "sqrt", "sqr", "sin", "cos", "tan", "arcsin",
        "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh",
        "sigmoid", "softplus", "erf", "erfc", "invert", "isnan", "isinf", "identity",
        "cast", "reciprocal",
    )},
    "clip": 3,
    "switch": 3,
}

# Scalar ops of the catalogue (by ``kernel_name``) that no kernel engine expresses:
# fusion leaves them out and they run as NumPy calls.  Every named scalar op is in
# ``OPS`` or here (a test checks it), so a new op is a decision, not an oversight.
UNFUSED = frozenset({"erfinv", "psi"})

# Float-only transcendental / real functions (integer arguments are cast to the
# float output dtype, like NumPy does).
FLOAT_FUNCS = frozenset({
    "true_div", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin",
    "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
    "arcsinh", "arccosh", "arctanh", "sigmoid", "softplus", "erf", "erfc", "reciprocal",
    "gammaln",
})
#: the transcendental functions: costly per element (about 1 ns each, vectorized,
#: against a few hundredths for arithmetic), what makes a program compute-bound
COSTLY_OPS = (FLOAT_FUNCS - {"true_div", "sqrt", "reciprocal"}) | {"pow"}
ARITH = frozenset({
    "add", "sub", "mul", "int_div", "mod", "pow", "neg", "abs", "sign", "sqr",
    "floor", "ceil", "round", "round_half_away", "trunc", "maximum", "minimum", "clip",
})
COMPARISONS = frozenset({"lt", "gt", "le", "ge", "eq", "neq"})
LOGICAL = frozenset({"and", "or", "xor", "invert"})
REDUCE_OPS = frozenset({"sum", "prod", "max", "min"})


def _as_const_repr(a):
    if isinstance(a, (bool, np.bool_)):
        return ["b", bool(a)]
    if isinstance(a, (int, np.integer)):
        return ["i", int(a)]
    if isinstance(a, (float, np.floating)):
        # float.hex keeps NaN/inf/-0.0 and every bit of the value
        return ["f", float(a).hex()]
    raise TypeError(f"unsupported constant {a!r}")


@dataclass(frozen=True)
class KernelProgram:
    """A fused elementwise program.

    ``inputs``: ``((name, dtype), ...)``; each input is an array of any shape or a
    0-d array/scalar, all broadcast together NumPy-style.
    ``instructions``: ``((out_name, opname, args), ...)``; each arg is an input or
    SSA name (``str``) or a Python ``int``/``float``/``bool`` constant.
    ``dtypes``: ``((ssa_name, dtype), ...)`` for every instruction output.
    ``outputs``: names (SSA or input) returned by the kernel.
    ``reduce``: ``None`` or ``(op, axes)`` with op in sum/prod/max/min and axes a
    tuple of ints (relative to the broadcast shape) or ``None`` for all axes; only
    allowed with a single output.
    """

    inputs: tuple
    instructions: tuple
    dtypes: tuple
    outputs: tuple
    reduce: tuple | None = None
    _dtype_map: dict = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self):
        # normalise containers so that equal programs hash equally
        object.__setattr__(self, "inputs", tuple((str(n), str(np.dtype(d)))
                                                 for n, d in self.inputs))
        instrs = []
        for out, op, args in self.instructions:
            instrs.append((str(out), str(op), tuple(args)))
        object.__setattr__(self, "instructions", tuple(instrs))
        dt = self.dtypes.items() if isinstance(self.dtypes, dict) else self.dtypes
        object.__setattr__(self, "dtypes", tuple((str(n), str(np.dtype(d))) for n, d in dt))
        object.__setattr__(self, "outputs", tuple(str(o) for o in self.outputs))
        if self.reduce is not None:
            op, axes = self.reduce
            if axes is not None:
                axes = tuple(int(a) for a in axes)
            object.__setattr__(self, "reduce", (str(op), axes))
        dmap = dict(self.inputs)
        dmap.update(self.dtypes)
        object.__setattr__(self, "_dtype_map", dmap)
        self.validate()

    # ------------------------------------------------------------------ helpers
    def dtype_of(self, name: str) -> str:
        return self._dtype_map[name]

    @property
    def input_names(self) -> tuple:
        return tuple(n for n, _ in self.inputs)

    @property
    def costly(self) -> bool:
        """Whether some instruction is a transcendental function (``COSTLY_OPS``): the
        program is then bound by its math rather than by memory or call overhead."""
        return any(op in COSTLY_OPS for _, op, _ in self.instructions)

    def validate(self) -> None:
        defined = set()
        for n, d in self.inputs:
            if n in defined:
                raise ValueError(f"duplicate input {n}")
            if d not in SUPPORTED_DTYPES:
                raise ValueError(f"unsupported dtype {d} for input {n}")
            defined.add(n)
        for out, op, args in self.instructions:
            if op not in OPS:
                raise ValueError(f"unknown op {op}")
            if len(args) != OPS[op]:
                raise ValueError(f"{op} takes {OPS[op]} args, got {len(args)}")
            for a in args:
                if isinstance(a, str):
                    if a not in defined:
                        raise ValueError(f"{out}: undefined name {a}")
                else:
                    _as_const_repr(a)
            if out in defined:
                raise ValueError(f"{out} defined twice")
            if out not in self._dtype_map:
                raise ValueError(f"no dtype for {out}")
            defined.add(out)
        for o in self.outputs:
            if o not in defined:
                raise ValueError(f"undefined output {o}")
        if self.reduce is not None:
            op, _ = self.reduce
            if op not in REDUCE_OPS:
                raise ValueError(f"unknown reduction {op}")
            if len(self.outputs) != 1:
                raise ValueError("a reduction needs exactly one output")

    def arg_dtype(self, a) -> object:
        """dtype string of a named arg, or the Python constant itself (weak scalar)."""
        if isinstance(a, str):
            return self._dtype_map[a]
        return a

    def canonical(self) -> str:
        data = {
            "inputs": [list(x) for x in self.inputs],
            "instructions": [
                [o, op, [["n", a] if isinstance(a, str) else _as_const_repr(a) for a in args]]
                for o, op, args in self.instructions
            ],
            "dtypes": sorted([list(x) for x in self.dtypes]),
            "outputs": list(self.outputs),
            "reduce": None if self.reduce is None else [
                self.reduce[0], None if self.reduce[1] is None else list(self.reduce[1])],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        """Stable sha256 hex digest of the program (used to name cached kernels)."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def output_dtypes(self) -> tuple:
        return tuple(self._dtype_map[o] for o in self.outputs)

    def reduce_dtype(self) -> str | None:
        """dtype of the reduced result (NumPy's default accumulator rules)."""
        if self.reduce is None:
            return None
        return reduce_result_dtype(self.reduce[0], self.output_dtypes()[0])


def _weak_result_type(args) -> np.dtype:
    vals = []
    for a in args:
        if isinstance(a, str):
            vals.append(np.dtype(a))
        elif isinstance(a, (bool, np.bool_)):
            vals.append(bool(a))
        elif isinstance(a, (int, np.integer)):
            vals.append(int(a))
        else:
            vals.append(float(a))
    if all(not isinstance(v, np.dtype) for v in vals):
        return np.result_type(*[np.asarray(v) for v in vals])
    return np.result_type(*vals)


def compute_dtype(op: str, arg_dtypes, out_dtype: str) -> str:
    """dtype in which ``op`` is evaluated.

    ``arg_dtypes`` holds dtype strings for named args and the Python constants
    themselves for constant args (so NumPy's weak-scalar promotion applies).
    """
    if op in COMPARISONS:
        return str(_weak_result_type(arg_dtypes))
    if op in ("isnan", "isinf"):
        a = arg_dtypes[0]
        return a if isinstance(a, str) else str(_weak_result_type([a]))
    return out_dtype


def reduce_result_dtype(op: str, dtype: str) -> str:
    return numpy_output_dtypes(getattr(np, op), (dtype,))[0]


def supported(opname: str, dtypes, out_dtype: str | None = None) -> bool:
    """Whether the engines can fuse ``opname`` with argument dtypes ``dtypes``.

    ``dtypes`` is a sequence of argument dtypes (strings/np.dtype; Python
    constants may be given as themselves).  ``out_dtype`` defaults to NumPy's
    result dtype for the op when it can be inferred.
    """
    if opname not in OPS:
        return False
    try:
        args = [a if not isinstance(a, (str, np.dtype, type)) else str(np.dtype(a))
                for a in dtypes]
    except TypeError:
        return False
    if len(args) != OPS[opname]:
        return False
    for a in args:
        if isinstance(a, str) and a not in SUPPORTED_DTYPES:
            return False
    if out_dtype is None:
        if opname in COMPARISONS or opname in ("isnan", "isinf"):
            out_dtype = "bool"
        elif opname in ("cast", "identity", "switch"):
            out_dtype = args[-1] if isinstance(args[-1], str) else "float64"
        else:
            out_dtype = str(_weak_result_type(args))
            if opname in FLOAT_FUNCS and out_dtype not in FLOAT_DTYPES:
                out_dtype = "float64"
    out_dtype = str(np.dtype(out_dtype))
    if out_dtype not in SUPPORTED_DTYPES:
        return False
    if opname in FLOAT_FUNCS:
        return out_dtype in FLOAT_DTYPES
    if opname in COMPARISONS or opname in ("isnan", "isinf"):
        return out_dtype == "bool"
    if opname in ("and", "or", "xor", "invert"):
        return out_dtype == "bool" or out_dtype in INT_DTYPES
    if opname in ("switch", "identity", "cast"):
        return True
    # remaining: arithmetic on numbers; bool arithmetic is not fused
    if out_dtype == "bool":
        return opname in ("maximum", "minimum")
    return True
