"""tensor.random: draws equal NumPy's, generators advance by default updates only."""

import numpy as np
import pytest
from op_checker import check_infer_shape, declared_unsupported, linker_names

import theanine as th
import theanine.tensor as tt
from theanine.gradient import DisconnectedInputError
from theanine.tensor.random import RandomGeneratorType, RandomStream, RandomStreams


def numpy_rngs(seed, n):
    """The generators a RandomStream(seed) gives its first ``n`` draws."""
    return [np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(n)]


DRAWS = [
    ("normal", lambda s: s.normal(1.0, 2.0, size=(3, 2)),
     lambda g: g.normal(1.0, 2.0, size=(3, 2))),
    ("normal-broadcast", lambda s: s.normal(np.arange(3.0), 0.5),
     lambda g: g.normal(np.arange(3.0), 0.5)),
    ("uniform", lambda s: s.uniform(-1, 3, size=(4,)), lambda g: g.uniform(-1, 3, size=4)),
    ("binomial", lambda s: s.binomial(10, 0.3, size=(5,)),
     lambda g: g.binomial(10, 0.3, size=5)),
    ("integers", lambda s: s.integers(2, 9, size=(2, 3)),
     lambda g: g.integers(2, 9, size=(2, 3))),
    ("choice", lambda s: s.choice(7, size=(4,)), lambda g: g.choice(7, size=4)),
    ("choice-p", lambda s: s.choice(np.array([5, 6, 7]), size=(6,), p=np.array([.2, .3, .5])),
     lambda g: g.choice(np.array([5, 6, 7]), size=6, p=[.2, .3, .5])),
    ("choice-noreplace", lambda s: s.choice(10, size=(5,), replace=False),
     lambda g: g.choice(10, size=5, replace=False)),
    ("choice-scalar", lambda s: s.choice(np.array([1.5, 2.5])),
     lambda g: g.choice(np.array([1.5, 2.5]))),
    ("permutation", lambda s: s.permutation(6), lambda g: g.permutation(6)),
    ("permutation-vector", lambda s: s.permutation(np.array([3.0, 1.0, 2.0, 5.0])),
     lambda g: g.permutation(np.array([3.0, 1.0, 2.0, 5.0]))),
]


@pytest.mark.parametrize("linker", linker_names())
@pytest.mark.parametrize("name,draw,ref", DRAWS, ids=[d[0] for d in DRAWS])
def test_draws_match_numpy(name, draw, ref, linker):
    stream = RandomStream(123)
    sample = draw(stream)
    mode = th.Mode(linker=linker)
    try:
        fn = th.function([], sample, mode=mode)
    except NotImplementedError as exc:        # a backend without random draws yet says so
        assert declared_unsupported(mode, exc), exc
        return
    if not mode.linker.same_random_numbers:   # its own generators: same shapes and dtypes,
        (g,) = numpy_rngs(123, 1)             # draws that move on, reproducible by seed
        got, want = fn(), np.asarray(ref(g))
        assert got.shape == want.shape and str(got.dtype) == sample.dtype
        again = th.function([], draw(RandomStream(123)), mode=mode)()
        np.testing.assert_array_equal(again, got)
        return
    (g,) = numpy_rngs(123, 1)
    for _ in range(3):  # each call continues the same generator
        got, want = fn(), np.asarray(ref(g))
        assert got.shape == want.shape
        assert str(got.dtype) == sample.dtype
        np.testing.assert_array_equal(got, want.astype(sample.dtype))
        for st, real in zip(sample.type.shape, got.shape):
            assert st is None or st == real


def test_same_seed_same_draws_and_reseed():
    a, b = RandomStream(7), RandomStream(7)
    fa = th.function([], [a.normal(size=(3,)), a.uniform(size=(2,))])
    fb = th.function([], [b.normal(size=(3,)), b.uniform(size=(2,))])
    ra, rb = fa(), fb()
    for x, y in zip(ra, rb):
        np.testing.assert_array_equal(x, y)
    again = fa()
    assert not np.array_equal(ra[0], again[0]), "a second call must give new draws"
    a.seed(7)
    for x, y in zip(fa(), ra):
        np.testing.assert_array_equal(x, y)
    a.seed(99)
    fresh = RandomStream(99)
    ff = th.function([], [fresh.normal(size=(3,)), fresh.uniform(size=(2,))])
    for x, y in zip(fa(), ff()):
        np.testing.assert_array_equal(x, y)


