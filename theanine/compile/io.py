"""``In`` and ``Out``: per-input and per-output options of ``function``."""

from __future__ import annotations

from theanine.graph.basic import Variable

_NO_VALUE = object()


class In:
    """A function input with options.

    ``value`` gives a default; ``mutable=True`` lets the function overwrite the
    argument's buffer; ``borrow=True`` allows keeping a reference to it.
    """

    def __init__(self, variable, name=None, value=_NO_VALUE, mutable=False, borrow=False,
                 allow_downcast=None, strict=False, update=None, implicit=False,
                 autoname=True, shared=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In: expected a Variable, got {variable!r}")
        self.variable = variable
        self.name = name if name is not None or not autoname else variable.name
        # Theano's ``value=None`` means "no default", as leaving it out does
        self.value = _NO_VALUE if value is None else value
        self.mutable = bool(mutable)
        self.borrow = bool(borrow) or self.mutable
        self.shared = shared
        self.allow_downcast = allow_downcast
        self.strict = strict
        self.update = update
        self.implicit = implicit

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_VALUE

    def __repr__(self):
        return f"In({self.variable})"


class Out:
    """A function output; ``borrow=True`` may return internal memory (no copy)."""

    def __init__(self, variable, borrow=False):
        if not isinstance(variable, Variable):
            raise TypeError(f"Out: expected a Variable, got {variable!r}")
        self.variable = variable
        self.borrow = borrow

    def __repr__(self):
        return f"Out({self.variable})"
