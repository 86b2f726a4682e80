"""NumPy's own BLAS for the Numba backend's products.

Numba's ``np.dot`` (and its ``numba_xxgemm`` wrappers) call SciPy's BLAS, a second
OpenBLAS with its own thread pool.  The default engine calls NumPy's.  Where both
run in one process (a call-out between compiled segments, the tiered default
timing both versions, a script mixing modes), the two pools contend for the same
cores: alternating calls measured 10x slower in an RNN (see
``tensor/blas._accumulate``).  NumPy's wheels bundle an ILP64 OpenBLAS whose CBLAS
entry points are exported as ``scipy_cblas_<x>64_``; found, their addresses are
registered with LLVM under fixed names, so compiled (and disk-cached) code calls
them by name in every process.  Elsewhere (another NumPy build, or
``config.numba__numpy_blas`` off), SciPy's BLAS it is.
"""

from __future__ import annotations

import ctypes
import glob
import os

from theanine.config import config

_ROUTINES = ("dgemm", "sgemm", "dgemv", "sgemv")
_found: bool | None = None


def _library():
    import numpy as np

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    paths = sorted(glob.glob(os.path.join(libs, "libscipy_openblas64_*")))
    config = getattr(getattr(np, "__config__", None), "CONFIG", {})
    blas = config.get("Build Dependencies", {}).get("blas", {})
    if len(paths) != 1 or blas.get("name") != "scipy-openblas":
        return None
    return ctypes.CDLL(paths[0])       # already loaded by NumPy: the same library


def cblas_symbol(routine: str) -> str:
    """The name NumPy's CBLAS ``routine`` (``dgemm``...) is registered under."""
    return f"theanine_cblas_{routine}"


def register_numpy_cblas() -> bool:
    """Register NumPy's CBLAS routines (``cblas_symbol``); whether they were found."""
    global _found
    if _found is None:
        import llvmlite.binding as llvm

        try:
            lib = _library() if config.numba__numpy_blas else None
            addresses = None if lib is None else {
                r: ctypes.cast(getattr(lib, f"scipy_cblas_{r}64_"), ctypes.c_void_p).value
                for r in _ROUTINES}
        except (OSError, AttributeError):
            addresses = None
        if addresses:
            for routine, address in addresses.items():
                llvm.add_symbol(cblas_symbol(routine), address)
        _found = bool(addresses)
    return _found


__all__ = ["cblas_symbol", "register_numpy_cblas"]
