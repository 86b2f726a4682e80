"""Thunks for fused nodes: ``Elemwise(Composite)`` and ``FusedReduce``.

The Composite becomes a ``KernelProgram`` compiled by the engine that
``config.fused_kernel`` names (``auto``: Numba if importable, else numexpr, else
NumPy), cached on disk under ``config.compiledir``.  Native kernels are built
lazily, on the first call with a large input, and shared by every node with the
same program.  With ``config.fused_kernel_async`` that call (and later ones, until
the kernel is ready) runs the NumPy evaluation while a thread compiles.  Arrays
below ``SMALL`` elements take the NumPy path: there a native call's overhead
costs more than it saves (NumPy's own SIMD ``exp``/``tanh`` loops also beat the
kernels' math per element on AVX-512 machines), except for programs of many steps
(one ufunc call each in NumPy; fewer without transcendental functions), native from
``SMALL_MANY_STEPS`` elements, and
programs with an op NumPy computes in several passes (``SLOW_IN_NUMPY``), native
from ``SMALL_SLOW_IN_NUMPY`` elements.  In-place nodes pass the destroyed input as
``out=``.

``KERNEL_CAPABILITIES`` tells the fusion pass (through the mode's query) which
scalar ops and reductions the engines can express.
"""

from __future__ import annotations

import threading

import numpy as np

from theanine.config import config
from theanine.link.fused import numba_engine as _numba_engine
from theanine.link.fused import numexpr_engine as _numexpr_engine
from theanine.link.fused import program as _program
from theanine.link.python.dispatch import python_funcify
from theanine.link.python.fused_numpy import NumpyComposite, compile_chain
from theanine.scalar.composite import Composite
from theanine.tensor.elemwise import Elemwise, normalize_axis, writable_target
from theanine.tensor.fused import FusedReduce
from theanine.tensor.rewriting import fusion

SMALL = 10_000
# softplus is five ufunc passes in NumPy, one expression in a kernel: at 1,000-5,000
# elements a kernel computing softplus(x) and softplus(-x) took 0.65x the NumPy
# chain's time, the logistic-regression step's merged node 0.8x
SLOW_IN_NUMPY = frozenset({"softplus"})
SMALL_SLOW_IN_NUMPY = 1_000
# a NumPy step costs about half a microsecond of call overhead, a native call about
# 1.8 us: programs of 12-23 steps (the logistic-regression step's merged node, a
# polynomial) took 0.4-0.9x the chain's time natively from 100 elements on, and
# since the kernels store without scatters 4-6 steps of arithmetic take 0.5-0.8x at
# 1,000-3,000 elements (``((x+1)*2-3)/4 + x*x``: 2.1 / 2.4 us against 3.6 / 5.3);
# with exp/tanh (NumPy's own are cheaper here) 3-4 steps took 0.9-1.4x
MANY_STEPS = 8
MANY_LIGHT_STEPS = 4        # (without transcendental functions)
SMALL_MANY_STEPS = 100

_kernels: dict = {}
_lock = threading.Lock()


def engine_name() -> str:
    """The engine ``config.fused_kernel`` selects on this machine."""
    choice = config.fused_kernel
    if choice == "auto":
        if _numba_engine.available():
            return "numba"
        if _numexpr_engine.available():
            return "numexpr"
        return "numpy"
    if choice == "numba" and not _numba_engine.available():
        raise RuntimeError("config.fused_kernel='numba' but Numba is not installed")
    if choice == "numexpr" and not _numexpr_engine.available():
        raise RuntimeError("config.fused_kernel='numexpr' but numexpr is not installed")
    return choice


def make_program(comp: Composite, reduce=None):
    """The ``KernelProgram`` of a Composite, or None if some op is not expressible."""
    data = comp.kernel_program_data()
    if data is None:
        return None
    try:
        return _program.KernelProgram(reduce=reduce, **data)
    except (ValueError, TypeError):
        return None


def get_kernel(program):
    """The compiled (or compiling) kernel for ``program``, or None for NumPy."""
    engine = engine_name()
    if program is None or engine == "numpy":
        return None
    key = (engine, program.key(), config.fused_kernel_async)
    with _lock:
        if key in _kernels:
            return _kernels[key]
        mod = _numba_engine if engine == "numba" else _numexpr_engine
        cache_dir = config.compiledir
        try:
            if config.fused_kernel_async and hasattr(mod, "compile_program_async"):
                kernel = mod.compile_program_async(program, cache_dir=cache_dir)
            else:
                kernel = mod.compile_program(program, cache_dir=cache_dir)
        except NotImplementedError:
            kernel = None      # the engine cannot express it: NumPy it is
        _kernels[key] = kernel
    return kernel


def _kernel_ready(kernel) -> bool:
    return getattr(kernel, "ready", True)


def wait_for_kernels(timeout: float | None = None) -> bool:
    """Wait until every kernel compiling in the background is ready (benchmarks call it
    after a warm-up, so that they time the native kernels); whether all are."""
    with _lock:
        pending = [k for k in _kernels.values() if k is not None and hasattr(k, "wait")]
    return all(k.wait(timeout) for k in pending)


