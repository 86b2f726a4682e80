"""The tutorial's scan examples print their documented values."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_example(name: str) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", name)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("name, expected", [
    ("scan_pow.py", "[ 0.  1.  4.  9. 16. 25. 36. 49. 64. 81.]\n"),
    ("scan_poly.py", "19.0\n19.0\n"),
])
def test_example_output(name, expected):
    assert run_example(name) == expected
