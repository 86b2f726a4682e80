"""The backend seam: a backend is a dispatch table, capabilities and a rewrite
contract (theanine/link/backend.py); the toy backend (tests/toy_backend.py) uses
nothing else and runs the whole op checker."""

import numpy as np
import toy_backend
from op_checker import linker_names

import theanine as th
import theanine.tensor as tt
from theanine.link.backend import Backend
from theanine.tensor.elemwise import Elemwise
from theanine.tensor.fused import FusedReduce

TOY = th.Mode(linker="toy")


def _ops(f):
    return [n.op for n in f.maker.fgraph.toposort()]


def test_every_registered_backend_is_in_the_op_checker():
    assert "toy" in linker_names() and "vm" in linker_names()
    assert isinstance(TOY.linker, Backend)


def test_rewrite_contract_keeps_excluded_passes_out_whatever_the_flags():
    x = tt.dvector("x")
    expr = tt.sum(tt.exp(x) * 2.0 + x)
    with th.config.change_flags(optimizer_including="inplace"):
        f = th.function([x], expr, mode=TOY)
    assert not any(op.destroy_map for op in _ops(f))
    assert not any(isinstance(op, FusedReduce) for op in _ops(f))   # default capabilities
    assert any(isinstance(op, FusedReduce) for op in _ops(th.function([x], expr)))
    xv = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(f(xv), np.sum(np.exp(xv) * 2 + xv))


def test_dispatch_belongs_to_its_backend():
    """A registration on the toy table changes the toy backend only."""
    calls = []

    class Twice(Elemwise):
        pass

    @toy_backend.toy_funcify.register(Twice)
    def _(op, node):
        def thunk(*args):
            calls.append(1)
            return np.asarray(op.scalar_op.nfunc(*args))
        return thunk

    from theanine.scalar import basic as ts
    x = tt.dvector("x")
    y = Twice(ts.exp)(x)
    toy = th.function([x], y, mode=th.Mode(linker="toy", optimizer=None))
    vm = th.function([x], y, mode=th.Mode(linker="vm", optimizer=None))
    np.testing.assert_allclose(toy(np.zeros(2)), [1.0, 1.0])
    assert calls == [1]
    np.testing.assert_allclose(vm(np.zeros(2)), [1.0, 1.0])
    assert calls == [1]
