"""``RandomStream``: a factory of random draws whose generators update themselves."""

from __future__ import annotations

import numpy as np

from theanine.graph.shared import shared
from theanine.tensor import basic as tb

from .op import Choice, Permutation, RandomVariable, float_dtype
from .type import RandomGeneratorSharedVariable


class RandomStream:
    """Symbolic random draws, reproducible by seed.

    Each draw gets its own shared ``numpy.random.Generator`` (spawned from the stream's
    ``SeedSequence`` in creation order), whose ``default_update`` is the op's advanced
    generator: every call of a compiled function gives new draws, and two streams
    with the same seed used in the same order give the same draws.
    """

    def __init__(self, seed=None, namespace=None):
        self.default_seed = seed
        self.namespace = namespace
        self._seedseq = np.random.SeedSequence(seed)
        self.state_updates: list[tuple] = []

    def seed(self, seed=None) -> None:
        """Reseed every generator of this stream (as if it were created with ``seed``)."""
        self._seedseq = np.random.SeedSequence(seed)
        children = self._seedseq.spawn(len(self.state_updates))
        for (rng_var, _), child in zip(self.state_updates, children):
            rng_var.set_value(np.random.default_rng(child), borrow=True)

    def gen(self, op_node_fn, *args, **kwargs):
        """Make a fresh shared generator, build the draw, and register its update."""
        (child,) = self._seedseq.spawn(1)
        rng_var = shared(np.random.default_rng(child), borrow=True)
        if not isinstance(rng_var, RandomGeneratorSharedVariable):
            raise TypeError(f"shared() made a {type(rng_var).__name__} for a Generator; the "
                            "random generator shared constructor is not registered first")
        node = op_node_fn(rng_var, *args, **kwargs)
        new_rng, sample = node.outputs
        rng_var.default_update = new_rng
        self.state_updates.append((rng_var, new_rng))
        sample.tag.rng = rng_var
        return sample

    @property
    def updates(self) -> list[tuple]:
        """``(shared generator, advanced generator)`` pairs, for explicit ``updates=``."""
        return list(self.state_updates)

    def _continuous(self, method, params, size, dtype):
        dtype = float_dtype(dtype, params)
        params = [tb.as_tensor_variable(p) if not isinstance(p, (int, float)) else
                  tb.constant(p, dtype=dtype) for p in params]
        op = RandomVariable(method, dtype, size is not None, len(params))
        return self.gen(op.make_node, size, *params)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=None):
        """Gaussian samples; ``loc``/``scale`` broadcast like NumPy."""
        return self._continuous("normal", [loc, scale], size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=None):
        """Uniform samples in ``[low, high)``."""
        return self._continuous("uniform", [low, high], size, dtype)

    def binomial(self, n, p, size=None, dtype="int64"):
        """Binomial counts of ``n`` trials with success probability ``p``."""
        params = [tb.as_tensor_variable(n), tb.as_tensor_variable(p)]
        op = RandomVariable("binomial", dtype, size is not None, 2)
        return self.gen(op.make_node, size, *params)

    def integers(self, low, high=None, size=None, dtype="int64"):
        """Integers in ``[low, high)`` (``[0, low)`` when ``high`` is None)."""
        if high is None:
            low, high = 0, low
        params = [tb.as_tensor_variable(low), tb.as_tensor_variable(high)]
        op = RandomVariable("integers", dtype, size is not None, 2)
        return self.gen(op.make_node, size, *params)

    def choice(self, a, size=None, replace=True, p=None):
        """Samples from the vector ``a`` (or ``arange(a)``), optionally weighted by ``p``."""
        op = Choice(replace, size is not None, p is not None)
        return self.gen(op.make_node, size, a, p)

    def permutation(self, x):
        """A random permutation of ``arange(x)`` (int ``x``) or of the vector ``x``."""
        return self.gen(Permutation().make_node, x)


RandomStreams = RandomStream
