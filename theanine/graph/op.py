"""Op: the operation of an Apply node, hashable by its parameters."""

from __future__ import annotations

from collections.abc import Sequence

from theanine.graph.basic import Apply, Variable
from theanine.graph.utils import MethodNotDefined

_test_value_hook = None


def set_test_value_hook(fn) -> None:
    """Install the function that computes test values of new nodes (debug layer)."""
    global _test_value_hook
    _test_value_hook = fn


#: what ops keep about themselves in ``__dict__``, dropped when an attribute changes:
#: the hash, the name, the output dtypes per input dtypes (``ScalarOp``)
_CACHES = ("_op_hash", "_op_str", "_dtypes_memo")


class InternedOp(type):
    """Metaclass of immutable ops that graphs hold by the thousand (a gradient makes
    a ``DimShuffle`` and a ``Sum`` per broadcast): a call with arguments seen before
    returns the op it made then, and a new op equal to an earlier one is that one.
    Equal ops are interchangeable, so this changes no result; it saves building
    them, and lets passes that cache per op object answer once."""

    def __call__(cls, *args, **kwargs):
        tables = cls.__dict__.get("_interned")
        if tables is None:
            tables = ({}, {})               # by arguments, by value
            type.__setattr__(cls, "_interned", tables)
        by_args, by_value = tables
        key = (args, tuple(sorted(kwargs.items()))) if kwargs else args
        try:
            found = by_args.get(key)
        except TypeError:                   # unhashable arguments (a list of axes)
            key = None
            found = None
        if found is None:
            op = super().__call__(*args, **kwargs)
            try:
                found = by_value.setdefault(op, op)
            except TypeError:               # unhashable props: never shared
                return op
            if key is not None:
                by_args[key] = found
        return found


class Op:
    """An operation: builds Apply nodes and says what they compute.

    Subclasses list their parameters in ``__props__``; two ops of one class with
    equal props are equal, which is what lets merging and caching work.
    ``view_map`` / ``destroy_map`` map an output index to the input indices it
    aliases / overwrites.  ``lazy``: some inputs are computed only when the op asks
    for them (``IfElse``), so rewrites must not merge work across it.
    """

    __props__: tuple[str, ...] = ()
    lazy: bool = False
    view_map: dict[int, list[int]] = {}
    destroy_map: dict[int, list[int]] = {}
    default_output: int | None = None

    def _props(self) -> tuple:
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        # cached: merging and rule dispatch hash the same ops over and over; any
        # attribute assignment drops the cache (props are set in __init__ only)
        found = self.__dict__.get("_op_hash")
        if found is None:
            found = self.__dict__["_op_hash"] = hash((type(self), self._props()))
        return found

    def __setattr__(self, name, value) -> None:
        object.__setattr__(self, name, value)
        for cached in _CACHES:
            self.__dict__.pop(cached, None)

    def __getstate__(self):
        state = dict(self.__dict__)
        for cached in _CACHES:        # string hashes differ between processes
            state.pop(cached, None)
        return state

    def __str__(self) -> str:
        if self.__props__:
            args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.__props__)
            return f"{type(self).__name__}{{{args}}}"
        return type(self).__name__

    __repr__ = __str__

    def kinds(self) -> tuple[type, ...]:
        """The classes of the computations this op performs (its own; an op made of
        others adds theirs): a rewrite pass skips a rule whose pattern needs a kind
        the graph lacks (``Rule.needs``)."""
        return (type(self),)

    def make_node(self, *inputs) -> Apply:
        raise MethodNotDefined(f"{type(self).__name__}.make_node")

    def __call__(self, *inputs, **kwargs):
        node = self.make_node(*inputs, **kwargs)
        if _test_value_hook is not None:
            _test_value_hook(node)
        if self.default_output is not None:
            return node.outputs[self.default_output]
        if len(node.outputs) == 1:
            return node.outputs[0]
        return node.outputs

    def perform(self, node: Apply, inputs: Sequence, output_storage: list[list]) -> None:
        """Compute outputs with NumPy: set ``output_storage[i][0]``."""
        raise MethodNotDefined(f"{type(self).__name__}.perform")

    def infer_shape(self, fgraph, node: Apply, input_shapes):
        """Return one tuple of symbolic sizes per output."""
        raise MethodNotDefined(f"{type(self).__name__}.infer_shape")

    def grad(self, inputs: Sequence[Variable], output_grads: Sequence[Variable]):
        raise MethodNotDefined(f"{type(self).__name__}.grad")

    def L_op(self, inputs, outputs, output_grads):
        """Vector-Jacobian product; defaults to ``grad``."""
        return self.grad(inputs, output_grads)

    def R_op(self, inputs, eval_points):
        raise MethodNotDefined(f"{type(self).__name__}.R_op")

    def connection_pattern(self, node: Apply):
        """``[input][output]`` booleans: does the output depend on the input?"""
        return [[True] * len(node.outputs) for _ in node.inputs]

    def do_constant_folding(self, fgraph, node: Apply) -> bool:
        return True

    def inplace_variant(self) -> Op | None:
        """The in-place form of this op, or None (the protocol of the inplace pass).

        An op that can overwrite one of its inputs (gemm into its accumulator,
        set_subtensor into its target) returns an equal-meaning op whose
        ``destroy_map`` says which input it overwrites.  The variant must accept
        the same inputs (``variant.make_node(*node.inputs)``) and give outputs of
        the same types.  The inplace pass swaps it in when the destroy handler
        agrees (the input is not needed later, not a constant, not a non-mutable
        function input) and leaves the node alone otherwise.
        """
        return None

    def inner_graphs(self) -> list:
        """Inner FunctionGraphs (Composite, IfElse, Scan) for printers and rewrites."""
        return []


