"""Shared pytest setup: a private compile directory and deterministic NumPy."""

import os
import tempfile

import numpy as np
import pytest

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "theanine-numba"))


@pytest.fixture
def rng():
    return np.random.default_rng(42)
