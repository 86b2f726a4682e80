"""Models written as in Theano's classic deep-learning tutorials, run with ``theano``
aliased to theanine on small synthetic data: logistic regression, a denoising
autoencoder, an RBM trained with CD-1 (Gibbs chain in scan, RandomStreams),
Hamiltonian Monte Carlo (leapfrog steps in scan, shared-state updates) and an LSTM
(scan).  Each must train: its cost decreases (HMC: the samples' mean and covariance
approach the target Gaussian's)."""

from collections import OrderedDict

import numpy


def binary_patterns(rng, n, n_visible, n_prototypes=4, flip=0.05):
    """Noisy copies of a few binary prototypes (structure an autoencoder can learn)."""
    protos = rng.binomial(1, 0.5, size=(n_prototypes, n_visible))
    data = protos[rng.randint(0, n_prototypes, size=n)]
    noise = rng.binomial(1, flip, size=data.shape)
    return numpy.abs(data - noise)


def test_logistic_regression_sgd_with_givens(theano):
    import theano.tensor as T
    floatX = theano.config.floatX
    rng = numpy.random.RandomState(0)
    data_x = rng.randn(200, 10).astype(floatX)
    data_y = (data_x[:, :3].sum(axis=1) > 0).astype("int32")
    train_set_x = theano.shared(data_x, borrow=True)
    train_set_y = T.cast(theano.shared(data_y.astype(floatX), borrow=True), "int32")
    index = T.lscalar()
    x, y = T.matrix("x"), T.ivector("y")
    W = theano.shared(numpy.zeros((10, 2), dtype=floatX), name="W", borrow=True)
    b = theano.shared(numpy.zeros((2,), dtype=floatX), name="b", borrow=True)
    p_y_given_x = T.nnet.softmax(T.dot(x, W) + b)
    y_pred = T.argmax(p_y_given_x, axis=1)
    cost = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    errors = T.mean(T.neq(y_pred, y))
    g_W, g_b = T.grad(cost=cost, wrt=W), T.grad(cost=cost, wrt=b)
    batch = 20
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=[(W, W - 0.1 * g_W), (b, b - 0.1 * g_b)],
        givens={x: train_set_x[index * batch: (index + 1) * batch],
                y: train_set_y[index * batch: (index + 1) * batch]})
    test_model = theano.function([], errors, givens={x: train_set_x, y: train_set_y})
    before = float(test_model())
    costs = [numpy.mean([train_model(i) for i in range(10)]) for _ in range(15)]
    assert costs[-1] < costs[0] * 0.6
    assert float(test_model()) < min(before, 0.15)


def test_denoising_autoencoder(theano):
    import theano.tensor as T
    from theano.tensor.shared_randomstreams import RandomStreams
    floatX = theano.config.floatX
    numpy_rng = numpy.random.RandomState(123)
    theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
    n_visible, n_hidden = 24, 12
    train_set_x = theano.shared(
        binary_patterns(numpy_rng, 120, n_visible).astype(floatX), borrow=True)
    initial_W = numpy.asarray(numpy_rng.uniform(
        low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
        high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
        size=(n_visible, n_hidden)), dtype=floatX)
    W = theano.shared(value=initial_W, name="W", borrow=True)
    b_prime = theano.shared(numpy.zeros(n_visible, dtype=floatX), borrow=True)
    b = theano.shared(numpy.zeros(n_hidden, dtype=floatX), name="b", borrow=True)
    W_prime = W.T
    params = [W, b, b_prime]
    x = T.matrix("x")

    def get_corrupted_input(input, corruption_level):
        return theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                   dtype=floatX) * input

    tilde_x = get_corrupted_input(x, 0.3)
    y = T.nnet.sigmoid(T.dot(tilde_x, W) + b)
    z = T.nnet.sigmoid(T.dot(y, W_prime) + b_prime)
    L = -T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1)
    cost = T.mean(L)
    gparams = T.grad(cost, params)
    updates = [(param, param - 0.1 * gparam) for param, gparam in zip(params, gparams)]
    index = T.lscalar()
    batch_size = 20
    train_da = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size]})
    epochs = [numpy.mean([train_da(i) for i in range(6)]) for _ in range(30)]
    assert epochs[-1] < 0.7 * epochs[0], epochs[::5]


