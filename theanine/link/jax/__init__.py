"""The JAX backend: the whole rewritten graph as one ``jax.jit``-compiled function.

``mode="JAX"`` / ``linker="jax"`` (registered in ``compile/mode.py``).  JAX is
optional and heavy to import, so this package only offers ``make_linker``; the
backend itself (``linker.py``, ``dispatch.py``, ``scalar.py``) is imported when
the first JAX function is compiled.  Without JAX installed, asking for it says
how to install it.
"""

from __future__ import annotations

import importlib
import importlib.util


def available() -> bool:
    """Whether the ``jax`` package can be imported here."""
    return importlib.util.find_spec("jax") is not None


def make_linker(**kwargs):
    """The ``jax`` linker (imports JAX on first use; a clear error without it)."""
    if not available():
        raise RuntimeError("the JAX backend needs the jax package: pip install 'jax[cpu]' "
                           "(or jax[cuda12] for NVIDIA GPUs)")
    # imported here on purpose: JAX takes about a second to import, which every
    # theanine import would otherwise pay
    return importlib.import_module("theanine.link.jax.linker").JAXLinker(**kwargs)


__all__ = ["available", "make_linker"]
