"""Shared pytest fixtures and settings."""

import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs the same hypothesis examples every time (a failure there is reproducible);
# local runs explore new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def rng():
    return np.random.default_rng(42)


# the toy backend (tests/toy_backend.py) registers itself as the "toy" linker, so
# the op checker and every test that loops over linkers run it too
import toy_backend  # noqa: E402,F401

# Tiered execution (compile/tiered.py) would compile hot test functions with Numba in
# background threads, at times that depend on the machine's speed: the suite runs the
# default engine as compiled, and tests/compile/test_tiered.py turns tiering on.
import theanine  # noqa: E402

theanine.config.tiered = False
