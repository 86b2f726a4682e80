"""``python -m theanine.compat script.py [args]``: run a Theano script on theanine."""

import runpy
import sys

from theanine.compat import install_theano_alias

if len(sys.argv) < 2:
    sys.exit("usage: python -m theanine.compat script.py [args...]")
install_theano_alias()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
