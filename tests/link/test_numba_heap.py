"""The Numba engine's first call steadies glibc's heap once, unless the user chose."""

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.link.numba import heap


@pytest.fixture
def recorded(monkeypatch):
    calls = []

    def mallopt(param, value):
        calls.append((param, value))
        return 1

    monkeypatch.setattr(heap, "_applied", False)
    monkeypatch.setattr(heap, "_mallopt", lambda: mallopt)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return calls


def test_the_first_numba_call_sets_both_thresholds_once(recorded):
    x = tt.dvector("x")
    f = th.function([x], tt.exp(x) * 2.0, mode="NUMBA")
    np.testing.assert_allclose(f(np.zeros(3)), 2.0)
    f(np.zeros(3))
    g = th.function([x], x + 1.0, mode="NUMBA")
    g(np.zeros(3))
    assert recorded == [(heap._M_MMAP_THRESHOLD, 32 * 2**20),
                        (heap._M_TRIM_THRESHOLD, 64 * 2**20)]


def test_the_users_environment_and_the_flag_win(recorded, monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert not heap.steady_heap() and recorded == []
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(heap, "_applied", False)
    with th.config.change_flags(numba__steady_heap=False):
        assert not heap.steady_heap()
    assert recorded == []
    assert heap.steady_heap() and len(recorded) == 2
    assert not heap.steady_heap() and len(recorded) == 2


def test_another_c_library_is_left_alone(monkeypatch):
    monkeypatch.setattr(heap, "_applied", False)
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("", ""))
    assert heap._mallopt() is None
    assert not heap.steady_heap()


@pytest.mark.skipif(heap._mallopt() is None, reason="not glibc")
def test_glibc_accepts_the_values():
    mallopt = heap._mallopt()
    assert mallopt(heap._M_MMAP_THRESHOLD, heap.MMAP_THRESHOLD) == 1
    assert mallopt(heap._M_TRIM_THRESHOLD, heap.TRIM_THRESHOLD) == 1
