"""Layer 2: symbolic differentiation (``th.grad``) and gradient checking.

``grad``/``Lop``/``Rop`` in ``core``, ``jacobian``/``hessian`` in ``jacobian``,
``verify_grad`` in ``verify``, gradient-shaping ops in ``ops``.  The gradient
markers (``grad_undefined``, ``disconnected_type``, ...) live in
``theanine.graph.null_type`` so ops can use them without importing this package.
"""

from theanine.gradient.core import (
    DisconnectedInputError,
    Lop,
    NullTypeGradError,
    Rop,
    grad,
)
from theanine.gradient.interp import evaluate
from theanine.gradient.jacobian import JacobianLoop, hessian, jacobian
from theanine.gradient.ops import (
    GradientOp,
    disconnected_grad,
    grad_clip,
    grad_scale,
    zero_grad,
)
from theanine.gradient.verify import GradientError, verify_grad
from theanine.graph.null_type import (
    DisconnectedType,
    NullType,
    disconnected_type,
    grad_not_implemented,
    grad_undefined,
    is_disconnected,
    is_null,
)

__all__ = [
    "DisconnectedInputError", "NullTypeGradError", "Lop", "Rop", "grad", "evaluate",
    "JacobianLoop", "hessian", "jacobian", "GradientOp", "disconnected_grad", "grad_clip",
    "grad_scale", "zero_grad", "GradientError", "verify_grad", "DisconnectedType", "NullType",
    "disconnected_type", "grad_not_implemented", "grad_undefined", "is_disconnected", "is_null",
]
