"""Theano's smaller public names through ``import theano``: config keys, ``In``,
gradient modifiers, scan utilities, ``RandomStreams.multinomial``, module paths and
the missing-name error."""


import numpy as np
import pytest

import theanine as th


def test_config_keys_programs_read(theano):
    c = theano.config
    assert c.floatX in ("float64", "float32") and c.device == "cpu"
    assert c.warn_float64 == "ignore" and c.compute_test_value == "off"
    assert c.optimizer == "auto" and c.exception_verbosity == "low"
    assert c.on_unused_input == "raise"
    assert c.blas.ldflags == "" and c.gcc.cxxflags == "" and c.cxx == ""
    assert c.scan.allow_gc is False and c.warn.sum_div_dimshuffle_bug is False
    assert c.warn.ignore_bug_before == "0.9" and c.DebugMode.patience == 10
    c.warn.round = True
    try:
        assert c.warn__round is True
        with c.change_flags(**{"warn.round": False}):
            assert c.warn.round is False
        assert c.warn.round is True
    finally:
        c.warn.round = False
    with pytest.raises(ValueError, match="unknown flag 'warn__no_such_bug'"):
        _ = c.warn.no_such_bug


def test_in_with_theano_arguments(theano):
    import theano.tensor as T
    x, y = T.dscalar("x"), T.dscalar("y")
    f = theano.function([x, theano.In(y, value=2.0, name="why", mutable=False, borrow=True)],
                        x * y)
    assert f(3.0) == 6.0 and f(3.0, why=4.0) == 12.0
    g = theano.function([theano.In(x, value=None), y], x + y)   # None: no default
    with pytest.raises(TypeError):
        g(1.0)
    assert g(1.0, 2.0) == 3.0
    assert theano.In(x, autoname=False).name is None


def test_gradient_modifiers(theano):
    import theano.tensor as T
    from theano.gradient import consider_constant, disconnected_grad, grad_clip, zero_grad
    x = T.dscalar("x")
    f = theano.function([x], [T.grad(grad_clip(x, -1, 1) ** 2, x),
                              T.grad(consider_constant(x) * x, x),
                              T.grad(zero_grad(x) * x + x, x),
                              T.grad(disconnected_grad(x) * x, x)])
    assert [float(v) for v in f(3.0)] == [1.0, 3.0, 4.0, 3.0]
    assert float(theano.function([x], grad_clip(x, -1, 1))(5.0)) == 5.0


def test_scan_utils(theano):
    import theano.tensor as T
    from theano.scan_module import scan_utils
    x, y, z = T.dvector("x"), T.dvector("y"), T.dvector("z")
    assert scan_utils.equal_computations([T.exp(x) + 1], [T.exp(x) + 1])
    assert not scan_utils.equal_computations([T.exp(x)], [T.exp(y)])
    assert scan_utils.equal_computations([T.exp(x)], [T.exp(y)], [x], [y])
    assert not scan_utils.equal_computations([T.exp(x)], [T.log(y)], [x], [y])
    cloned = scan_utils.clone(T.exp(x) * 2, replace={x: z})
    assert np.allclose(theano.function([z], cloned)(np.ones(2)), 2 * np.e)
    # until ends a scan early, as in Theano
    out, _ = theano.scan(lambda prev: (prev * 2, scan_utils.until(prev * 2 > 40)),
                         outputs_info=T.constant(1.0), n_steps=100)
    assert float(theano.function([], out[-1])()) == 64.0


def test_random_streams_multinomial(theano):
    import theano.tensor as T
    from theano.tensor.shared_randomstreams import RandomStreams
    rs = RandomStreams(seed=7)
    draws = theano.function([], rs.multinomial(size=(4000,), n=5, pvals=[0.1, 0.6, 0.3]))()
    assert draws.shape == (4000, 3) and draws.dtype == np.int64
    assert (draws.sum(axis=1) == 5).all()
    np.testing.assert_allclose(draws.mean(axis=0) / 5, [0.1, 0.6, 0.3], atol=0.02)
    p = T.dmatrix()
    one_hot = theano.function([p], rs.multinomial(pvals=p, dtype="float32"))(
        np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(one_hot, [[0, 1], [1, 0], [0, 1]])
    assert one_hot.dtype == np.float32


def test_module_paths(theano):
    import theano.tensor as T
    from theano.compile.io import In
    from theano.compile.mode import get_default_mode
    from theano.ifelse import ifelse
    from theano.printing import Print
    from theano.tensor.nlinalg import matrix_inverse
    from theano.tensor.nnet.bn import batch_normalization_train
    from theano.tensor.nnet.neighbours import images2neibs
    from theano.tensor.nnet.nnet import softmax
    from theano.tensor.slinalg import cholesky
    assert In is th.In and ifelse is th.ifelse and Print is th.printing.Print
    assert get_default_mode is th.compile.get_default_mode and softmax is th.tensor.softmax
    assert T.nlinalg.matrix_inverse is matrix_inverse and T.slinalg.cholesky is cholesky
    assert T.nnet.bn.batch_normalization_train is batch_normalization_train
    assert T.nnet.neighbours.images2neibs is images2neibs
    assert T.batched_dot is th.tensor.batched_dot and T.tensordot is th.tensor.tensordot
    assert callable(theano.compile.function)


def test_missing_names_say_what_to_use(theano):
    import theano.tensor as T
    with pytest.raises(AttributeError, match=r"theano.sandbox.cuda: a Theano name theanine "
                       r"does not provide \(.*mode='JAX'"):
        _ = theano.sandbox.cuda
    with pytest.raises(AttributeError, match="offers cumsum as theanine.tensor.cumsum"):
        _ = T.nlinalg.cumsum
    with pytest.raises(AttributeError, match="docs/theano_compat.md"):
        _ = T.nnet.bn.not_a_name