class RBM:
    """The tutorial's RBM: free energy, CD-k with a Gibbs chain in scan."""

    def __init__(self, theano, input, n_visible, n_hidden, numpy_rng, theano_rng):
        floatX = theano.config.floatX
        T = theano.tensor
        self.theano, self.T = theano, T
        self.input, self.theano_rng = input, theano_rng
        initial_W = numpy.asarray(numpy_rng.uniform(
            low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
            high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
            size=(n_visible, n_hidden)), dtype=floatX)
        self.W = theano.shared(value=initial_W, name="W", borrow=True)
        self.hbias = theano.shared(numpy.zeros(n_hidden, dtype=floatX), name="hbias")
        self.vbias = theano.shared(numpy.zeros(n_visible, dtype=floatX), name="vbias")
        self.params = [self.W, self.hbias, self.vbias]
        self.floatX = floatX

    def free_energy(self, v_sample):
        T = self.T
        wx_b = T.dot(v_sample, self.W) + self.hbias
        vbias_term = T.dot(v_sample, self.vbias)
        hidden_term = T.sum(T.log(1 + T.exp(wx_b)), axis=1)
        return -hidden_term - vbias_term

    def propup(self, vis):
        pre_sigmoid_activation = self.T.dot(vis, self.W) + self.hbias
        return [pre_sigmoid_activation, self.T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_h_given_v(self, v0_sample):
        pre_sigmoid_h1, h1_mean = self.propup(v0_sample)
        h1_sample = self.theano_rng.binomial(size=h1_mean.shape, n=1, p=h1_mean,
                                             dtype=self.floatX)
        return [pre_sigmoid_h1, h1_mean, h1_sample]

    def propdown(self, hid):
        pre_sigmoid_activation = self.T.dot(hid, self.W.T) + self.vbias
        return [pre_sigmoid_activation, self.T.nnet.sigmoid(pre_sigmoid_activation)]

    def sample_v_given_h(self, h0_sample):
        pre_sigmoid_v1, v1_mean = self.propdown(h0_sample)
        v1_sample = self.theano_rng.binomial(size=v1_mean.shape, n=1, p=v1_mean,
                                             dtype=self.floatX)
        return [pre_sigmoid_v1, v1_mean, v1_sample]

    def gibbs_hvh(self, h0_sample):
        pre_sigmoid_v1, v1_mean, v1_sample = self.sample_v_given_h(h0_sample)
        pre_sigmoid_h1, h1_mean, h1_sample = self.sample_h_given_v(v1_sample)
        return [pre_sigmoid_v1, v1_mean, v1_sample, pre_sigmoid_h1, h1_mean, h1_sample]

    def get_cost_updates(self, lr=0.1, k=1):
        theano, T = self.theano, self.T
        pre_sigmoid_ph, ph_mean, ph_sample = self.sample_h_given_v(self.input)
        chain_start = ph_sample
        ([pre_sigmoid_nvs, nv_means, nv_samples, pre_sigmoid_nhs, nh_means, nh_samples],
         updates) = theano.scan(self.gibbs_hvh,
                                outputs_info=[None, None, None, None, None, chain_start],
                                n_steps=k, name="gibbs_hvh")
        chain_end = nv_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        gparams = T.grad(cost, self.params, consider_constant=[chain_end])
        for gparam, param in zip(gparams, self.params):
            updates[param] = param - gparam * T.cast(lr, dtype=self.floatX)
        monitoring_cost = self.get_reconstruction_cost(pre_sigmoid_nvs[-1])
        return monitoring_cost, updates

    def get_reconstruction_cost(self, pre_sigmoid_nv):
        T = self.T
        return T.mean(T.sum(self.input * T.log(T.nnet.sigmoid(pre_sigmoid_nv)) +
                            (1 - self.input) * T.log(1 - T.nnet.sigmoid(pre_sigmoid_nv)),
                            axis=1))


def test_rbm_cd1(theano):
    import theano.tensor as T
    from theano.tensor.shared_randomstreams import RandomStreams
    floatX = theano.config.floatX
    rng = numpy.random.RandomState(123)
    theano_rng = RandomStreams(rng.randint(2 ** 30))
    train_set_x = theano.shared(binary_patterns(rng, 100, 20).astype(floatX), borrow=True)
    index = T.lscalar()
    x = T.matrix("x")
    rbm = RBM(theano, x, 20, 15, rng, theano_rng)
    cost, updates = rbm.get_cost_updates(lr=0.1, k=1)
    assert isinstance(updates, (dict, OrderedDict))
    batch_size = 10
    train_rbm = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size]},
        name="train_rbm")
    epochs = [-numpy.mean([train_rbm(i) for i in range(10)]) for _ in range(25)]
    # the reconstruction cross-entropy (monitoring cost) falls as CD-1 trains
    assert epochs[-1] < 0.75 * epochs[0], epochs[::5]


