"""Composite: one scalar op made of a small graph of scalar ops.

The fusion pass turns a group of elementwise tensor ops into ``Elemwise(Composite)``;
the Composite's inner graph is what a kernel compiler turns into one loop over
memory.  The op is identified by the *structure* of its graph (op, argument
wiring, constants, dtypes), so two fusions of the same expression merge and share
one compiled kernel.  ``impl`` evaluates the graph with NumPy: the reference
(``perform``) and the fallback for kernels a native engine cannot express.
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

from theanine.graph.basic import Apply, Constant, Variable, io_toposort
from theanine.scalar.basic import ScalarOp, ScalarType, add, get_scalar_type

NAME_LIMIT = 160


# -- references: what a step argument or an output of a Composite names ----------------
# Plain tuples underneath (so Composites compare and hash by structure, and kernel
# programs serialize them as lists), with names for their fields.

class InputRef(NamedTuple):
    """``("in", index)``: the Composite's input ``index``."""

    kind: str
    index: int


_INPUT_REFS = [InputRef("in", k) for k in range(64)]


class NodeRef(NamedTuple):
    """``("node", step, output)``: output ``output`` of step ``step`` of ``code``."""

    kind: str
    step: int
    output: int


_FIRST_OUTPUT_REFS = [NodeRef("node", k, 0) for k in range(512)]


class ConstRef(NamedTuple):
    """``("const", dtype, value)``: a constant, ``value`` a NumPy scalar of ``dtype``."""

    kind: str
    dtype: str
    value: object


def input_ref(index: int) -> InputRef:
    if index < len(_INPUT_REFS):         # (values: one object each serves every Composite)
        return _INPUT_REFS[index]
    return InputRef("in", index)


def node_ref(step: int, output: int = 0) -> NodeRef:
    if output == 0 and step < len(_FIRST_OUTPUT_REFS):
        return _FIRST_OUTPUT_REFS[step]
    return NodeRef("node", step, output)


def const_ref(dtype: str, value) -> ConstRef:
    return ConstRef("const", dtype, value)


def _const_key(var: Constant) -> tuple:
    data = np.asarray(var.data, dtype=var.type.dtype)
    return (var.type.dtype, data.tobytes())


