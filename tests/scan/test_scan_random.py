"""Random scans on every engine against ``Scan.perform`` (the PY mode).

Each case draws the recurrent states and their taps, mapped outputs, whether a
sequence drives the loop, its direction, and per output a step expression that
may pass one of the step's inputs through unchanged (which a loop must not
confuse with a value it has just written), then how much of each result is read
(all of it, the last step, the last two: the storage plans).
"""

import random

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt

TAPS = ([-1], [-2, -1], [-2], [-3, -1])
KINDS = ("pass", "scale", "add_driver", "mix", "negate", "tanh_mix")


def _expression(kind, p, q, a, driver):
    if kind == "pass":
        return p
    if kind == "scale":
        return p * a
    if kind == "add_driver":
        return p + (a if driver is None else driver)
    if kind == "mix":
        return p * 0.5 + q * a
    if kind == "tanh_mix":
        return tt.tanh(p * a + q) * 0.9 + (0 if driver is None else driver * 0.1)
    return -p


def _random_scan(seed):
    rng = random.Random(seed)
    n_sot, n_nit = rng.randint(1, 2), rng.randint(0, 1)
    taps = [rng.choice(TAPS) for _ in range(n_sot)]
    with_sequence, backwards = rng.random() < 0.5, rng.random() < 0.25
    n_out = n_sot + n_nit
    plan = [(rng.choice(KINDS), rng.randrange(n_sot), rng.randrange(3)) for _ in range(n_out)]

    def step(*args):
        args = list(args)
        driver = args.pop(0) if with_sequence else None
        read = []
        for t in taps:
            read.append(args[:len(t)])
            del args[:len(t)]
        (a,) = args
        return [_expression(kind, read[j][which % len(read[j])], read[(j + 1) % n_sot][0],
                            a, driver)
                for kind, j, which in plan]

    v, a, x, k = tt.dmatrix("v"), tt.dvector("a"), tt.dmatrix("x"), tt.iscalar("k")
    # one tap of -1 takes a step's value as its initial state, others a stack of steps
    kwargs = dict(outputs_info=[dict(initial=v[-1] if t == [-1] else v, taps=t)
                                for t in taps] + [None] * n_nit,
                  non_sequences=a, go_backwards=backwards)
    if with_sequence:
        kwargs["sequences"] = x
    else:
        kwargs["n_steps"] = k
    results, _ = th.scan(step, **kwargs)
    results = results if isinstance(results, list) else [results]
    read = [rng.choice([lambda r: r, lambda r: r[-1], lambda r: r[-2:]]) for _ in results]
    values = np.random.default_rng(seed)
    args = [values.standard_normal((3, 2)), values.standard_normal(2),
            values.standard_normal((5, 2)), 5]
    return [v, a, x, k], [f(r) for f, r in zip(read, results)], args


def _check(mode, seeds):
    for seed in seeds:
        inputs, outputs, args = _random_scan(seed)
        want = th.function(inputs, outputs, mode="PY", on_unused_input="ignore")(*args)
        got = th.function(inputs, outputs, mode=mode, on_unused_input="ignore")(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12,
                                       err_msg=f"mode {mode}, seed {seed}")


def test_random_scans_on_the_default_engine():
    _check("FAST_RUN", range(60))


@pytest.mark.parametrize("mode", ["NUMBA", "JAX"])
def test_random_scans_on_the_compiling_engines(mode):
    pytest.importorskip("numba" if mode == "NUMBA" else "jax")
    _check(mode, range(0, 60, 5))


def _check_gradients(mode, seeds):
    for seed in seeds:
        inputs, outputs, args = _random_scan(seed)
        cost = sum(tt.sum(out * (k + 1.5)) for k, out in enumerate(outputs))
        grads = th.grad(cost, inputs[:3], disconnected_inputs="ignore")
        want = th.function(inputs, [cost, *grads], mode="PY", on_unused_input="ignore")(*args)
        got = th.function(inputs, [cost, *grads], mode=mode, on_unused_input="ignore")(*args)
        for k, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11,
                                       err_msg=f"mode {mode}, seed {seed}, value {k}")


def test_random_scan_gradients_on_the_default_engine():
    """Gradients with respect to the initial states, the non-sequence and the
    sequence, against ``Scan``'s own gradient run by the PY mode."""
    _check_gradients("FAST_RUN", range(40))


@pytest.mark.parametrize("mode, seeds", [("JAX", range(2, 40, 3)), ("NUMBA", range(0, 40, 10))])
def test_random_scan_gradients_on_the_compiling_engines(mode, seeds):
    """(On JAX, seed 2's backward scan gradient had aborted the process in XLA's
    compiler: tests/link/test_jax_writes.py.)"""
    pytest.importorskip("numba" if mode == "NUMBA" else "jax")
    _check_gradients(mode, seeds)
