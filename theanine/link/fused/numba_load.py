"""Loading Numba machine code from the disk cache without setting up Numba's compiler.

On a cache hit Numba still first loads the typing and lowering tables of everything
it supports (its registry refresh): 0.15 of the 0.26 s a process took to load the
RNN gradient's whole function, and as much for the first fused kernel.  Machine code
needs none of it, only Numba's runtime, so a hit here loads just that; a miss (and
any later compile in the process) takes Numba's usual path.
"""

from __future__ import annotations

__all__ = ["load_cached", "prefer_cache"]


def load_cached(dispatcher, signature) -> bool:
    """Load ``dispatcher``'s machine code for the argument types ``signature`` (a
    tuple, as Numba's dispatcher keys its cache) the way ``Dispatcher.compile`` does on
    a hit, less the registry refresh; False on a miss."""
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.runtime import rtsys

    cache = getattr(dispatcher, "_cache", None)
    if not hasattr(cache, "_load_overload"):          # a Numba without it
        return False
    with global_compiler_lock:
        if tuple(signature) in dispatcher.overloads:
            return True
        context = dispatcher.targetctx
        rtsys.initialize(context)
        cres = cache._load_overload(signature, context)
        if cres is None or cres.objectmode:
            return False
        dispatcher._cache_hits[signature] += 1
        context.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        dispatcher.add_overload(cres)
        return True


def prefer_cache(dispatcher) -> None:
    """Make ``dispatcher`` try ``load_cached`` before compiling for new argument types
    (Numba's dispatcher compiles through its ``compile`` attribute)."""
    compile_fully = dispatcher.compile

    def compile(sig):
        if isinstance(sig, tuple) and load_cached(dispatcher, sig):
            return dispatcher.overloads[sig].entry_point
        return compile_fully(sig)

    dispatcher.compile = compile