def test_hamiltonian_monte_carlo(theano):
    import theano.tensor as T
    from theano.tensor.shared_randomstreams import RandomStreams

    def kinetic_energy(vel):
        return 0.5 * (vel ** 2).sum(axis=1)

    def hamiltonian(pos, vel, energy_fn):
        return energy_fn(pos) + kinetic_energy(vel)

    def metropolis_hastings_accept(energy_prev, energy_next, s_rng):
        ediff = energy_prev - energy_next
        return (T.exp(ediff) - s_rng.uniform(size=energy_prev.shape)) >= 0

    def simulate_dynamics(initial_pos, initial_vel, stepsize, n_steps, energy_fn):
        def leapfrog(pos, vel, step):
            dE_dpos = T.grad(energy_fn(pos).sum(), pos)
            new_vel = vel - step * dE_dpos
            new_pos = pos + step * new_vel
            return [new_pos, new_vel], {}

        initial_energy = energy_fn(initial_pos)
        dE_dpos = T.grad(initial_energy.sum(), initial_pos)
        vel_half_step = initial_vel - 0.5 * stepsize * dE_dpos
        pos_full_step = initial_pos + stepsize * vel_half_step
        (all_pos, all_vel), scan_updates = theano.scan(
            leapfrog, outputs_info=[dict(initial=pos_full_step), dict(initial=vel_half_step)],
            non_sequences=[stepsize], n_steps=n_steps - 1)
        final_pos, final_vel = all_pos[-1], all_vel[-1]
        assert not scan_updates
        energy = energy_fn(final_pos)
        final_vel = final_vel - 0.5 * stepsize * T.grad(energy.sum(), final_pos)
        return final_pos, final_vel

    def hmc_move(s_rng, positions, energy_fn, stepsize, n_steps):
        initial_vel = s_rng.normal(size=positions.shape)
        final_pos, final_vel = simulate_dynamics(positions, initial_vel, stepsize, n_steps,
                                                 energy_fn)
        accept = metropolis_hastings_accept(
            energy_prev=hamiltonian(positions, initial_vel, energy_fn),
            energy_next=hamiltonian(final_pos, final_vel, energy_fn), s_rng=s_rng)
        return accept, final_pos

    def hmc_updates(positions, stepsize, avg_acceptance_rate, final_pos, accept,
                    target_acceptance_rate, stepsize_inc, stepsize_dec, stepsize_min,
                    stepsize_max, avg_acceptance_slowness):
        accept_matrix = accept.dimshuffle(0, *(("x",) * (final_pos.ndim - 1)))
        new_positions = T.switch(accept_matrix, final_pos, positions)
        _new_stepsize = T.switch(avg_acceptance_rate > target_acceptance_rate,
                                 stepsize * stepsize_inc, stepsize * stepsize_dec)
        new_stepsize = T.clip(_new_stepsize, stepsize_min, stepsize_max)
        mean_dtype = theano.scalar.upcast(accept.dtype, avg_acceptance_rate.dtype)
        new_acceptance_rate = T.add(
            avg_acceptance_slowness * avg_acceptance_rate,
            (1.0 - avg_acceptance_slowness) * accept.mean(dtype=mean_dtype))
        return [(positions, new_positions), (stepsize, new_stepsize),
                (avg_acceptance_rate, new_acceptance_rate)]

    floatX = theano.config.floatX
    rng = numpy.random.RandomState(123)
    dim, batchsize = 3, 40
    mu = numpy.array(rng.rand(dim) * 10, dtype=floatX)
    cov = numpy.array(rng.rand(dim, dim), dtype=floatX)
    cov = (cov + cov.T) / 2.
    cov[numpy.arange(dim), numpy.arange(dim)] = 1.0
    cov_inv = numpy.linalg.inv(cov)

    def gaussian_energy(x):
        return 0.5 * (T.dot((x - mu), cov_inv) * (x - mu)).sum(axis=1)

    position = theano.shared(rng.randn(batchsize, dim).astype(floatX))
    stepsize = theano.shared(numpy.asarray(0.25, dtype=floatX))
    avg_acceptance_rate = theano.shared(numpy.asarray(0.9, dtype=floatX))
    s_rng = RandomStreams(seed=4)
    accept, final_pos = hmc_move(s_rng, position, gaussian_energy, stepsize, n_steps=20)
    simulate = theano.function(
        [], [], updates=hmc_updates(
            position, stepsize, avg_acceptance_rate, final_pos=final_pos, accept=accept,
            target_acceptance_rate=0.9, stepsize_inc=1.02, stepsize_dec=0.98,
            stepsize_min=0.001, stepsize_max=0.25, avg_acceptance_slowness=0.9))
    for _ in range(100):                       # burn-in
        simulate()
    samples = []
    for _ in range(150):
        simulate()
        samples.append(position.get_value())
    samples = numpy.concatenate(samples)
    assert numpy.abs(samples.mean(axis=0) - mu).max() < 0.25
    assert numpy.abs(numpy.cov(samples.T) - cov).max() < 0.25
    assert 0.5 < float(avg_acceptance_rate.get_value()) <= 1.0


