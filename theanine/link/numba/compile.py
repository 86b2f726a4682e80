"""Turning generated source into Numba functions (the one place that calls ``njit``).

Node functions are written as Python source (loops with the node's dtypes and
ranks spelled out), executed in a namespace holding NumPy, ``math`` and the
fused kernels' helper modules, and wrapped in ``numba.njit``.  Compilation is
lazy: nothing is compiled until the whole function first runs, and then only
as part of it (a cache hit of the whole function compiles none of them).
"""

from __future__ import annotations

import hashlib

import numba
import numpy as np
from numba import types
from numba.extending import overload

from theanine.link.numba.cache import GENERATED_IMPORTS, describe, load_node_function

# NumPy's float semantics (inf/nan, no ZeroDivisionError), like the default engine
JIT_OPTIONS = {"error_model": "numpy", "nogil": True, "no_cpython_wrapper": True,
               "no_cfunc_wrapper": True}


def contiguous(x):
    """``x`` as an array Numba's BLAS calls take: as it is when typed C- or
    F-contiguous (a transposed matrix stays a view), else a C copy."""


@overload(contiguous, inline="always")
def _ov_contiguous(x):
    if isinstance(x, types.Array) and x.layout in "CF":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


class NumbaUnsupported(NotImplementedError):
    """A node has no Numba form (yet): it runs as a call-out (see ``emitter.py``)."""


_BASE: dict = {}


def base_namespace() -> dict:
    """The globals of generated source: those every generated module imports
    (``cache.GENERATED_IMPORTS``, one list for both), and ``numba``."""
    if not _BASE:
        ns = {"numba": numba}
        exec(GENERATED_IMPORTS, ns)
        _BASE.update(ns)
    return dict(_BASE)


def njit_source(src: str, name: str, extra: dict | None = None, inline: bool = False):
    """``numba.njit`` of the function ``name`` defined by ``src``; self-contained
    sources (no ``extra`` globals) are cached on disk and shared (``cache.py``)."""
    if not extra and not inline:
        fn = load_node_function(src, name)
        fn.source = src
        fn.inline_source = src      # reads only the generated modules' globals
        return fn
    ns = base_namespace()
    if extra:
        ns.update(extra)
    exec(compile(src, f"<theanine-numba-{name}>", "exec"), ns)
    text, complete = _described(src, extra)
    # named by content: Numba names machine code by module, qualified name and a
    # counter of its own process, and two processes gave the same name to different
    # functions (two scan steps differing in a constant); a function built by a
    # child process (the tiered default) then called this process's other one
    ns[name].__qualname__ = f"{name}_{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    options = dict(JIT_OPTIONS)
    if inline:
        options["inline"] = "always"
    fn = numba.njit(**options)(ns[name])
    fn.source = src
    if complete:
        fn.fingerprint = text       # what the whole function's cache key reads
    return fn


def njit_lines(name: str, params, lines, **extra):
    """``njit_source`` of ``def name(params):`` with body ``lines`` (one statement
    each, indented here)."""
    src = f"def {name}({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in lines)
    return njit_source(src, name, extra or None)


def _described(src: str, extra: dict | None) -> tuple[str, bool]:
    """``src`` and a description of each global (``cache.describe``), and whether
    every global could be described (else the object stands for itself)."""
    parts, complete = [src], True
    for key, value in sorted((extra or {}).items()):
        try:
            parts.append(f"\n{key}: {describe(value)}")
        except TypeError:
            complete = False
            parts.append(f"\n{key}: {type(value).__name__} {id(value)}")
    return "".join(parts), complete


def transposed(expr: str, perm: tuple) -> str:
    """Source of a view of ``expr`` (a name) with its axes permuted by ``perm``:
    ``.T`` for a matrix, else the permuted shape and strides (``np.transpose``
    compiles a formatted error message: 1-2 s per array type)."""
    if tuple(perm) == tuple(range(len(perm))):
        return expr
    if tuple(perm) == (1, 0):
        return f"{expr}.T"
    shape = "".join(f"{expr}.shape[{d}], " for d in perm)
    strides = "".join(f"{expr}.strides[{d}], " for d in perm)
    return f"_as_strided({expr}, ({shape}), ({strides}))"


def float_output(op, node) -> str:
    """The node's output dtype when it is float32/float64 (what Numba's BLAS and
    LAPACK calls handle), else ``NumbaUnsupported``: the node runs as a call-out."""
    dtype = node.outputs[0].dtype
    if dtype not in ("float32", "float64"):
        raise NumbaUnsupported(f"{op} of {dtype} (Numba's BLAS and LAPACK calls are "
                               "float-only)")
    return dtype


def npname(dtype) -> str:
    """The NumPy scalar type of ``dtype`` as source text (``np.float64``)."""
    dt = str(dtype)
    return "np.bool_" if dt == "bool" else f"np.{dt}"


def cast(expr: str, dtype) -> str:
    """``expr`` converted to ``dtype`` (a scalar expression)."""
    if str(dtype) == "bool":
        return f"({expr} != 0)"
    return f"{npname(dtype)}({expr})"


__all__ = ["JIT_OPTIONS", "NumbaUnsupported", "cast", "contiguous", "float_output",
           "njit_lines", "njit_source", "npname"]
