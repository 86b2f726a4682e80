"""Symbolic differentiation (``th.grad``) and gradient checking, inside the tensor
package: it builds tensor graphs, and ``theanine.tensor`` offers it as Theano's
``T.grad``, so living here keeps the import graph free of a tensor <-> gradient
cycle.  ``theanine.gradient`` is its public name.

``grad``/``Lop``/``Rop`` in ``core``, ``jacobian``/``hessian`` in ``jacobian``,
``verify_grad`` in ``verify``, gradient-shaping ops in ``ops``.  The gradient
markers (``grad_undefined``, ``disconnected_type``, ...) live in
``theanine.graph.null_type`` so ops can use them without importing this package.
"""

from theanine.graph.null_type import (
    DisconnectedType,
    NullType,
    disconnected_type,
    grad_not_implemented,
    grad_undefined,
    is_disconnected,
    is_null,
)
from theanine.tensor.gradient.core import (
    DisconnectedInputError,
    Lop,
    NullTypeGradError,
    Rop,
    grad,
)
from theanine.tensor.gradient.interp import evaluate
from theanine.tensor.gradient.jacobian import JacobianLoop, hessian, jacobian
from theanine.tensor.gradient.ops import (
    GradientOp,
    consider_constant,
    disconnected_grad,
    grad_clip,
    grad_scale,
    zero_grad,
)
from theanine.tensor.gradient.verify import GradientError, verify_grad

__all__ = [
    "DisconnectedInputError", "NullTypeGradError", "Lop", "Rop", "grad", "evaluate",
    "JacobianLoop", "hessian", "jacobian", "GradientOp", "consider_constant",
    "disconnected_grad", "grad_clip",
    "grad_scale", "zero_grad", "GradientError", "verify_grad", "DisconnectedType", "NullType",
    "disconnected_type", "grad_not_implemented", "grad_undefined", "is_disconnected", "is_null",
]
