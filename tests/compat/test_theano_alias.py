"""``import theano`` served by theanine (``theanine.compat``)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import theanine as th

HERE = Path(__file__).resolve().parent


def test_theano_module_names_resolve_to_theanine(theano):
    import theano.tensor as T
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    from theano.tensor.nnet import relu, sigmoid
    from theano.tensor.shared_randomstreams import RandomStreams
    from theano.tensor.signal import pool

    assert theano.function is th.function and theano.shared is th.shared
    assert T.grad is th.grad and T.dmatrix is th.tensor.dmatrix
    assert sigmoid is th.tensor.nnet.sigmoid and relu is th.tensor.nnet.relu
    assert pool.pool_2d is th.tensor.signal.pool.pool_2d
    assert theano.gof.graph.inputs and theano.scan_module.scan is th.scan
    assert MRG_RandomStreams(1) and RandomStreams(1)
    x = T.dvector("x")
    assert theano.function([x], T.grad((x ** 2).sum(), x))(np.arange(3.0)).tolist() == \
        [0.0, 2.0, 4.0]


def test_missing_theano_name_says_so(theano):
    with pytest.raises(AttributeError, match="theano.tensor.not_a_name: a Theano name "
                                             "theanine does not provide"):
        theano.tensor.not_a_name    # noqa: B018


def test_theano_random_streams_signatures(theano):
    from theano.sandbox.rng_mrg import MRG_RandomStreams
    from theano.tensor.shared_randomstreams import RandomStreams

    rs, mrg = RandomStreams(3), MRG_RandomStreams(5)
    draws = th.function([], [rs.uniform((2000,), 2.0, 3.0), rs.normal((2000,), avg=5.0, std=0.5),
                             rs.random_integers((2000,), 1, 3), rs.binomial((4,), n=1, p=1.0),
                             mrg.uniform((2000,)), mrg.normal((2000,), 1.0, 2.0),
                             mrg.truncated_normal((2000,), 0.0, 1.0),
                             mrg.binomial((5,), p=0.0),
                             mrg.multinomial(pvals=np.array([[0.2, 0.8], [1.0, 0.0]]), n=3)])
    u, n, ri, b, mu, mn, tn, mb, mm = draws()
    assert 2.0 <= u.min() and u.max() < 3.0 and abs(n.mean() - 5.0) < 0.1
    assert set(np.unique(ri)) == {1, 2, 3} and b.tolist() == [1, 1, 1, 1]
    assert mu.dtype == th.config.floatX and 0.0 <= mu.min() and mu.max() < 1.0
    assert abs(mn.mean() - 1.0) < 0.2 and abs(mn.std() - 2.0) < 0.2
    assert np.abs(tn).max() <= 2.0 and abs(tn.std() - 0.88) < 0.05
    assert mb.tolist() == [0] * 5
    assert mm.shape == (2, 2) and mm.sum(axis=1).tolist() == [3, 3] and mm[1].tolist() == [3, 0]
    second = draws()
    assert not np.array_equal(second[0], u)          # default updates advance the streams


def test_classic_theano_script_runs_unchanged():
    """An MLP with MRG dropout written for Theano, run with ``python -m theanine.compat``."""
    result = subprocess.run([sys.executable, "-m", "theanine.compat",
                             str(HERE / "theano_mlp_dropout.py")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    first, last = (float(v) for v in result.stdout.split()[1::2])
    assert last < first / 4


def test_default_mode_as_theano_names_it(theano):
    mode = theano.compile.mode.get_default_mode()
    assert type(mode.linker).__name__ == "VMLinker"
    with th.config.change_flags(mode="FAST_COMPILE"):
        assert theano.compile.get_default_mode().name == "FAST_COMPILE"
