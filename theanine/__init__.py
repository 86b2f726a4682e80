"""theanine: a symbolic tensor compiler for Python, in the tradition of Theano.

    import theanine as th
    import theanine.tensor as tt
    x = tt.dvector('x')
    f = th.function([x], tt.exp(x).sum())
"""

from theanine import compile, debug, gradient, graph, printing, scalar, sharding, tensor
from theanine.compile import Function, In, Mode, Out, ProfileMode, function, shared
from theanine.compile.function_module import evaluate as _evaluate
from theanine.compile.memory_plan import memory_plan
from theanine.config import change_flags, config
from theanine.gradient import grad
from theanine.graph.basic import Apply, Constant, Variable, set_evaluator
from theanine.graph.op import Op, as_op
from theanine.graph.rewriting.explain import explain_rewrite
from theanine.ifelse import ifelse
from theanine.printing import dprint, pp
from theanine.scan import foldl, foldr, map, reduce, scan

set_evaluator(_evaluate)

__version__ = "0.1.0"

__all__ = ["config", "change_flags", "graph", "scalar", "tensor", "Apply", "Constant",
           "Variable", "Op", "as_op", "Function", "In", "Mode", "Out", "function", "shared",
           "compile", "ifelse", "gradient", "grad", "debug", "printing", "pp", "dprint",
           "scan", "map", "reduce", "foldl", "foldr", "ProfileMode", "sharding",
           "explain_rewrite", "memory_plan"]
