"""Tensor rewrites; importing this package registers them in the pipeline's passes."""

from theanine.tensor.rewriting import (  # noqa: F401
    algebra,
    blas,
    canonicalize,
    shape,
    specialize,
    stabilize,
)
from theanine.tensor.rewriting.blas import Gemm, Gemv, Ger  # noqa: F401
