"""Modes: a linker plus a query over the rewrite pipeline."""

from __future__ import annotations

from theanine.config import config
from theanine.graph.rewriting.pipeline import OPTIMIZER_QUERIES, Query
from theanine.link import jax as jax_backend
from theanine.link import numba as numba_backend
from theanine.link.python.codegen import PyLinker, VMLinker

LINKERS = {"py": PyLinker, "vm": VMLinker, "cvm": VMLinker}


def register_linker(name: str, factory) -> None:
    """Make ``Mode(linker=name)`` and ``config.linker = name`` available (backends)."""
    LINKERS[name] = factory
    config.allow("linker", name)


class Mode:
    """How to compile: ``Mode(linker='vm', optimizer='fast_run')``.

    ``optimizer=None`` (or ``'None'``) means no rewrites at all; leaving it out
    (``'auto'``) takes ``config.optimizer``.
    """

    def __init__(self, linker=None, optimizer="auto", name=None):
        if linker is None or linker == "auto":
            linker = "vm" if config.linker == "auto" else config.linker
        if optimizer in ("auto", "default"):
            optimizer = "fast_run" if config.optimizer == "auto" else config.optimizer
        self.linker = _resolve_linker(linker)
        self.query = _resolve_optimizer(optimizer)
        self.name = name or "Mode"

    @property
    def optimizer(self) -> Query:
        return self.query

    def _copy(self, query) -> Mode:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.query = query
        return new

    def including(self, *tags) -> Mode:
        return self._copy(self.query.including(*tags))

    def excluding(self, *tags) -> Mode:
        return self._copy(self.query.excluding(*tags))

    def clone(self, **kwargs) -> Mode:
        return Mode(kwargs.get("linker", self.linker), kwargs.get("optimizer", self.query),
                    kwargs.get("name", self.name))

    def effective_query(self) -> Query:
        """The query with the linker's contract (its capabilities, the rewrites it
        requires and the ones it cannot take; ``theanine/link/backend.py``) and the
        ``optimizer_including/excluding`` flags applied."""
        linker = self.linker
        query = self.query.with_capabilities(getattr(linker, "capabilities", None))
        if config.optimizer_including:
            query = query.including(*config.optimizer_including.split(":"))
        if config.optimizer_excluding:
            query = query.excluding(*config.optimizer_excluding.split(":"))
        if self.query.include:          # optimizer=None stays None, whatever the backend
            query = query.including(*getattr(linker, "required_rewrites", ()))
        # last: what the backend cannot run stays out whatever the flags say
        return query.excluding(*getattr(linker, "excluded_rewrites", ()))

    def __repr__(self):
        return f"Mode(linker={self.linker!r}, optimizer={self.query.name!r})"


def _resolve_linker(linker):
    if isinstance(linker, str):
        try:
            return LINKERS[linker]()
        except KeyError:
            raise ValueError(f"unknown linker {linker!r}; known: {', '.join(LINKERS)}") from None
    return linker


def _resolve_optimizer(optimizer):
    if optimizer is None:
        return OPTIMIZER_QUERIES["None"]
    if isinstance(optimizer, Query):
        return optimizer
    try:
        return OPTIMIZER_QUERIES[str(optimizer)]
    except KeyError:
        raise ValueError(f"unknown optimizer {optimizer!r}; known: "
                         f"{', '.join(OPTIMIZER_QUERIES)}") from None


PREDEFINED_MODES = {
    "FAST_RUN": lambda: Mode("vm", "fast_run", name="FAST_RUN"),
    "FAST_COMPILE": lambda: Mode("py", "fast_compile", name="FAST_COMPILE"),
    "PY": lambda: Mode("py", "None", name="PY"),
}


def register_mode(name: str, factory) -> None:
    """Make ``mode=name`` and ``config.mode = name`` available."""
    PREDEFINED_MODES[name] = factory
    config.allow("mode", name)


def get_default_mode() -> Mode:
    """The mode ``config.mode`` names (Theano's ``theano.compile.mode.get_default_mode``)."""
    return get_mode(None)


def get_mode(mode) -> Mode:
    """Turn a mode name (or None for ``config.mode``) into a Mode."""
    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        try:
            return PREDEFINED_MODES[mode]()
        except KeyError:
            raise ValueError(f"unknown mode {mode!r}; known: "
                             f"{', '.join(PREDEFINED_MODES)}") from None
    if hasattr(mode, "make_function") or hasattr(mode, "linker"):
        return mode
    raise TypeError(f"mode must be a name or a Mode, got {mode!r}")


# the optional JAX backend (theanine/link/jax/): JAX itself is imported on first use
register_linker("jax", jax_backend.make_linker)
register_mode("JAX", lambda: Mode(linker="jax", optimizer="fast_run", name="JAX"))

# the Numba backend (theanine/link/numba/): whole functions compiled by numba.njit
register_linker("numba", numba_backend.make_linker)
register_mode("NUMBA", lambda: Mode(linker="numba", optimizer="fast_run", name="NUMBA"))
