"""The tutorial's ifelse-vs-switch benchmark: lazy ifelse computes one mean, not two.

Targets: lazy / switch <= 0.6 (ideal 0.5); lazy within 10% of one NumPy mean.
"""

from __future__ import annotations

import numpy as np
from harness import Workload, optional_import, run_workloads

import theanine as th
import theanine.tensor as tt
from theanine.ifelse import ifelse


def _setup():
    a, b = tt.scalars("a", "b")
    x, y = tt.matrices("x", "y")
    f_switch = th.function([a, b, x, y], tt.switch(tt.lt(a, b), tt.mean(x), tt.mean(y)))
    f_lazy = th.function([a, b, x, y], ifelse(tt.lt(a, b), tt.mean(x), tt.mean(y)))
    m1, m2 = np.ones((10000, 1000)), np.ones((10000, 1000))
    return {
        "switch": lambda: f_switch(0.0, 1.0, m1, m2),
        "ifelse": lambda: f_lazy(0.0, 1.0, m1, m2),
        "numpy": lambda: np.mean(m1),
    }


def _branch(t, lib):
    return lib.mean(lib.tanh(t) * lib.exp(-t * t))


def _setup_branch(n=10**7):
    """The fused-reduction branch: one pass over the chosen vector."""
    a, b = tt.dscalars("a", "b")
    u, v = tt.dvectors("u", "v")
    with th.config.change_flags(fused_kernel_async=False):
        f_switch = th.function([a, b, u, v], tt.switch(tt.lt(a, b), _branch(u, tt),
                                                        _branch(v, tt)))
        f_lazy = th.function([a, b, u, v], ifelse(tt.lt(a, b), _branch(u, tt), _branch(v, tt)))
    rng = np.random.default_rng(0)
    uv, vv = rng.standard_normal(n), rng.standard_normal(n)
    impls = {
        "switch": lambda: f_switch(0.0, 1.0, uv, vv),
        "ifelse": lambda: f_lazy(0.0, 1.0, uv, vv),
        "numpy": lambda: _branch(uv, np),
    }
    jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        cond = jax.jit(lambda a, b, u, v: jax.lax.cond(a < b, lambda: _branch(u, jnp),
                                                       lambda: _branch(v, jnp)))
        where = jax.jit(lambda a, b, u, v: jnp.where(a < b, _branch(u, jnp), _branch(v, jnp)))
        ju, jv = jnp.asarray(uv), jnp.asarray(vv)
        impls["jax_cond"] = lambda: cond(0.0, 1.0, ju, jv).block_until_ready()
        impls["jax_where"] = lambda: where(0.0, 1.0, ju, jv).block_until_ready()
    return impls


def main() -> None:
    rows = run_workloads([Workload("mean of a 10000x1000 matrix, chosen by a<b",
                                   _setup, repeats=9)], out=lambda s: None)
    t = rows[0]["times"]
    print(f"switch {t['switch'] * 1e3:.1f} ms, ifelse {t['ifelse'] * 1e3:.1f} ms, "
          f"numpy one mean {t['numpy'] * 1e3:.1f} ms")
    print(f"ifelse/switch = {t['ifelse'] / t['switch']:.2f} (target <= 0.6), "
          f"ifelse/numpy = {t['ifelse'] / t['numpy']:.2f} (target <= 1.1)")

    rows = run_workloads([Workload("mean(tanh(v)*exp(-v*v)), 1e7 f64, chosen by a<b",
                                   _setup_branch, repeats=7)])
    t = rows[0]["times"]
    line = f"ifelse/switch = {t['ifelse'] / t['switch']:.2f}"
    if "jax_cond" in t:
        line += (f", ifelse/jax_cond = {t['ifelse'] / t['jax_cond']:.2f}, "
                 f"switch/jax_where = {t['switch'] / t['jax_where']:.2f}")
    print(line)
