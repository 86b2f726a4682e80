"""The NumPy backend: per-node thunks, the ``py`` linker and the code-generating ``vm``."""

from theanine.link.python import (  # noqa: F401  (importing registers the thunks)
    dispatch_indexing,
    dispatch_scan,
)
