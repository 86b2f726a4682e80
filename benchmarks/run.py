"""Run every benchmark module's ``WORKLOADS`` (or the ones named on the command line).

    python benchmarks/run.py                 # all bench_*.py modules
    python benchmarks/run.py foundation      # only bench_foundation.py
"""

from __future__ import annotations

import importlib
import os
import platform
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from harness import run_workloads  # noqa: E402


def main(argv: list[str]) -> None:
    names = argv or sorted(f[6:-3] for f in os.listdir(HERE)
                           if f.startswith("bench_") and f.endswith(".py"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        print(f"\n== {name} ==")
        if hasattr(module, "WORKLOADS"):
            run_workloads(module.WORKLOADS)
        if hasattr(module, "main"):
            module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
