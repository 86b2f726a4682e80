"""Two processes on localhost (``jax.distributed``, 4 virtual CPU devices each) train
one MLP together over a mesh spanning both, as docs/scaling.md shows: the weights
agree between the processes and with one device.  Collectives between the
processes go through Gloo over TCP (JAX's CPU default)."""

import os
import pathlib
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("jax", reason="th.sharding needs the jax package")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_together():
    outs = train_in_two_processes(free_port())
    if outs is None:                    # the free port was taken meanwhile: once more
        outs = train_in_two_processes(free_port())
    assert outs is not None
    digests = []
    for k, out in enumerate(outs):
        assert f"process {k} of 2: mesh {{'data': 4, 'model': 2}} over 8 cpu device(s)" in out
        found = re.search(r"largest weight difference from one device: (\S+)", out)
        assert found and float(found.group(1)) <= 1e-10, out
        digests.append([float(v) for v in
                        re.search(r"weights digest: (.*)", out).group(1).split()])
    np.testing.assert_allclose(digests[0], digests[1], rtol=1e-13)


def train_in_two_processes(port: int):
    """The two processes' outputs (None when the port was in use)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen(
        [sys.executable, "examples/data_parallel.py", "--model", "mlp", "--model-axis", "2",
         "--steps", "2", "--check", "--coordinator", f"localhost:{port}",
         "--num-processes", "2", "--process-id", str(k), "--cpu-devices", "4"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(2)]
    outs, errs = [], []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            outs.append(out)
            errs.append(err)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    if any(p.returncode for p in procs):
        if any("address already in use" in e.lower() for e in errs):
            return None
        raise AssertionError("\n".join(outs + errs))
    return outs
