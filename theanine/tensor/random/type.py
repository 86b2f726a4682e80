"""The type of NumPy random generators, and shared variables holding one."""

from __future__ import annotations

import numpy as np

from theanine.graph.shared import SharedVariable, register_shared_constructor
from theanine.graph.type import Type


class RandomGeneratorType(Type):
    """Values are ``numpy.random.Generator`` objects (compared by bit-generator state)."""

    def filter(self, data, strict=False, allow_downcast=None):
        if isinstance(data, np.random.Generator):
            return data
        raise TypeError(f"expected a numpy.random.Generator, got {type(data).__name__}; "
                        "make one with numpy.random.default_rng(seed)")

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __str__(self):
        return "RandomGeneratorType"

    __repr__ = __str__

    def values_eq(self, a, b) -> bool:
        return _state(a) == _state(b)

    def value_signature(self, data):
        return ("rng", repr(_state(data)))

    def may_share_memory(self, a, b) -> bool:
        return a is b


def _state(rng):
    return rng.bit_generator.state


random_generator_type = RandomGeneratorType()


class RandomGeneratorSharedVariable(SharedVariable):
    """A shared ``numpy.random.Generator``; its ``default_update`` advances it."""

    def __str__(self):
        return self.name if self.name is not None else "<rng>"


def random_generator_shared_constructor(value, name=None, strict=False, allow_downcast=None,
                                        borrow=False, **kwargs):
    """``shared(numpy.random.default_rng(seed))``."""
    if not isinstance(value, np.random.Generator) or kwargs:
        raise TypeError("not a numpy.random.Generator")
    return RandomGeneratorSharedVariable(random_generator_type, value, name=name,
                                         strict=strict, allow_downcast=allow_downcast,
                                         borrow=borrow)


register_shared_constructor(random_generator_shared_constructor)
