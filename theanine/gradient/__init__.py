"""``theanine.gradient``: the public name of symbolic differentiation (Theano's
``theano.gradient``); the implementation is ``theanine.tensor.gradient``."""

from theanine.tensor.gradient import *  # noqa: F401,F403
from theanine.tensor.gradient import __all__  # noqa: F401
