"""SciPy's BLAS and LAPACK entry points for compiled code, without ``scipy.linalg``.

Numba's ``np.dot`` and ``np.linalg`` call BLAS and LAPACK through the function
pointers that the extension modules ``scipy.linalg.cython_blas`` and
``scipy.linalg.cython_lapack`` export, and import those modules on the first
compiled call that needs one.  Importing them the usual way runs the package's
``__init__`` first (0.15 s here: its array-API layer imports ``numpy.f2py``),
which was half of the first call of a function loaded from the disk cache.  The
two extension modules need nothing from that ``__init__``, so ``preload`` loads
them from their files and registers them under their names; Numba's import then
finds them, and a later ``import scipy.linalg`` reuses them.  Where anything is
unusual (no SciPy, another layout), nothing is loaded and Numba imports them the
usual way.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading

_MODULES = ("cython_blas", "cython_lapack")
_LOCK = threading.Lock()
_tried = False


def preload() -> None:
    """Make sure the two modules are in ``sys.modules`` (once per process)."""
    global _tried
    if _tried:
        return
    with _LOCK:
        if _tried:
            return
        _tried = True
        for short in _MODULES:
            if f"scipy.linalg.{short}" not in sys.modules and not _load(short):
                return


def _load(short: str) -> bool:
    name = f"scipy.linalg.{short}"
    spec = _spec(short)
    if spec is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        return False
    return True


def _spec(short: str):
    """The spec of ``scipy/linalg/<short>.<extension suffix>``, or None."""
    try:
        import scipy  # the top-level package is small; its submodules load lazily
    except ImportError:
        return None
    folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, short + suffix)
        if os.path.isfile(path):
            loader = importlib.machinery.ExtensionFileLoader(f"scipy.linalg.{short}", path)
            return importlib.util.spec_from_file_location(f"scipy.linalg.{short}", path,
                                                          loader=loader)
    return None


__all__ = ["preload"]
