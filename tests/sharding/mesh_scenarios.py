"""Scenarios on 8 virtual CPU devices, run in a subprocess by test_mesh.py.

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python tests/sharding/mesh_scenarios.py NAME...

JAX reads XLA_FLAGS when it starts, so these cannot run inside the pytest process
(which has one device).  Each scenario asserts against a single-device run of the
same graph and prints "ok NAME" (or "FAIL NAME" and the traceback); one process
runs them all, which saves JAX's start-up per scenario.
"""

import importlib.util
import pathlib
import re
import sys
import traceback

import jax
import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.link.jax.sharding import collective_counts, compile_for
from theanine.link.sharding import ShardingError

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("data_parallel",
                                               ROOT / "examples" / "data_parallel.py")
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


def train_both(kind, mesh, steps, model_axis=False, batch=64, n_in=16, hidden=8):
    """Weights after ``steps`` on the mesh and on one device, and the mesh function."""
    x, y = example.data(batch, n_in, 0)
    results = []
    for where in (mesh, None):
        split_model = model_axis and where is not None
        train, params = example.build(kind, where, n_in, hidden, 0, split_model)
        costs = [float(train(x, y)) for _ in range(steps)]
        results.append((train, params, costs))
    return results


def data_parallel():
    """The tutorial's logistic regression and an MLP, x and y split over 8 devices:
    the weights of a single-device run, gradients all-reduced by XLA."""
    mesh = th.sharding.mesh({"data": 8})
    assert mesh.shape == {"data": 8} and len(mesh.devices.flat) == 8
    for kind in ("logreg", "mlp"):
        (train, params, costs), (_, ref_params, ref_costs) = train_both(kind, mesh, 5)
        np.testing.assert_allclose(costs, ref_costs, rtol=1e-12)
        assert costs[-1] < costs[0]
        for p, r in zip(params, ref_params):
            value = p.get_value(borrow=True)
            assert isinstance(value, jax.Array) and len(value.sharding.device_set) == 8
            assert value.sharding.is_fully_replicated        # replicated weights
            np.testing.assert_allclose(p.get_value(), r.get_value(), rtol=1e-12, atol=1e-15)
        # the batch is split: each device holds 64 / 8 rows of x
        placement_args = [jax.device_put(a, s) for a, s in
                          zip(example.data(64, 16, 0), _shardings(mesh, [("data", None),
                                                                         ("data",)]))]
        assert {s.data.shape for s in placement_args[0].addressable_shards} == {(8, 16)}
    counts = _collectives()
    assert counts.get("all-reduce", 0) >= 1, counts


def _shardings(mesh, specs):
    return [jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*s)) for s in specs]


def _collectives():
    """A data-parallel step's profile: placement, per-device times, all-reduces."""
    stats = th.compile.ProfileStats(atexit_print=False)
    x, y = tt.dmatrix("x"), tt.dvector("y")
    w = th.shared(np.ones(16), name="w")
    cost = ((tt.dot(x, w) - y) ** 2).mean()
    f = th.function([x, y], cost, updates=[(w, w - 0.1 * th.grad(cost, w))], mode="JAX",
                    mesh=th.sharding.mesh({"data": 8}),
                    shardings={x: ("data", None), y: ("data",)}, profile=stats)
    xv, yv = example.data(64, 16, 1)
    for _ in range(3):
        f(xv, yv)
    text = stats.summary_text()
    for needle in ("mesh {'data': 8} over 8 cpu devices (process 0 of 1)",
                   "input 'x': split dim 0 over 'data', shape (64, 16), pieces (8, 16)",
                   "shared variable 'w': replicated, shape (16,), pieces (16,)",
                   "update 0: replicated, shape (16,)",
                   "per device, dispatch to outputs ready (mean of 2 calls):", "cpu:7 "):
        assert needle in text, (needle, text)
    found = re.search(r"collectives in the compiled program: all-reduce x(\d+)", text)
    assert found and int(found.group(1)) >= 1, text
    jitted = f.fn.jitted                  # the same count, straight from XLA's program
    args = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s) for a, s in
            zip([xv, yv, w.get_value()], _shardings(f.maker.linker.sharding.mesh,
                                                    [("data", None), ("data",), ()]))]
    assert re.search(r"XLA's cost analysis, per device: [\d.e+]+ flops", text), text
    return collective_counts(compile_for(jitted, args))


