"""Which calls the ``prange`` drivers run: only where the serial loop would take long
enough to pay for waking the threads (about 50 us a call)."""

import numpy as np

from theanine.link.fused.numba_kernel import PARALLEL_FROM_NS, PARALLEL_MIN, parallel_min
from theanine.link.fused.program import KernelProgram

F = "float64"


def _program(*ops):
    instructions, last = [], "x"
    for k, op in enumerate(ops):
        args = (last,) if op in ("exp", "tanh") else (last, last)
        instructions.append((f"t{k}", op, args))
        last = f"t{k}"
    return KernelProgram(inputs=(("x", F),), instructions=tuple(instructions),
                         dtypes=tuple((f"t{k}", F) for k in range(len(ops))), outputs=(last,))


def test_light_programs_stay_serial_longer_than_transcendental_ones():
    light, heavy, heavier = _program("mul", "add"), _program("exp", "mul"), \
        _program("tanh", "exp", "mul")
    assert parallel_min(light) > parallel_min(heavy) > parallel_min(heavier) >= PARALLEL_MIN
    # 2 x**2: about 0.35 ns per element, serial up to about a third of a million;
    # tanh and exp: about 2.35 ns, parallel from about 50,000
    assert 200_000 < parallel_min(light) < 600_000
    assert parallel_min(heavier) < 60_000 < PARALLEL_FROM_NS


def test_kernels_choose_their_driver_by_their_threshold(cache_dir, monkeypatch):
    from theanine.link.fused import numba_engine as ne

    k = ne.compile_program(_program("mul", "add"), cache_dir=cache_dir)
    assert k.par_min == parallel_min(k.program)
    calls = []
    for name in ("flat_ser", "flat_par"):
        original = getattr(k.module, name)
        monkeypatch.setattr(k.module, name, lambda *args, _f=original, _n=name: (
            calls.append(_n), _f(*args))[1])
    for n in (PARALLEL_MIN, k.par_min):
        x = np.linspace(0, 1, n)
        np.testing.assert_allclose(k(x)[0], 2 * x * x)
    assert calls == ["flat_ser", "flat_par"]
