"""Numba back end for fused elementwise programs.

:func:`compile_program` generates the Python source of a small kernel module
for a :class:`~theanine.link.fused.program.KernelProgram`, writes it to
``<cache_dir>/fused/`` under a name derived from the program key, imports it
and wraps its ``@njit(cache=True)`` kernels in a :class:`Kernel`.  Numba's
on-disk cache sits next to the generated file, so a second process only pays
for loading machine code.

Kernels (all compiled lazily, on first use of a given argument pattern):

* ``flat_ser`` / ``flat_par``: all array operands C- (or all F-) contiguous with
  the broadcast shape, size-1 operands passed as scalars; a flat loop in blocks
  of ``BLOCK`` elements.  ``flat_par`` runs the blocks in ``prange`` and is only
  used for at least :data:`PARALLEL_MIN` elements.
* ``nd_ser`` / ``nd_par``: everything else; operands are broadcast views
  coalesced to three dimensions (zero strides for broadcast axes).
* ``red_flat_*``, ``red_nd_*``: full reductions (no full-size temporary; each
  block is evaluated into a small buffer that is reduced with reassociation so
  that it vectorizes).
* ``red_inner_*`` / ``red_outer_*``: reductions over some axes on a
  ``(kept, reduced)`` 2-d view; ``outer`` accumulates rows into the result when
  the kept axis is the fast memory axis.

Programs that call sin/cos evaluate each block with the vectorizable
reduction (valid for ``|x| < 1e6``) and re-run the block with libm when any
argument is beyond that.

The work is split by responsibility: :mod:`.numba_source` writes the kernel
module, :mod:`.numba_cache` names, writes and imports it, :mod:`.numba_kernel`
prepares arguments and calls it, :mod:`.numpy_reference` defines the semantics.
This module holds the entry points and re-exports the public names.
"""

from __future__ import annotations

import importlib.util
import threading

from .numba_cache import default_cache_dir, engine_version, load_module
from .numba_kernel import PARALLEL_MIN, Kernel
from .numba_source import BLOCK, generate_source
from .numpy_reference import numpy_eval
from .program import KernelProgram

__all__ = [
    "Kernel",
    "AsyncKernel",
    "compile_program",
    "compile_program_async",
    "available",
    "numpy_eval",
    "generate_source",
    "engine_version",
    "PARALLEL_MIN",
    "BLOCK",
    "default_cache_dir",
]


def available() -> bool:
    """Whether the ``numba`` package is installed, without importing it: the import
    (0.15 s) belongs in the thread that compiles or loads the first kernel, not in the
    call that asks which engine runs it."""
    return importlib.util.find_spec("numba") is not None


def compile_program(program: KernelProgram, *, cache_dir: str | None = None,
                    parallel: bool = True) -> Kernel:
    """Generate, write and import the kernel module for ``program``.

    The numba functions compile on first call (or load from the disk cache).
    """
    mod, path = load_module(program, cache_dir, parallel)
    return Kernel(program, mod, path, parallel)


class AsyncKernel:
    """Kernel handle that uses NumPy until a background thread has compiled the kernel."""

    def __init__(self, program, cache_dir=None, parallel=True):
        self.program = program
        self._native = None
        self._error = None
        self._ref = Kernel(program, None, None, parallel)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._build, args=(cache_dir, parallel),
                                        daemon=True, name="theanine-fused-compile")
        self._thread.start()

    def _build(self, cache_dir, parallel):
        try:
            k = compile_program(self.program, cache_dir=cache_dir, parallel=parallel)
            k.warm_up()
            self._native = k
        except Exception as exc:  # noqa: BLE001 - reported through .error
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._native is not None

    @property
    def error(self):
        return self._error

    def wait(self, timeout=None) -> bool:
        self._done.wait(timeout)
        return self.ready

    def numpy_fallback(self, *arrays, out=None):
        return self._ref.numpy_fallback(*arrays, out=out)

    def __call__(self, *arrays, out=None):
        k = self._native
        if k is None:
            return self._ref.numpy_fallback(*arrays, out=out)
        return k(*arrays, out=out)


def compile_program_async(program: KernelProgram, *, cache_dir: str | None = None,
                          parallel: bool = True) -> AsyncKernel:
    """Start compiling ``program`` in a background thread; see :class:`AsyncKernel`."""
    return AsyncKernel(program, cache_dir=cache_dir, parallel=parallel)
