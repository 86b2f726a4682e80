"""Random numbers: ``tt.random.RandomStream(seed).normal(size=(3,))``."""

from .op import Choice, Permutation, RandomVariable  # noqa: F401
from .type import (  # noqa: F401
    RandomGeneratorSharedVariable,
    RandomGeneratorType,
    random_generator_type,
)
from .utils import RandomStream, RandomStreams  # noqa: F401