class FusedThunk:
    """Runs one ``Elemwise(Composite)`` node; see the module docstring."""

    def __init__(self, op: Elemwise, node):
        self.comp = op.scalar_op
        self._numpy = None      # both evaluators are built on first use: a graph
        self._chain = None      # may hold many fused nodes that never see small inputs
        self.kernel = None
        self.tried = False      # the program is built on the first large call
        self.fast = None        # the ready kernel's ``_flat_fast`` (None: not ready)
        # the output written over an input, and that input (a merged node of several
        # outputs may overwrite one input with any of them)
        pattern = dict(op.inplace_pattern)
        self.out_index, self.destroyed = next(iter(pattern.items()), (0, None))
        self.single = self.comp.nout == 1
        self.small = _native_from(self.comp)

    def __call__(self, *inputs):
        size = 1
        for value in inputs:
            if value.size > size:
                size = value.size
        if size < self.small:
            if self.destroyed is None or not self.single:
                outs = self.chain(*inputs)       # small: several outputs come out fresh
            else:
                outs = self.chain(*inputs, _out=writable_target(inputs, self.destroyed))
            return outs[0] if self.single else tuple(outs)
        out = None if self.destroyed is None else writable_target(inputs, self.destroyed)
        if out is not None and not self.single:
            out = [out if k == self.out_index else None for k in range(self.comp.nout)]
        fast = self.fast
        if fast is not None:
            outs = fast(inputs, out)
            if outs is not None:
                return outs[0] if self.single else tuple(outs)
        if not self.tried:
            self.tried = True
            self.kernel = get_kernel(make_program(self.comp))
        kernel = self.kernel
        if kernel is not None and _kernel_ready(kernel):
            # the ready kernel's common-case entry, called directly from now on
            self.fast = getattr(getattr(kernel, "_native", kernel), "_flat_fast", None)
            outs = kernel(*inputs, out=out)
            return outs[0] if self.single else tuple(outs)
        outs = self.numpy(*inputs, out=out if self.single else None)
        return outs[0] if self.single else tuple(outs)

    @property
    def numpy(self) -> NumpyComposite:
        if self._numpy is None:
            self._numpy = NumpyComposite(self.comp)
        return self._numpy

    @property
    def chain(self):
        if self._chain is None:
            self._chain = compile_chain(self.comp)
        return self._chain


def _native_from(comp: Composite) -> int:
    """The input size from which ``comp`` runs as a native kernel."""
    steps = len(comp.code)
    if steps >= MANY_STEPS or (steps >= MANY_LIGHT_STEPS and not any(
            op.kernel_name in _program.COSTLY_OPS for op, _, _ in comp.code)):
        return SMALL_MANY_STEPS
    if any(op.kernel_name in SLOW_IN_NUMPY for op, _, _ in comp.code):
        return SMALL_SLOW_IN_NUMPY
    return SMALL


class FusedReduceThunk:
    """Runs a ``FusedReduce``: the engine's in-loop reduction for large inputs."""

    def __init__(self, op: FusedReduce, node):
        self.op = op
        self.node = node
        self.ndim = max(i.ndim for i in node.inputs)
        axis = normalize_axis(op.axis, self.ndim)
        self.axis = axis
        self.kernel = None
        self.tried = False
        self.dtype = node.outputs[0].dtype
        self._chain = None      # small inputs: the elementwise part as NumPy calls

    def __call__(self, *inputs):
        size = 1
        for value in inputs:
            if value.size > size:
                size = value.size
        if size >= SMALL:
            if not self.tried:
                self.tried = True
                self.kernel = get_kernel(make_program(self.op.scalar_op,
                                                      reduce=(self.op.kind, self.axis)))
            kernel = self.kernel
            if kernel is not None and _kernel_ready(kernel):
                return np.asarray(kernel(*inputs)[0], dtype=self.dtype)
        if self._chain is None:
            self._chain = compile_chain(self.op.scalar_op)
        value = self._chain(*inputs)[0]
        if np.ndim(value) != self.ndim:         # (an op of constants: the reference)
            storage = [[None]]
            self.op.perform(self.node, list(inputs), storage)
            return storage[0][0]
        return np.asarray(self.op.reducer.fn(value, axis=self.axis), dtype=self.dtype)


_base_elemwise = python_funcify.dispatch(Elemwise)


@python_funcify.register(Elemwise)
def _elemwise_or_fused(op, node):
    if isinstance(op.scalar_op, Composite):
        return FusedThunk(op, node)
    return _base_elemwise(op, node)


@python_funcify.register(FusedReduce)
def _fused_reduce(op, node):
    return FusedReduceThunk(op, node)


class KernelCapabilities(fusion.FusionCapabilities):
    """What this backend's fused kernels express: the ops a ``KernelProgram`` has,
    and in-loop reductions when a native engine (not plain NumPy) runs them."""

    def fusable(self, scalar_op, in_dtypes, out_dtypes) -> bool:
        if not scalar_op.kernel_name or len(out_dtypes) != 1:
            return False
        return _program.supported(scalar_op.kernel_name, in_dtypes, out_dtypes[0])

    def can_reduce(self, kind: str, dtype: str) -> bool:
        return kind in _program.REDUCE_OPS \
            and dtype in _program.SUPPORTED_DTYPES and engine_name() != "numpy"


KERNEL_CAPABILITIES = KernelCapabilities()
