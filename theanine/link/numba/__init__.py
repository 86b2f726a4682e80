"""The Numba backend: the whole rewritten graph as one ``numba.njit`` function.

``mode="NUMBA"`` / ``linker="numba"`` (registered in ``compile/mode.py``).  Numba
is optional, so this package only offers ``make_linker``; the backend itself
(``linker.py``, ``dispatch.py``, ``elemwise.py``, ``scan.py``, ``cache.py``) is
imported when the first Numba function is compiled.  See docs/numba.md.
"""

from __future__ import annotations

import importlib

from theanine.link.fused.numba_engine import available


def make_linker(**kwargs):
    """The ``numba`` linker (a clear error without Numba installed)."""
    if not available():
        raise RuntimeError("the Numba backend needs the numba package: pip install numba")
    return importlib.import_module("theanine.link.numba.linker").NumbaLinker(**kwargs)


# every function is compiled to machine code: test harnesses run it on fewer cases
make_linker.compiles_slowly = True

__all__ = ["available", "make_linker"]
