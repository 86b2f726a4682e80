"""The NumPy backend: per-node thunks, the ``py`` linker and the code-generating ``vm``."""

from theanine.link.python import dispatch_indexing  # noqa: E402,F401  (registers thunks)
