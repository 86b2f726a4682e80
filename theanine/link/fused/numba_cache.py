"""Writing, naming and importing the generated Numba kernel modules.

Each program's module is written once to ``<cache_dir>/fused/k_<hash>.py`` and
imported from there, so Numba's ``cache=True`` machine code (stored next to
it) is found again by later processes.  The file name hashes the program key,
the parallel flag and :func:`engine_version`, which covers every engine source
that shapes, is imported by, or calls the generated code: a change to any of
them yields new file names, so stale kernels are never reused.  A kernel found in
Numba's cache is loaded without setting up Numba's compiler (``numba_load.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from .numba_load import prefer_cache
from .numba_source import generate_source
from .program import KernelProgram

__all__ = ["default_cache_dir", "engine_version", "load_module"]

_HERE = Path(__file__).resolve().parent

#: the package modules whose text goes into :func:`engine_version`
ENGINE_SOURCES = (
    "numba_engine.py",    # facade: compile_program, AsyncKernel
    "numba_source.py",    # code generator
    "numba_cache.py",     # file header and naming (this module)
    "numba_kernel.py",    # argument preparation / calling conventions of the kernels
    "numpy_reference.py",  # fallback semantics the kernels must match
    "_nbsupport.py",      # imported by the generated code
    "vecmath.py",         # imported by the generated code
    "program.py",         # KernelProgram, dtype rules
)


def default_cache_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".theanine", "compiledir")


def _engine_version() -> str:
    h = hashlib.sha256()
    for name in ENGINE_SOURCES:
        h.update((_HERE / name).read_bytes())
    try:
        import numba

        h.update(numba.__version__.encode())
    except ImportError:  # pragma: no cover
        pass
    h.update(np.__version__.encode())
    return h.hexdigest()[:16]


_ENGINE_VERSION = None


def engine_version() -> str:
    """Hash of the engine sources and the Numba / NumPy versions (computed once)."""
    global _ENGINE_VERSION
    if _ENGINE_VERSION is None:
        _ENGINE_VERSION = _engine_version()
    return _ENGINE_VERSION


_MODULES: dict[str, object] = {}
_MODULES_LOCK = threading.Lock()


def load_module(program: KernelProgram, cache_dir: str | None, parallel: bool):
    """Kernel module of ``program`` and its path, generated and written when missing."""
    cache_dir = cache_dir or default_cache_dir()
    mkey = hashlib.sha256(
        f"{program.key()}|{engine_version()}|{int(parallel)}".encode()).hexdigest()[:40]
    directory = Path(cache_dir) / "fused"
    path = directory / f"k_{mkey}.py"
    modname = f"_theanine_fused_k_{mkey}"
    with _MODULES_LOCK:
        mod = _MODULES.get(str(path))
        if mod is not None:
            return mod, path
        directory.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            src = f"# engine {engine_version()}\n" + generate_source(program, parallel=parallel)
            # write-then-rename: concurrent processes never import a partial file
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(src)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[modname] = mod
        spec.loader.exec_module(mod)
        for value in vars(mod).values():          # the kernels and their helpers
            if hasattr(value, "py_func") and hasattr(value, "overloads"):
                prefer_cache(value)
        _MODULES[str(path)] = mod
        return mod, path
