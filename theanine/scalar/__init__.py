"""Layer 2: scalar types and the per-element ops that Elemwise broadcasts."""

from theanine.scalar import grads as _grads  # noqa: F401,E402  (registers scalar gradients)
from theanine.scalar.base import upcast  # noqa: F401,E402  (Theano's scalar.upcast)
from theanine.scalar.basic import *  # noqa: F401,F403
from theanine.scalar.basic import Cast, ScalarOp, ScalarType, as_scalar, cast_op, get_scalar_type  # noqa: F401
