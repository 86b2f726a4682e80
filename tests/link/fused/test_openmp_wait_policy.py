"""Numba's OpenMP threads sleep between parallel kernels unless the user chose:
spinning threads took the cores from the BLAS calls that follow."""

import os
import subprocess
import sys

import pytest

SCRIPT = ("import os, theanine.link.fused.numba_kernel; "
          "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('KMP_BLOCKTIME'))")


def _policy(**env):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME",
                          "THEANINE_FLAGS")}
    clean.update(env)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=clean, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("env,want", [
    ({}, ["PASSIVE", "0"]),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, ["ACTIVE", "None"]),
    ({"GOMP_SPINCOUNT": "1000"}, ["None", "None"]),
    ({"THEANINE_FLAGS": "numba__openmp_passive=False"}, ["None", "None"]),
])
def test_the_wait_policy_is_passive_unless_the_user_chose(env, want):
    assert _policy(**env) == want
