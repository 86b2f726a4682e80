"""The tutorial's IfElse vs Switch comparison (Theano's "Advanced Theano").

``switch`` evaluates both means; the lazy ``ifelse`` evaluates one, so it takes
about half the time.  (The tutorial's ``time.clock`` is ``time.perf_counter`` in
Python 3.)
"""

import time

import numpy

import theanine as theano
from theanine import tensor as tt
from theanine.ifelse import ifelse

a, b = tt.scalars("a", "b")
x, y = tt.matrices("x", "y")

z_switch = tt.switch(tt.lt(a, b), tt.mean(x), tt.mean(y))
z_lazy = ifelse(tt.lt(a, b), tt.mean(x), tt.mean(y))

f_switch = theano.function([a, b, x, y], z_switch, mode=theano.Mode(linker="vm"))
f_lazyifelse = theano.function([a, b, x, y], z_lazy, mode=theano.Mode(linker="vm"))

val1 = 0.0
val2 = 1.0
big_mat1 = numpy.ones((10000, 1000))
big_mat2 = numpy.ones((10000, 1000))

n_times = 10

tic = time.perf_counter()
for i in range(n_times):
    f_switch(val1, val2, big_mat1, big_mat2)
print("time spent evaluating both values %f sec" % (time.perf_counter() - tic))

tic = time.perf_counter()
for i in range(n_times):
    f_lazyifelse(val1, val2, big_mat1, big_mat2)
print("time spent evaluating one value %f sec" % (time.perf_counter() - tic))
