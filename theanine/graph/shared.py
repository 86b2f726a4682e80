"""Shared variables: graph inputs whose value lives between function calls."""

from __future__ import annotations

import copy

from theanine.graph.basic import Variable

_constructors: list = []
# called with a stored value handed to the user as it is (``get_value(borrow=True)``):
# an engine that recycles the buffers of values it stored (the JAX backend's donation)
# must then leave that one alone
lend_hooks: list = []


def lend(value):
    """``value``, now also held by the user (see ``lend_hooks``)."""
    for hook in lend_hooks:
        hook(value)
    return value


class SharedVariable(Variable):
    """A Variable with a persistent value held in a one-element ``container``.

    Compiled functions read ``container[0]`` at call time and write updates into
    it after every output has been computed.
    """

    is_shared = True

    def __init__(self, type, value, name=None, strict=False, allow_downcast=None,
                 borrow=False):
        super().__init__(type, None, None, name)
        value = type.filter(value, strict=strict, allow_downcast=allow_downcast)
        if not borrow:
            value = copy.deepcopy(value)
        self.container = [value]
        self.default_update = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False):
        value = self.container[0]
        return lend(value) if borrow else copy.deepcopy(value)

    def set_value(self, value, borrow: bool = False) -> None:
        value = self.type.filter(value, allow_downcast=True)
        self.container[0] = value if borrow else copy.deepcopy(value)

    def clone(self):
        cp = self.__class__.__new__(self.__class__)
        Variable.__init__(cp, self.type, None, None, self.name)
        cp.container = self.container
        cp.default_update = self.default_update
        cp.tag.update(self.tag)
        return cp

    @property
    def value(self):
        return lend(self.container[0])


def register_shared_constructor(fn):
    """Register ``fn(value, name, strict, allow_downcast, borrow, **kw)`` for ``shared``.

    Later registrations are tried first; a constructor raises TypeError to decline.
    """
    _constructors.insert(0, fn)
    return fn


def shared(value, name=None, strict=False, allow_downcast=None, borrow=False, **kwargs):
    """Make a SharedVariable holding ``value`` (copied unless ``borrow=True``)."""
    for ctor in _constructors:
        try:
            return ctor(value, name=name, strict=strict, allow_downcast=allow_downcast,
                        borrow=borrow, **kwargs)
        except TypeError:
            continue
    raise TypeError(f"shared: no shared variable type accepts a value of type "
                    f"{type(value).__name__} ({value!r:.60})")
