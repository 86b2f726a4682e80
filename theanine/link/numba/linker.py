"""The Numba linker: the rewritten graph as one ``numba.njit`` function.

Each node gets its ``numba_funcify`` function; ``JitBodyEmitter`` writes the
whole scheduled graph (lazy ``IfElse`` as native branches, ``Scan`` as a native
loop) as one function in a module cached on disk (``cache.py``).  Nodes without a
Numba form run as explicit call-outs between njit segments
(``SegmentedEmitter``); ``profile`` lists them, with their time, next to the
first call's compile time.  The entry around the compiled code is the one every
backend has (``link/callspec.py``).

Compilation happens on the first call, with that call's argument types (a
disk-cache hit only loads machine code).  An error raised inside compiled code
(a shape mismatch, an index out of range) is re-raised by running that call on
the default engine, whose message names the node and the user's line.
"""

from __future__ import annotations

import itertools
from time import perf_counter

import numba

from theanine.config import config
from theanine.link.backend import Backend
from theanine.link.callspec import CallSpec, entry_source
from theanine.link.fused.numba_kernel import PAR_LOCK, needs_par_lock
from theanine.link.numba import scan as _scan  # noqa: F401  (registers Scan as a loop)
from theanine.link.numba.cache import compile_first_call, load_module
from theanine.link.numba.emitter import (
    JitBodyEmitter,
    NamedGlobals,
    SegmentedEmitter,
    to_python,
)
from theanine.link.numba.heap import steady_heap
from theanine.link.numba.nodes import node_functions
from theanine.link.python.dispatch_fused import KERNEL_CAPABILITIES
from theanine.link.python.rerun import default_engine_rerun
from theanine.tensor.type import TensorType

_counter = itertools.count()
COMPILE_PHASE = "compile (Numba, first call)"


class CompiledOnFirstCall:
    """An njit function compiled (or loaded from the disk cache) on its first call,
    its time added to ``phases``.

    Its code may run the fused kernels' ``prange`` drivers; under Numba's
    ``workqueue`` threading layer, which must not be entered from two threads at
    once, calls hold the lock the default engine's kernels hold for the same."""

    def __init__(self, dispatcher, phases):
        self.dispatcher = dispatcher
        self.phases = phases
        self.ready = False
        self.lock = None

    def __call__(self, *args):
        if not self.ready:
            start = perf_counter()
            if config.numba__parallel:
                # the threading layer's symbols must exist before machine code that
                # calls a prange driver is loaded (else a cache hit crashes)
                numba.get_num_threads()
                self.lock = PAR_LOCK if needs_par_lock() else None
            steady_heap()
            compile_first_call(self.dispatcher, args)
            self.phases[COMPILE_PHASE] = self.phases.get(COMPILE_PHASE, 0.0) + \
                perf_counter() - start
            self.ready = True
        if self.lock is None:
            return self.dispatcher(*args)
        with self.lock:
            return self.dispatcher(*args)


def timed_callout(thunk, node, phases):
    """A call-out that adds its time to the profile's phases."""
    key = f"call-out {node.op} (Python)"
    phases.setdefault(key, 0.0)

    def callout(*args):
        start = perf_counter()
        try:
            return thunk(*args)
        finally:
            phases[key] += perf_counter() - start

    return callout


class NumbaLinker(Backend):
    """``linker="numba"``: compile whole functions with Numba (see the module docstring)."""

    name = "numba"
    capabilities = KERNEL_CAPABILITIES      # the fused kernels' programs are reused
    excluded_rewrites = ("inplace",)        # compiled code allocates its results
    unsupported_ops = ()                    # nothing refused: call-outs run the rest

    def make_function(self, fgraph, spec: CallSpec):
        thunks, callouts = node_functions(fgraph)
        phases: dict = {}
        if callouts:
            fn = self._segmented(fgraph, spec, thunks, callouts, phases)
        else:
            fn = self._whole(fgraph, spec, thunks, phases)
        fn.phase_times = phases            # the profiler prints them (profile=True)
        fn.callouts = [str(n.op) for n in callouts]
        return fn

    def _whole(self, fgraph, spec, thunks, phases):
        names = NamedGlobals()
        body = JitBodyEmitter(fgraph, thunks, names)
        src = body.function_source("main", fgraph.inputs, fgraph.outputs, boundary=True)
        module, path = load_module({"main": src}, names.values)
        main = CompiledOnFirstCall(module.main, phases)
        ns = {"_main": main, "_to_python": to_python, "_fallback": default_engine_rerun(fgraph)}
        ins = [f"_in{k}" for k in range(len(fgraph.inputs))]
        outs = [f"_out{k}" for k in range(len(fgraph.outputs))]
        lines = ["try:", f"    _r = _main({', '.join(ins)})",
                 "except Exception as _exc:",
                 f"    _fallback(_exc, {', '.join(ins)})", "    raise"]
        for k, var in enumerate(fgraph.outputs):
            if isinstance(var.type, TensorType) and var.type.ndim > 0:
                lines.append(f"{outs[k]} = _r[{k}]")
            else:
                ns[f"_var{k}"] = var
                lines.append(f"{outs[k]} = _to_python(_r[{k}], _var{k})")
        def_line, entry = entry_source(spec, ins, ns, lines, outs)
        text = "\n".join([def_line, *entry]) + "\n"
        exec(compile(text, f"<theanine-numba-{spec.fn_name}-{next(_counter)}>", "exec"), ns)
        fn = ns[spec.fn_name]
        fn.source = text + f"\n# compiled by numba.njit (module {path}):\n" + src
        fn.jitted = module.main
        return fn

    def _segmented(self, fgraph, spec, thunks, callouts, phases):
        names = NamedGlobals()
        timed = {node: timed_callout(t, node, phases) for node, t in callouts.items()}
        gen = SegmentedEmitter(fgraph, spec, thunks, timed, names)
        gen.source()            # writes the segments as it goes (once)
        module, path = load_module(dict(gen.segments), names.values)
        for name, _ in gen.segments:
            gen.ns[f"_{name}"] = CompiledOnFirstCall(getattr(module, name), phases)
        fn = gen.compile()
        fn.source += f"\n# njit segments (module {path}):\n" + "".join(
            src for _, src in gen.segments)
        fn.codegen = gen
        return fn


__all__ = ["NumbaLinker"]
