"""The generated kernel module and Numba's disk cache make a second process cheap."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import numpy as np
from theanine.link.fused.program import KernelProgram
from theanine.link.fused.numba_engine import compile_program
p = KernelProgram((("x", "float64"),), (("a", "mul", ("x", "x")), ("b", "sub", ("a", 1.0))),
                  (("a", "float64"), ("b", "float64")), ("b",))
k = compile_program(p, cache_dir={cache!r})
t1 = time.perf_counter()
r = k(np.arange(4.0))[0]
t2 = time.perf_counter()
stats = [v.stats for v in vars(k.module).values() if hasattr(v, "stats")]
hits = sum(sum(s.cache_hits.values()) for s in stats)
misses = sum(sum(s.cache_misses.values()) for s in stats)
print(json.dumps(dict(call=t2 - t1, total=t2 - t0, ok=r.tolist() == [-1.0, 0.0, 3.0, 8.0],
                      path=str(k.path), hits=hits, misses=misses)))
"""


def _run(cache):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT), cache=cache)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_disk_cache(tmp_path):
    cache = str(tmp_path / "cd")
    first = _run(cache)
    second = _run(cache)
    assert first["ok"] and second["ok"]
    path = Path(first["path"])
    assert path.exists() and path.parent.parent == Path(cache)
    assert any((path.parent / "__pycache__").glob(f"{path.stem}*.nbi"))
    # the first process compiled, the second loaded every kernel from the disk cache
    assert first["misses"] > 0 and first["hits"] == 0
    assert second["hits"] > 0 and second["misses"] == 0