def test_lstm_sequence_classifier(theano):
    import theano.tensor as T
    floatX = theano.config.floatX
    rng = numpy.random.RandomState(0)
    n_in, dim, n_steps, n_samples = 3, 8, 10, 64

    def ortho_weight(ndim):
        u, _, _ = numpy.linalg.svd(rng.randn(ndim, ndim))
        return u.astype(floatX)

    params = OrderedDict()
    params["lstm_W"] = theano.shared(numpy.concatenate(
        [0.3 * rng.randn(n_in, dim).astype(floatX) for _ in range(4)], axis=1), "lstm_W")
    params["lstm_U"] = theano.shared(numpy.concatenate(
        [ortho_weight(dim) for _ in range(4)], axis=1), "lstm_U")
    params["lstm_b"] = theano.shared(numpy.zeros((4 * dim,), dtype=floatX), "lstm_b")
    params["U"] = theano.shared(0.1 * rng.randn(dim, 2).astype(floatX), "U")
    params["b"] = theano.shared(numpy.zeros((2,), dtype=floatX), "b")

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim:(n + 1) * dim]
        return _x[:, n * dim:(n + 1) * dim]

    x = T.tensor3("x", dtype=floatX)         # (time, samples, features)
    mask = T.matrix("mask", dtype=floatX)
    y = T.vector("y", dtype="int64")

    def _step(m_, x_, h_, c_):
        preact = T.dot(h_, params["lstm_U"]) + x_
        i = T.nnet.sigmoid(_slice(preact, 0, dim))
        f = T.nnet.sigmoid(_slice(preact, 1, dim))
        o = T.nnet.sigmoid(_slice(preact, 2, dim))
        c = T.tanh(_slice(preact, 3, dim))
        c = f * c_ + i * c
        c = m_[:, None] * c + (1. - m_)[:, None] * c_
        h = o * T.tanh(c)
        h = m_[:, None] * h + (1. - m_)[:, None] * h_
        return h, c

    state_below = T.dot(x, params["lstm_W"]) + params["lstm_b"]
    nsteps, n_batch = x.shape[0], x.shape[1]
    rval, updates = theano.scan(
        _step, sequences=[mask, state_below],
        outputs_info=[T.alloc(numpy.asarray(0., dtype=floatX), n_batch, dim),
                      T.alloc(numpy.asarray(0., dtype=floatX), n_batch, dim)],
        name="lstm_layers", n_steps=nsteps)
    proj = (rval[0] * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None]
    pred = T.nnet.softmax(T.dot(proj, params["U"]) + params["b"])
    cost = -T.log(pred[T.arange(n_batch), y] + 1e-8).mean()
    grads = T.grad(cost, wrt=list(params.values()))
    lr = T.scalar(name="lr", dtype=floatX)
    f_train = theano.function([x, mask, y, lr], cost, updates=[
        (p, p - lr * g) for p, g in zip(params.values(), grads)], name="sgd")

    # the class is whether the first feature's values sum to more than zero, over
    # sequences of random lengths (masked)
    data = rng.randn(n_steps, n_samples, n_in).astype(floatX)
    lengths = rng.randint(3, n_steps + 1, size=n_samples)
    mask_val = (numpy.arange(n_steps)[:, None] < lengths[None, :]).astype(floatX)
    labels = ((data[:, :, 0] * mask_val).sum(axis=0) > 0).astype("int64")
    costs = [float(f_train(data, mask_val, labels, 0.5)) for _ in range(80)]
    assert costs[-1] < 0.6 * costs[0], costs[::10]