#: the Composites ``from_code`` made that are still in use, by value
_alive: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class Composite(ScalarOp):
    """A scalar op defined by the graph from ``inputs`` to ``outputs``.

    ``inputs`` are owner-less ScalarType Variables; ``outputs`` are ScalarType
    Variables computed from them (and from scalar Constants) by ScalarOps.
    The graph is flattened into ``code``: one ``(op, args, out_dtypes)`` entry per
    node, where each argument is an ``InputRef``, a ``NodeRef`` or a ``ConstRef``;
    ``outputs_ref`` lists the output references.
    """

    kernel_name = ""   # not a kernel primitive: the fusion pass inlines it

    def __init__(self, inputs, outputs):
        inputs, outputs = list(inputs), list(outputs)
        for pos, var in enumerate(inputs):
            if not isinstance(var.type, ScalarType) or var.owner is not None:
                raise TypeError(f"Composite input {pos} must be a free scalar Variable, "
                                f"got {var} of type {var.type}")
        if not outputs:
            raise ValueError("Composite needs at least one output")
        ref: dict = {var: input_ref(k) for k, var in enumerate(inputs)}
        code = []
        for j, node in enumerate(io_toposort(inputs, outputs)):
            args = []
            for pos, inp in enumerate(node.inputs):
                if inp in ref:
                    args.append(ref[inp])
                elif isinstance(inp, Constant):
                    args.append(_const_ref(inp))
                else:
                    raise ValueError(f"Composite: {node.op} input {pos} ({inp}) is neither "
                                     "a Composite input, a constant nor computed inside")
            if not isinstance(node.op, ScalarOp):
                raise TypeError(f"Composite: {node.op} is not a scalar op")
            code.append((node.op, tuple(args), tuple(o.type.dtype for o in node.outputs)))
            for k, out in enumerate(node.outputs):
                ref[out] = node_ref(j, k)
        out_refs = []
        for pos, out in enumerate(outputs):
            if out in ref:
                out_refs.append(ref[out])
            elif isinstance(out, Constant):
                out_refs.append(_const_ref(out))
            else:
                raise ValueError(f"Composite output {pos} ({out}) is not computed from the "
                                 "inputs")
        self._setup(tuple(v.type.dtype for v in inputs), tuple(code), tuple(out_refs),
                    tuple(o.type.dtype for o in outputs))

    @classmethod
    def from_code(cls, in_dtypes, code, out_refs, out_dtypes) -> Composite:
        """Build directly from the flat form (what the fusion pass produces).  A
        Composite equal to one still alive is that one: the fusion of a deep
        gradient builds thousands of equal ones (5,707 of 7 kinds at 10,000 layers;
        the function of a 3,000-layer gradient held 20.8 MB with one each, 15.6 MB
        now), and what is cached per Composite (its name, its NumPy chain) is then
        made once per kind."""
        self = cls.__new__(cls)
        self._setup(tuple(in_dtypes), tuple(code), tuple(out_refs), tuple(out_dtypes))
        return _alive.setdefault(self._key, self) if cls is Composite else self

    def _setup(self, in_dtypes, code, out_refs, out_dtypes) -> None:
        self.in_dtypes = in_dtypes
        self.code = code
        self.outputs_ref = out_refs
        self.out_dtypes = out_dtypes
        self.nin = len(in_dtypes)
        self.nout = len(out_refs)
        self._graph = None
        key_code = tuple(map(_entry_key, code))
        self._key = (in_dtypes, key_code, tuple(_arg_key(a) for a in out_refs), out_dtypes)
        self._hash = hash(self._key)
        self._name = None

    # -- identity ---------------------------------------------------------------
    def __eq__(self, other):
        return type(self) is type(other) and (self is other or self._key == other._key)

    def __hash__(self):
        return self._hash

    @property
    def name(self) -> str:
        if self._name is None:
            exprs = expression_strings(self)
            text = ", ".join(exprs)
            if len(text) > NAME_LIMIT:
                text = text[:NAME_LIMIT - 3] + "..."
            self._name = f"Composite{{{text}}}"
        return self._name

    def __str__(self):
        return self.name

    # -- typing and evaluation -----------------------------------------------------
    def output_dtypes(self, in_dtypes):
        in_dtypes = tuple(str(d) for d in in_dtypes)
        if in_dtypes != self.in_dtypes:
            raise TypeError(f"{self.name} expects input dtypes {self.in_dtypes}, "
                            f"got {in_dtypes}")
        return self.out_dtypes

    def impl(self, *inputs):
        """Evaluate the graph with NumPy (inputs broadcast as NumPy does)."""
        values = []
        with np.errstate(all="ignore"):
            for op, args, dts in self.code:
                vals = [arg_value(a, inputs, values) for a in args]
                result = op.impl(*vals)
                results = result if len(dts) > 1 else (result,)
                fixed = []
                for val, dt in zip(results, dts):
                    val = np.asarray(val)
                    fixed.append(val if val.dtype == dt else val.astype(dt))
                values.append(fixed)
        outs = []
        for ref, dt in zip(self.outputs_ref, self.out_dtypes):
            val = np.asarray(arg_value(ref, inputs, values))
            outs.append(val if val.dtype == dt else val.astype(dt))
        return tuple(outs) if self.nout > 1 else outs[0]

    def L_op(self, inputs, outputs, output_grads):
        """Reverse-mode through the inner graph, rebuilt on ``inputs``, using each
        inner op's own scalar gradient (so ``Elemwise(Composite)`` differentiates
        like the unfused ops)."""
        values: list = []
        nodes = []

        def var_of(a):
            return ref_variable(a, inputs, values)

        for op, args, _ in self.code:
            node = op.make_node(*[var_of(a) for a in args])
            nodes.append(node)
            values.append(node.outputs)
        grads: dict = {}

        def accumulate(var, g):
            grads[var] = g if var not in grads else add(grads[var], g)

        for ref, g in zip(self.outputs_ref, output_grads):
            if g is not None and ref[0] != "const":
                accumulate(var_of(ref), g)
        for node in reversed(nodes):
            gouts = [grads.get(o) for o in node.outputs]
            if all(g is None for g in gouts):
                continue
            gouts = [Constant(o.type, 0) if g is None else g
                     for o, g in zip(node.outputs, gouts)]
            for inp, g in zip(node.inputs, node.op.L_op(node.inputs, node.outputs, gouts)):
                if g is not None and not isinstance(inp, Constant):
                    accumulate(inp, g)
        return [grads.get(i, Constant(i.type, 0)) for i in inputs]

    @property
    def n_ops(self) -> int:
        return len(self.code)

    def kinds(self) -> tuple[type, ...]:
        return (Composite, *{kind: None for op, _, _ in self.code for kind in op.kinds()})

    # -- the inner graph -------------------------------------------------------------
    def fgraph_io(self) -> tuple[list[Variable], list[Variable]]:
        """``(inputs, outputs)`` of the inner scalar graph (built once, on demand)."""
        if self._graph is None:
            ins = [get_scalar_type(dt)(name=f"i{k}") for k, dt in enumerate(self.in_dtypes)]
            values: list = []
            for op, args, dts in self.code:
                node = Apply(op, [ref_variable(a, ins, values) for a in args],
                             [get_scalar_type(dt)() for dt in dts])
                values.append(node.outputs)
            self._graph = (ins, [ref_variable(a, ins, values) for a in self.outputs_ref])
        return self._graph

    def inner_graphs(self) -> list:
        """The inner scalar graph as ``[(inputs, outputs)]`` for printers."""
        return [self.fgraph_io()]

    def kernel_program_data(self) -> dict | None:
        """Plain data for a ``KernelProgram`` (keyword arguments), or None when an
        op has no kernel name.  SSA names: inputs ``i<k>``, values ``t<j>``."""
        inputs = tuple((f"i{k}", dt) for k, dt in enumerate(self.in_dtypes))
        instructions, dtypes = [], []
        for j, (op, args, dts) in enumerate(self.code):
            if not op.kernel_name or len(dts) != 1:
                return None
            instructions.append((f"t{j}", op.kernel_name, tuple(_kernel_arg(a) for a in args)))
            dtypes.append((f"t{j}", dts[0]))
        outputs = []
        for ref, dt in zip(self.outputs_ref, self.out_dtypes):
            if ref[0] == "const":
                return None
            if ref[0] == "in":
                name = f"o{len(instructions)}"
                instructions.append((name, "identity", (f"i{ref[1]}",)))
                dtypes.append((name, dt))
                outputs.append(name)
            else:
                outputs.append(f"t{ref[1]}")
        return {"inputs": inputs, "instructions": tuple(instructions),
                "dtypes": tuple(dtypes), "outputs": tuple(outputs)}