def test_different_seeds_differ_and_alias():
    assert RandomStreams is RandomStream
    x = th.function([], RandomStream(1).normal(size=(4,)))()
    y = th.function([], RandomStream(2).normal(size=(4,)))()
    assert not np.array_equal(x, y)


def test_input_generator_is_not_modified():
    stream = RandomStream(3)
    sample = stream.normal(size=(2,))
    rng_var = sample.tag.rng
    before = rng_var.get_value(borrow=True)
    state = before.bit_generator.state
    fn = th.function([], sample)
    fn()
    assert before.bit_generator.state == state
    after = rng_var.get_value(borrow=True)
    assert after is not before and after.bit_generator.state != state


def test_no_default_updates_repeats_draws():
    stream = RandomStream(5)
    sample = stream.uniform(size=(3,))
    fn = th.function([], sample, no_default_updates=True)
    np.testing.assert_array_equal(fn(), fn())
    with_upd = th.function([], sample, updates=stream.updates)
    first = with_upd()
    assert not np.array_equal(first, with_upd())


def test_symbolic_size_and_static_shapes():
    stream = RandomStream(11)
    n = tt.lscalar("n")
    sample = stream.normal(size=(n, 2))
    assert sample.type.shape == (None, 2)
    fn = th.function([n], sample)
    assert fn(3).shape == (3, 2)
    assert fn(0).shape == (0, 2)
    check_infer_shape([n], [sample], [np.int64(4)], "normal symbolic size")
    with pytest.raises(ValueError, match="known"):
        stream.integers(0, 5, size=tt.lvector())
    vec = tt.tensor("int64", shape=(1,), name="shape")
    s2 = stream.integers(0, 5, size=vec)
    assert s2.type.shape == (None,)
    assert th.function([vec], s2)(np.array([2])).shape == (2,)
    s3 = stream.normal(tt.dvector("loc"), 1.0)
    assert s3.type.shape == (None,)
    loc = np.zeros(5)
    check_infer_shape([s3.owner.inputs[1]], [s3], [loc], "normal broadcast params")
    s4 = stream.permutation(n)
    check_infer_shape([n], [s4], [np.int64(6)], "permutation")
    s5 = stream.choice(5, size=(n,))
    check_infer_shape([n], [s5], [np.int64(3)], "choice")


def test_dtypes():
    stream = RandomStream(0)
    assert stream.normal(size=(2,)).dtype == th.config.floatX
    assert stream.normal(size=(2,), dtype="float32").dtype == "float32"
    assert stream.normal(np.float32(0), np.float32(1), size=(2,)).dtype == "float32"
    assert stream.binomial(3, 0.5).dtype == "int64"
    assert stream.integers(4, size=(2,), dtype="int32").dtype == "int32"
    out = th.function([], stream.normal(size=(2,), dtype="float32"))()
    assert out.dtype == np.float32


def test_errors():
    stream = RandomStream(0)
    with pytest.raises(ValueError, match="size"):
        stream.normal(np.zeros(3), 1.0, size=(2, 4))
    with pytest.raises(ValueError, match="non-negative"):
        stream.normal(size=(-1,))
    with pytest.raises(TypeError, match="float dtype"):
        stream.normal(size=(2,), dtype="int64")
    with pytest.raises(TypeError, match="Generator"):
        RandomGeneratorType().filter(np.random.RandomState(0))
    with pytest.raises(ValueError, match="p has"):
        stream.choice(np.arange(3), p=np.array([0.5, 0.5]))


def test_no_gradient():
    stream = RandomStream(0)
    loc = tt.dscalar("loc")
    sample = stream.normal(loc, 1.0, size=(3,))
    node = sample.owner
    assert all(not any(row) for row in node.op.connection_pattern(node))
    with pytest.raises(TypeError, match="no gradient"):
        node.op.L_op(node.inputs, node.outputs, [None, sample.type()])
    with pytest.raises(DisconnectedInputError, match="loc"):
        th.grad(sample.sum(), loc)


def test_shared_constructor_and_generic_use():
    rng = th.shared(np.random.default_rng(0))
    assert isinstance(rng.type, RandomGeneratorType)
    node = tt.random.RandomVariable("normal", "float64", True, 2).make_node(
        rng, (2,), 0.0, 1.0)
    new_rng, sample = node.outputs
    fn = th.function([], sample, updates=[(rng, new_rng)])
    want = np.random.default_rng(0)
    np.testing.assert_array_equal(fn(), want.normal(0.0, 1.0, size=2))
    np.testing.assert_array_equal(fn(), want.normal(0.0, 1.0, size=2))
