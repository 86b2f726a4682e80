"""The tutorial's polynomial: coefficients [1, 0, 2] at x = 3 give 19.0.

Then the exercise: the same polynomial with the sum done by scan itself, as an
accumulator output.
"""

import numpy

import theanine as theano
import theanine.tensor as T

coefficients = theano.tensor.vector("coefficients")
x = T.scalar("x")
max_coefficients_supported = 10000

# Generate the components of the polynomial
full_range = theano.tensor.arange(max_coefficients_supported)
components, updates = theano.scan(fn=lambda coeff, power, free_var: coeff * (free_var ** power),
                                  outputs_info=None,
                                  sequences=[coefficients, full_range],
                                  non_sequences=x)
polynomial = components.sum()
calculate_polynomial = theano.function(inputs=[coefficients, x], outputs=polynomial)

test_coeff = numpy.asarray([1, 0, 2], dtype=numpy.float32)
print(calculate_polynomial(test_coeff, 3))


# Exercise: accumulate the sum inside the loop.
def accumulate(coeff, power, total, free_var):
    return total + coeff * (free_var ** power)


totals, updates = theano.scan(fn=accumulate,
                              outputs_info=T.zeros_like(x, dtype=components.dtype),
                              sequences=[coefficients, full_range],
                              non_sequences=x)
calculate_polynomial_acc = theano.function(inputs=[coefficients, x], outputs=totals[-1])
print(calculate_polynomial_acc(test_coeff, 3))
