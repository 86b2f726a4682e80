"""The ``theano`` fixture: ``import theano`` served by theanine for one test, and the
module table restored afterwards."""

import sys

import pytest

from theanine.compat import install_theano_alias, theano_modules


@pytest.fixture
def theano():
    saved = {name: sys.modules.get(name) for name in theano_modules()}
    yield install_theano_alias()
    for name, module in saved.items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module
