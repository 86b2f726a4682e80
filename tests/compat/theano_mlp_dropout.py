"""A classic Theano program (an MLP with MRG dropout, trained by SGD), unchanged:
run by tests/compat/test_theano_alias.py with `python -m theanine.compat`."""
import numpy
import theano
import theano.tensor as T
from theano.sandbox.rng_mrg import MRG_RandomStreams
from theano.tensor.nnet import categorical_crossentropy, softmax

floatX = theano.config.floatX
rng = numpy.random.RandomState(1234)
srng = MRG_RandomStreams(seed=42)
X = T.matrix("X")
y = T.ivector("y")
W1 = theano.shared(numpy.asarray(rng.uniform(-0.1, 0.1, (20, 16)), dtype=floatX), name="W1")
b1 = theano.shared(numpy.zeros(16, dtype=floatX), name="b1")
W2 = theano.shared(numpy.asarray(rng.uniform(-0.1, 0.1, (16, 3)), dtype=floatX), name="W2")
b2 = theano.shared(numpy.zeros(3, dtype=floatX), name="b2")
h = T.tanh(T.dot(X, W1) + b1)
mask = srng.binomial(n=1, p=0.8, size=h.shape, dtype=floatX)
p_y = softmax(T.dot(h * mask / 0.8, W2) + b2)
cost = categorical_crossentropy(p_y, y).mean()
params = [W1, b1, W2, b2]
grads = T.grad(cost, params)
train = theano.function([X, y], cost, updates=[(p, p - 0.5 * g) for p, g in zip(params, grads)])
Xd = rng.randn(60, 20).astype(floatX)
yd = (Xd[:, 0] > 0).astype("int32") + (Xd[:, 1] > 1)
costs = [float(train(Xd, yd)) for _ in range(200)]
print("first %.3f last %.3f" % (costs[0], costs[-1]))
assert costs[-1] < costs[0]
