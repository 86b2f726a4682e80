"""Tensor rewrites; importing this package registers them in the pipeline's passes.

Within a pass, rules are offered a node in registration order, so the import order
below matters: the small identities of ``canonicalize`` go before the sum/product
canonical forms, and the shape rules last.
"""
# isort: skip_file

from theanine.tensor.rewriting import canonicalize  # noqa: F401
from theanine.tensor.rewriting import algebra  # noqa: F401
from theanine.tensor.rewriting import shape  # noqa: F401
from theanine.tensor.rewriting import stabilize  # noqa: F401
from theanine.tensor.rewriting import blas  # noqa: F401
from theanine.tensor.rewriting import specialize  # noqa: F401
from theanine.tensor.blas import Gemm, Gemv, Ger  # noqa: F401
from theanine.tensor.rewriting import fusion  # noqa: F401
from theanine.tensor.rewriting import inplace  # noqa: F401
