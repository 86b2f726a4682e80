"""What every backend (linker) provides: the seam between the compiler and an engine.

A backend turns a rewritten ``FunctionGraph`` plus a ``CallSpec`` (the argument
checks, output copies and updates every backend performs the same way) into a
callable.  Besides ``make_function`` it declares, as plain class attributes:

* ``capabilities``: what its kernels can fuse (a ``FusionCapabilities``; None
  takes the conservative defaults), read by the fusion pass through the mode's
  query, never installed globally;
* its rewrite contract: ``excluded_rewrites`` (pass or rule names, or tags, it
  cannot run, e.g. ``"inplace"`` for an engine without in-place ops) and
  ``required_rewrites`` (ones it needs even when the mode leaves them out).

``Mode.effective_query`` applies all three.  A backend is registered by name with
``theanine.compile.register_linker`` (then ``Mode(linker=name)`` and the op
checker's list of linkers include it); see docs/architecture.md, "Adding a backend".
"""

from __future__ import annotations


class Backend:
    """Base class of linkers: the contract above, with the defaults."""

    name = "backend"
    capabilities = None
    excluded_rewrites: tuple = ()
    required_rewrites: tuple = ()
    # whether random draws equal the default engine's for the same seed (a backend
    # with its own generators says False; its draws are still reproducible by seed)
    same_random_numbers = True

    def make_function(self, fgraph, spec):
        """The compiled entry point for ``fgraph`` with ``spec``'s boundary."""
        raise NotImplementedError(f"{type(self).__name__} does not compile graphs")

    def __repr__(self):
        return f"{type(self).__name__}()"


__all__ = ["Backend"]
