"""Functions on a mesh of 8 virtual CPU devices (``mesh_scenarios.py``, run once in a
subprocess: JAX reads ``XLA_FLAGS`` when it starts, and this process already has
one device)."""

import os
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("jax", reason="th.sharding needs the jax package")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scenario_output():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "sharding" / "mesh_scenarios.py")],
                          env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("scenario", ["data_parallel", "model_parallel", "errors",
                                      "documented_command"])
def test_scenario(scenario_output, scenario):
    """data_parallel: logistic regression and MLP with x, y split over "data" give the
    single-device weights (profile: placement, all-reduces, per-device times);
    model_parallel: the MLP's hidden layer split over "model", weights stay split,
    out_shardings; errors: unknown axis, rank, divisibility (shared at compile time,
    inputs at the call), mesh larger than the devices; documented_command: the
    first command of docs/scaling.md."""
    assert f"ok {scenario}\n" in scenario_output, scenario_output
