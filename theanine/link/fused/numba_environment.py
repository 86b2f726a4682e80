"""Process-wide settings Numba reads once, made before it first compiles.

Both are environment variables that Numba and its OpenMP runtime read when they
start, so :func:`prepare_numba` runs before the first ``import numba`` in theanine
(the fused kernel engine calls it on import).  A choice the user already made in
the environment always wins.
"""

from __future__ import annotations

import sys

from theanine.config import config, environment_variable, set_environment_variable

_OPENMP_POLICY_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
_NUMBA_TARGET_VARIABLES = ("NUMBA_CPU_FEATURES", "NUMBA_CPU_NAME")


def quiet_openmp_threads() -> None:
    """Make the OpenMP threads of Numba's ``omp`` layer sleep after a parallel kernel
    instead of spinning (``config.numba__openmp_passive``).  Spinning threads took
    the cores from the BLAS calls that follow: the tutorial's logistic-regression
    step at 20,000 rows (its fused kernels run in parallel there) took 2.0x NumPy's
    time with them, 1.16x without, and NumPy's own step ran 1.3-1.5x slower in the
    same process."""
    if not config.numba__openmp_passive:
        return
    if any(environment_variable(name) is not None for name in _OPENMP_POLICY_VARIABLES):
        return
    set_environment_variable("OMP_WAIT_POLICY", "PASSIVE")    # GNU and LLVM OpenMP
    set_environment_variable("KMP_BLOCKTIME", "0")            # Intel OpenMP


def wide_vector_features() -> str | None:
    """The host's LLVM target features with 512-bit vectors preferred, or None where
    that changes nothing (no AVX-512, or LLVM already prefers them)."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not features.get("avx512f") or not features.get("evex512", True):
        return None
    return features.flatten() + ",-prefer-256-bit"


def widen_numba_vectors() -> None:
    """Let LLVM vectorize Numba code with 512-bit registers where the CPU has them
    (``config.numba__wide_vectors``).  LLVM's tuning for Intel server cores prefers
    256-bit vectors; for the fused kernels' polynomial math, 512-bit ones measured
    1.7x faster single-threaded (``sum(tanh(v) * exp(-v*v))``, 10^7 float64: 81 ->
    47 ms).  Numba keys its disk cache by these features, so caches stay valid."""
    if not config.numba__wide_vectors:
        return
    if any(environment_variable(name) is not None for name in _NUMBA_TARGET_VARIABLES):
        return
    features = wide_vector_features()
    if features is None:
        return
    set_environment_variable("NUMBA_CPU_FEATURES", features)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None and numba_config.CPU_FEATURES is None and \
            not _numba_has_compiled():
        numba_config.CPU_FEATURES = features     # Numba imported first, nothing built yet


def _numba_has_compiled() -> bool:
    """Whether Numba's CPU target (and its LLVM target machine) already exists."""
    registry = sys.modules.get("numba.core.registry")
    target = getattr(registry, "cpu_target", None)
    return target is None or "_toplevel_target_context" in vars(target)


def prepare_numba() -> None:
    """Every process-wide Numba setting theanine makes (idempotent)."""
    quiet_openmp_threads()
    widen_numba_vectors()
