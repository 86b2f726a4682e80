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
from theanine.tensor.rewriting import fusion as _fusion  # noqa: F401  (registers the pass)
from theanine.tensor.rewriting import inplace as _inplace  # noqa: F401  (registers the pass)
from theanine.tensor.shape import Reshape, Shape, reshape, shape, shape_i, specify_shape  # noqa: F401
from theanine.tensor.subtensor import *  # noqa: F401,F403
from theanine.tensor.type import TensorType  # noqa: F401
from theanine.tensor.variable import (  # noqa: F401
    TensorConstant,
    TensorSharedVariable,
    TensorVariable,
)

as_tensor = as_tensor_variable
