"""``th.sharding`` and ``function(mesh=...)`` in this process (JAX sees one CPU
device here; the 8-device cases run in test_mesh.py)."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.link.sharding import ShardingError

jax = pytest.importorskip("jax", reason="th.sharding needs the jax package")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _logreg():
    x, y = tt.dmatrix("x"), tt.dvector("y")
    w = th.shared(np.linspace(-1, 1, 4), name="w")
    p = 1 / (1 + tt.exp(-tt.dot(x, w)))
    cost = (-y * tt.log(p) - (1 - y) * tt.log(1 - p)).mean()
    return x, y, w, cost, [(w, w - 0.5 * th.grad(cost, w))]


def test_mesh_is_a_jax_mesh_over_the_devices_present():
    m = th.sharding.mesh({"data": 1})
    assert isinstance(m, jax.sharding.Mesh) and m.shape == {"data": 1}
    assert list(m.devices.flat) == jax.devices()[:1]
    n = len(jax.devices())
    with pytest.raises(ShardingError, match=rf"needs {n + 1} devices .* but JAX sees {n} "
                                            rf"\({n} cpu\).*xla_force_host_platform_device_count"
                                            rf"={n + 1}"):
        th.sharding.mesh({"data": n + 1})
    with pytest.raises(ShardingError, match="the devices given are 1"):
        th.sharding.mesh({"data": 1, "model": 2}, devices=jax.devices()[:1])
    with pytest.raises(ShardingError, match="must be a non-empty dict"):
        th.sharding.mesh(["data"])
    with pytest.raises(ShardingError, match="axis 'data': size must be a positive int"):
        th.sharding.mesh({"data": 0})


def test_one_device_mesh_trains_like_no_mesh(rng):
    xv, yv = rng.normal(size=(6, 4)), (rng.random(6) > 0.5).astype(float)
    weights = []
    for on_mesh in (False, True):
        x, y, w, cost, updates = _logreg()
        placed = {"mesh": th.sharding.mesh({"data": 1}),
                  "shardings": {x: ("data", None), y: ("data",)}} if on_mesh else {}
        f = th.function([x, y], cost, updates=updates, mode="JAX", **placed)
        costs = [float(f(xv, yv)) for _ in range(3)]
        weights.append((costs, w.get_value()))
        if on_mesh:
            value = w.get_value(borrow=True)
            assert isinstance(value.sharding, jax.sharding.NamedSharding)
            f.trust_input = True        # relinked with the same placement
            f(xv, yv)
    np.testing.assert_allclose(weights[1][0], weights[0][0], rtol=1e-13)
    np.testing.assert_allclose(weights[1][1], weights[0][1], rtol=1e-13)


def test_misplaced_requests_are_refused_with_the_reason():
    x, y, w, cost, updates = _logreg()
    m = th.sharding.mesh({"data": 1})
    with pytest.raises(ShardingError, match=r"the 'vm' linker does not do: compile it with "
                                            r"mode='JAX'"):
        th.function([x, y], cost, mesh=m)
    with pytest.raises(ShardingError, match="pass mesh=th.sharding.mesh"):
        th.function([x, y], cost, mode="JAX", shardings={x: ("data", None)})
    other = tt.dmatrix("other")
    with pytest.raises(ShardingError, match="other is neither an input of this function"):
        th.function([x, y], cost, mode="JAX", mesh=m, shardings={other: ("data", None)})
    with pytest.raises(ShardingError, match=r"must be a dict \{variable: spec\}"):
        th.function([x, y], cost, mode="JAX", mesh=m, shardings=[("data", None)])
    with pytest.raises(ShardingError, match="out_shardings has 2 entries for 1 output"):
        th.function([x, y], cost, mode="JAX", mesh=m, out_shardings=[None, None])
    with pytest.raises(ShardingError, match="is not an output of this function"):
        th.function([x, y], cost, mode="JAX", mesh=m, out_shardings={x: ("data", None)})
    with pytest.raises(ShardingError, match=r"output 0: the spec \('data',\) has 1 entries"):
        th.function([x, y], cost, mode="JAX", mesh=m, out_shardings=[("data",)])


def test_initialize_after_jax_started_says_to_call_it_first():
    jax.devices()                       # JAX's backends are up in this process
    with pytest.raises(RuntimeError, match=r"must be called before .*\(call "
                                           r"th.sharding.initialize before compiling"):
        th.sharding.initialize("localhost:1", 2, 0)


def test_to_host():
    value = jax.device_put(np.arange(3.0))
    np.testing.assert_array_equal(th.sharding.to_host(value), np.arange(3.0))
    assert type(th.sharding.to_host([1, 2])) is np.ndarray


def test_theanine_imports_without_jax():
    """``th.sharding`` is importable without JAX and says what to install when used."""
    code = ("import sys; sys.modules['jax'] = None\n"
            "import theanine as th\n"
            "try:\n    th.sharding.mesh({'data': 2})\n"
            "except RuntimeError as exc:\n    print(exc)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "th.sharding needs the jax package: pip install 'jax[cpu]'" in done.stdout
