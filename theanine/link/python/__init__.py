"""The NumPy backend: per-node thunks, the ``py`` linker and the code-generating ``vm``."""
