"""`make demo`'s tour (examples/demo.py) runs, in order, and shows what each section claims."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

SECTIONS = ["1. Profiling", "2. Compilation pipeline", "3. Conditions", "4. Loops",
            "5. Printing", "6. Debugging", "7. Known limitations"]


def test_demo_tour(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"),
                           str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    positions = [out.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    for needle in ("Class (op classes)", "Ops (equal ops merged)", "peak as executed",
                   "fused elementwise kernels (Composite)", "overwrites input",
                   "time spent evaluating one value", "the other branch ran 0 times",
                   "the other value was computed 1 time(s)",
                   "[ 0.  1.  4.  9. 16. 25. 36. 49. 64. 81.]\n19.0\n19.0\n",
                   "gt(1 / (1 + exp(-(x \\dot w) - b)), 0.5)", "Elemwise{Composite{gt(",
                   "dot: shapes (5, 10) and (5, 3) not aligned", "demo.py",
                   "the second reuses the compiled function",
                   "th.memory_plan(train, x=(400, 784), y=(400,)) predicted",
                   "interactive view of train with its profile"):
        assert needle in out, needle
    for name in ("prediction", "predict", "train"):
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    page = (tmp_path / "out" / "train.html").read_text()
    assert '"profiled": true' in page and "<svg" in page
    assert "Profile:" not in done.stderr       # the tour's profiles are not printed at exit
