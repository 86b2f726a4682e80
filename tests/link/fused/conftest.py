import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """Kernel cache shared by the tests.

    Persistent by default (kernel file names include a hash of the engine
    sources, so stale kernels are never reused); ``THEANINE_TEST_COMPILEDIR=tmp``
    forces a cold cache, any other value names the directory.
    """
    d = os.environ.get("THEANINE_TEST_COMPILEDIR")
    if d == "tmp":
        return str(tmp_path_factory.mktemp("compiledir"))
    if d:
        return d
    return os.path.join(os.path.expanduser("~"), ".theanine", "test-compiledir")
