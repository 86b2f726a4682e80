"""examples/gpu_speedup.py (the tutorial's exercise 5) runs on a CPU-only machine."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu_speedup.py"


def test_exercise_five_runs_and_times_every_engine_it_finds(capsys):
    spec = importlib.util.spec_from_file_location("gpu_speedup", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--steps", "2", "--samples", "300"])
    labels = {label for label, _ in results}
    assert "CPU, default engine" in labels
    if module.jax is not None:
        assert "CPU, JAX backend" in labels
    assert all(t > 0 for times in results.values() for t in times)
    out = capsys.readouterr().out
    assert "Where the time goes" in out and "float32" in out