class _FromFunctionOp(Op):
    """An Op that wraps a plain NumPy function (made by ``as_op``)."""

    __props__ = ("fn", "itypes", "otypes", "infer_shape_fn")

    def __init__(self, fn, itypes, otypes, infer_shape_fn=None):
        self.fn = fn
        self.itypes = tuple(itypes)
        self.otypes = tuple(otypes)
        self.infer_shape_fn = infer_shape_fn
        self.__name__ = getattr(fn, "__name__", "as_op")

    def __str__(self):
        return f"FromFunctionOp{{{self.__name__}}}"

    def make_node(self, *inputs):
        if len(inputs) != len(self.itypes):
            raise TypeError(f"{self}: expected {len(self.itypes)} inputs, got {len(inputs)}")
        converted = []
        for pos, (inp, itype) in enumerate(zip(inputs, self.itypes)):
            if not isinstance(inp, Variable):
                inp = itype.make_constant(inp)
            conv = itype.convert_variable(inp)
            if conv is None:
                raise TypeError(f"{self}: input {pos} has type {inp.type}, expected {itype}")
            converted.append(conv)
        return Apply(self, converted, [t() for t in self.otypes])

    def perform(self, node, inputs, output_storage):
        outs = self.fn(*inputs)
        if len(self.otypes) == 1:
            outs = [outs]
        for store, value, otype in zip(output_storage, outs, self.otypes):
            store[0] = otype.filter(value, allow_downcast=True)

    def infer_shape(self, fgraph, node, input_shapes):
        if self.infer_shape_fn is None:
            raise MethodNotDefined(f"{self}.infer_shape")
        return self.infer_shape_fn(fgraph, node, input_shapes)


def as_op(itypes, otypes, infer_shape=None):
    """Decorator turning a NumPy function into an Op: ``@as_op([dmatrix], [dvector])``."""
    itypes = itypes if isinstance(itypes, (list, tuple)) else [itypes]
    otypes = otypes if isinstance(otypes, (list, tuple)) else [otypes]

    def wrap(fn):
        return _FromFunctionOp(fn, itypes, otypes, infer_shape)

    return wrap
