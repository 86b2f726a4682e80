"""Layer 2: tensors — ``import theanine.tensor as tt``."""

from theanine.tensor import variable as _variable  # noqa: F401  (installs TensorVariable)
from theanine.tensor.alloc import Alloc, sum_to_shape  # noqa: F401
from theanine.tensor.basic import (  # noqa: F401
    MakeVector,
    NotScalarConstantError,
    as_tensor_variable,
    cast,
    constant,
    get_scalar_constant_value,
)
from theanine.tensor.construct import *  # noqa: F401,F403
from theanine.tensor.constructors import *  # noqa: F401,F403
from theanine.tensor.constructors import tensor  # noqa: F401
from theanine.tensor.elemwise import CAReduce, DimShuffle, Elemwise, dimshuffle  # noqa: F401
from theanine.tensor.join import *  # noqa: F401,F403
from theanine.tensor.math import *  # noqa: F401,F403
from theanine.tensor.nonzero import *  # noqa: F401,F403
from theanine.tensor.reshaping import *  # noqa: F401,F403
from theanine.tensor.shape import Reshape, Shape, reshape, shape, shape_i, specify_shape  # noqa: F401
from theanine.tensor.subtensor import *  # noqa: F401,F403
from theanine.tensor.type import TensorType  # noqa: F401
from theanine.tensor.variable import (  # noqa: F401
    TensorConstant,
    TensorSharedVariable,
    TensorVariable,
)

as_tensor = as_tensor_variable
# Theano's spelling ``T.grad``: the gradient subpackage needs only the tensor modules
# loaded above.
from theanine.tensor import extra_ops, linalg, nnet, random  # noqa: F401,E402
from theanine.tensor import rewriting as _rewriting  # noqa: F401,E402  (registers rewrites)
from theanine.tensor.extra_ops import (  # noqa: F401,E402
    addbroadcast,
    bincount,
    diff,
    fill_diagonal,
    fill_diagonal_offset,
    patternbroadcast,
    ravel_multi_index,
    unbroadcast,
    unravel_index,
)
from theanine.tensor.gradient import (  # noqa: F401,E402
    Lop,
    Rop,
    grad,
    hessian,
    jacobian,
    verify_grad,
)
from theanine.tensor.linalg import (  # noqa: F401,E402
    batched_dot,
    cumprod,
    cumsum,
    matmul,
    outer,
    swapaxes,
    tensordot,
)
from theanine.tensor.nnet import (  # noqa: F401,E402
    binary_crossentropy,
    categorical_crossentropy,
    log_softmax,
    logsumexp,
    softmax,
    to_one_hot,
)
from theanine.tensor.sorting import argsort, sort, take_along_axis  # noqa: F401,E402

# isort: split
# Theano's ``T.nlinalg`` / ``T.slinalg`` submodules and its diagonal helpers
from theanine.tensor import nlinalg, slinalg  # noqa: F401,E402
from theanine.tensor.diagonal import diag, diagonal, extract_diag, trace, tril, triu  # noqa: F401,E402
