"""Signal processing on tensors: pooling (Theano's ``theano.tensor.signal``)."""

from theanine.tensor.signal import pool  # noqa: F401
from theanine.tensor.signal.pool import (  # noqa: F401
    AveragePoolGrad,
    DownsampleFactorMaxGradGrad,
    MaxPoolGrad,
    Pool,
    max_pool_2d_same_size,
    pool_2d,
    pool_3d,
)