def _entry_key(entry) -> tuple:
    """A code entry as part of the key: the entry itself unless it reads a constant
    (most do not, and fusing a deep gradient makes thousands of entries)."""
    op, args, dts = entry
    for a in args:
        if a[0] == "const" or not isinstance(a, tuple):
            return (op, tuple(_arg_key(b) for b in args), dts)
    return entry


def _arg_key(a) -> tuple:
    if a[0] == "const":
        # constants are stored as NumPy scalars of their dtype (see __init__ and
        # the fusion pass), so their bytes identify them
        value = a[2]
        if not isinstance(value, np.generic):
            value = np.asarray(value, dtype=a[1])[()]
        return ("const", a[1], value.tobytes())
    return a if isinstance(a, tuple) else tuple(a)     # references are tuples already


def _const_ref(c: Constant) -> ConstRef:
    """Step argument of a constant: its dtype and value as a NumPy scalar of that dtype."""
    return const_ref(c.type.dtype, np.asarray(c.data, dtype=c.type.dtype)[()])


def ref_dtype(a, comp: Composite) -> str:
    """The dtype of the value reference ``a`` names inside ``comp``."""
    if a[0] == "in":
        return comp.in_dtypes[a[1]]
    if a[0] == "node":
        return comp.code[a[1]][2][a[2]]
    return a[1]


def shift_ref(a, args, base: int):
    """A reference of an inner Composite's code, rewritten for code that inlines it
    at step ``base`` with its inputs bound to ``args`` (the fusion pass's merge)."""
    if a[0] == "in":
        return args[a[1]]
    if a[0] == "node":
        return node_ref(base + a[1], a[2])
    return a


def ref_variable(a, inputs, step_outputs) -> Variable:
    """The scalar Variable reference ``a`` names, given the input Variables and each
    step's output Variables (a constant becomes a new Constant)."""
    if a[0] == "in":
        return inputs[a[1]]
    if a[0] == "node":
        return step_outputs[a[1]][a[2]]
    return Constant(get_scalar_type(a[1]), a[2])


def arg_value(a, inputs, values):
    """Value of step argument ``a``: an input, an earlier step's output, or a constant."""
    kind = a[0]
    if kind == "in":
        return inputs[a[1]]
    if kind == "node":
        return values[a[1]][a[2]]
    return np.asarray(a[2], dtype=a[1])


def _kernel_arg(a):
    if a[0] == "in":
        return f"i{a[1]}"
    if a[0] == "node":
        return f"t{a[1]}"
    value = np.asarray(a[2], dtype=a[1])[()]
    return value.item()


def expression_strings(comp: Composite) -> list[str]:
    """Infix text of each output, inputs named ``i0, i1, ...``."""
    texts: list = []   # per node: list of (text, precedence) per output

    def text_of(a) -> tuple[str, int]:
        if a[0] == "in":
            return f"i{a[1]}", 100
        if a[0] == "node":
            return texts[a[1]][a[2]]
        value = np.asarray(a[2])[()]
        return (repr(value.item()) if hasattr(value, "item") else repr(value)), 100

    for op, args, dts in comp.code:
        parts = [text_of(a) for a in args]
        sym = getattr(op, "symbol", None)
        prec = getattr(op, "precedence", 100)
        if sym and len(parts) == 2:
            left = parts[0][0] if parts[0][1] >= prec else f"({parts[0][0]})"
            right = parts[1][0] if parts[1][1] > prec else f"({parts[1][0]})"
            text = (f"{left}{sym}{right}", prec)
        elif sym and len(parts) == 1:
            inner = parts[0][0] if parts[0][1] > prec else f"({parts[0][0]})"
            text = (f"{sym}{inner}", prec)
        else:
            text = (f"{op.name}({', '.join(p[0] for p in parts)})", 100)
        if len(text[0]) > NAME_LIMIT:
            text = (text[0][:NAME_LIMIT] + "...", 100)
        texts.append([text] * len(dts))
    return [text_of(r)[0] for r in comp.outputs_ref]