def model_parallel():
    """The MLP's hidden layer split over "model" (mesh data=4 x model=2): the same
    weights as one device, and each weight stays split on its devices."""
    mesh = th.sharding.mesh({"data": 4, "model": 2})
    (train, params, costs), (_, ref_params, ref_costs) = train_both("mlp", mesh, 8,
                                                                   model_axis=True)
    np.testing.assert_allclose(costs, ref_costs, rtol=1e-12)
    w1, b1, w2, b2 = params
    for p, spec, piece in ((w1, (None, "model"), (16, 4)), (b1, ("model",), (4,)),
                           (w2, ("model",), (4,)), (b2, (), ())):
        value = p.get_value(borrow=True)
        assert tuple(value.sharding.spec) == spec, (p, value.sharding)
        assert {s.data.shape for s in value.addressable_shards} == {piece}
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p.get_value(), r.get_value(), rtol=1e-12, atol=1e-15)
    # set_value with a NumPy array: split again on the next call
    w1.set_value(ref_params[0].get_value())
    x, y = example.data(64, 16, 0)
    train(x, y)
    assert tuple(w1.get_value(borrow=True).sharding.spec) == (None, "model")

    # out_shardings: the hidden activations returned split over data x model
    xs = tt.dmatrix("xs")
    wv = np.random.default_rng(1).standard_normal((16, 8))
    w = th.shared(wv, name="w")
    h = tt.tanh(tt.dot(xs, w))
    stats = th.compile.ProfileStats(atexit_print=False)
    f = th.function([xs], [h, h.sum()], mode="JAX", mesh=mesh,
                    shardings={xs: ("data", None), w: (None, "model")},
                    out_shardings={h: ("data", "model")}, profile=stats)
    out, total = f(x)
    np.testing.assert_allclose(out, np.tanh(x @ wv), rtol=1e-12)
    np.testing.assert_allclose(total, np.tanh(x @ wv).sum(), rtol=1e-12)
    text = stats.summary_text()
    assert "output 0: split dim 0 over 'data', dim 1 over 'model', shape (64, 8), pieces " \
           "(16, 4)" in text, text
    assert "shared variable 'w': split dim 1 over 'model', shape (16, 8), pieces (16, 4)" \
        in text, text


def documented_command():
    """docs/scaling.md's one-machine commands, in this process (XLA_FLAGS is set)."""
    assert example.main(["--model", "mlp", "--check"]) <= 1e-10
    assert example.main(["--model", "mlp", "--model-axis", "2", "--check"]) <= 1e-10


def errors():
    """Clear errors naming the input and the axis."""
    mesh = th.sharding.mesh({"data": 4, "model": 2})
    x = tt.dmatrix("x")
    w = th.shared(np.ones((5, 3)), name="W")
    cost = tt.dot(x, w).sum()
    cases = [
        (dict(shardings={x: ("batch", None)}),
         r"input 'x': dimension 0 names the axis 'batch', which is not an axis of the mesh "
         r"\(its axes: 'data' \(size 4\), 'model' \(size 2\)\)"),
        (dict(shardings={x: ("data",)}),
         r"input 'x': the spec \('data',\) has 1 entries but input 'x' has 2 dimension"),
        (dict(shardings={w: (None, "model")}),
         r"shared variable 'W': dimension 1 has size 3, which mesh axis 'model' \(size 2\) "
         r"does not divide"),
        (dict(shardings={x: ("data", "data")}), r"the mesh axis 'data' is used for two"),
        (dict(shardings={x: "data"}), r"give one entry per dimension, e.g. \('data', None,\)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ShardingError, match=message):
            th.function([x], cost, mode="JAX", mesh=mesh, **kwargs)
    # an input's size is known at the call: checked there
    f = th.function([x], cost, mode="JAX", mesh=mesh, shardings={x: ("data", None)})
    assert float(f(np.ones((8, 5)))) == 8 * 5 * 3
    with pytest.raises(ShardingError, match=r"input 'x': dimension 0 has size 10, which mesh "
                                            r"axis 'data' \(size 4\) does not divide"):
        f(np.ones((10, 5)))
    # a static size is checked at compile time
    xs = tt.TensorType("float64", shape=(6, None))("xs")
    with pytest.raises(ShardingError, match=r"input 'xs': dimension 0 has size 6, which mesh "
                                            r"axis \('data', 'model'\) \(size 8\)"):
        th.function([xs], xs.sum(), mode="JAX", mesh=mesh,
                    shardings={xs: (("data", "model"), None)})
    with pytest.raises(ShardingError, match=r"needs 16 devices \(16\) but JAX sees 8 \(8 cpu\)"):
        th.sharding.mesh({"data": 16})
    with pytest.raises(ShardingError, match=r"needs 12 devices \(4 x 3\)"):
        th.sharding.mesh({"data": 4, "model": 3})


SCENARIOS = {"data_parallel": data_parallel, "model_parallel": model_parallel,
             "errors": errors, "documented_command": documented_command}

if __name__ == "__main__":
    assert len(jax.devices()) == 8, "run with XLA_FLAGS=--xla_force_host_platform_device_count=8"
    for name in sys.argv[1:] or SCENARIOS:
        try:
            SCENARIOS[name]()
        except Exception:
            print("FAIL", name, traceback.format_exc(), flush=True)
        else:
            print("ok", name, flush=True)
