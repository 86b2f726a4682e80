"""The process-wide Numba settings theanine makes before Numba starts, each giving
way to a choice the user made in the environment."""

import os
import subprocess
import sys

import pytest

from theanine.link.fused.numba_environment import wide_vector_features

SCRIPT = ("import os, theanine.link.fused.numba_kernel; "
          "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('KMP_BLOCKTIME'))")
OURS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "THEANINE_FLAGS",
        "NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")


def _run(script, **env):
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean.update(env)
    out = subprocess.run([sys.executable, "-c", script], env=clean, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("env,want", [
    ({}, ["PASSIVE", "0"]),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, ["ACTIVE", "None"]),
    ({"GOMP_SPINCOUNT": "1000"}, ["None", "None"]),
    ({"THEANINE_FLAGS": "numba__openmp_passive=False"}, ["None", "None"]),
])
def test_the_wait_policy_is_passive_unless_the_user_chose(env, want):
    assert _run(SCRIPT, **env) == want


# what Numba's code generator was built with, after a first compile
FEATURES = ("import {first}; import theanine, numba\n"
            "numba.njit(lambda x: x + 1)(1.0)\n"
            "from numba.core.registry import cpu_target\n"
            "f = cpu_target.target_context.codegen()._tm_features\n"
            "print('avx512f' in f and 'prefer-256-bit' in f.split(',')[-1], "
            "f.endswith(',-prefer-256-bit'))")


@pytest.mark.skipif(wide_vector_features() is None, reason="the CPU has no AVX-512")
@pytest.mark.parametrize("first", ["os", "numba"])
def test_numba_prefers_512_bit_vectors_on_avx512(first):
    """Whether theanine or Numba is imported first, nothing compiled yet."""
    assert _run(FEATURES.format(first=first)) == ["True", "True"]


@pytest.mark.parametrize("env", [{"THEANINE_FLAGS": "numba__wide_vectors=False"},
                                 {"NUMBA_CPU_FEATURES": "+avx,+sse2"}])
def test_the_vector_width_is_left_alone_when_switched_off_or_chosen(env):
    assert _run(FEATURES.format(first="os"), **env)[1] == "False"


def test_nothing_changes_without_avx512(monkeypatch):
    import llvmlite.binding as llvm

    class NoAvx512(dict):
        def flatten(self):
            return "+avx2"

    monkeypatch.setattr(llvm, "get_host_cpu_features", lambda: NoAvx512(avx512f=False))
    assert wide_vector_features() is None
