"""Flags: typed values, clear errors, change_flags as context manager and decorator."""

import os
import subprocess
import sys

import pytest

import theanine as th
import theanine.tensor as tt
from theanine.config import ConfigError


def test_change_flags_context_and_decorator():
    assert th.config.floatX == "float64"
    with th.config.change_flags(floatX="float32"):
        assert tt.vector().dtype == "float32"
    assert tt.vector().dtype == "float64"

    @th.change_flags(floatX="float32")
    def build():
        return tt.matrix()

    assert build().dtype == "float32"


def test_unknown_flag_and_bad_value_are_named():
    with pytest.raises(ConfigError, match="unknown flag 'floatx'"):
        th.config.floatx = "float32"
    with pytest.raises(ConfigError, match="floatX.*allowed values"):
        th.config.floatX = "int8"
    with pytest.raises(ConfigError, match="profile"):
        th.config.profile = "maybe"


def test_flags_from_environment_and_rc_file(tmp_path):
    rc = tmp_path / "rc"
    rc.write_text("[global]\nfloatX = float32\n[profiling]\nn_apply = 7\n")
    env = dict(os.environ, THEANINERC=str(rc), THEANINE_FLAGS="exception_verbosity=high")
    code = ("import theanine as th; c = th.config; "
            "print(c.floatX, c.profiling__n_apply, c.exception_verbosity)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["float32", "7", "high"]
    env["THEANINE_FLAGS"] = "floatX=float99"
    res = subprocess.run([sys.executable, "-c", "import theanine"], env=env,
                         capture_output=True, text=True)
    assert res.returncode != 0 and "floatX" in res.stderr and "THEANINE_FLAGS" in res.stderr


def test_registered_backends_and_modes_are_flag_values(tmp_path):
    """``config.linker``/``config.mode`` accept what ``register_linker``/``register_mode``
    add, also from THEANINE_FLAGS read before the registration; a name that never
    registers is an error when the flag is read."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    code = ("import sys; sys.path.insert(0, %r); import theanine as th; import toy_backend; "
            "print(th.config.linker)") % tests_dir
    env = dict(os.environ, THEANINE_FLAGS="linker=toy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["toy"]
    env["THEANINE_FLAGS"] = "linker=nonesuch"
    res = subprocess.run([sys.executable, "-c", "import theanine as th; th.config.linker"],
                         env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "nonesuch" in res.stderr and "linker" in res.stderr
    x = tt.dvector("x")
    with th.config.change_flags(linker="toy"):    # registered in conftest; as in Theano,
        f = th.function([x], x * 2.0, mode=th.Mode())   # it is Mode()'s default linker
    assert type(f.maker.linker).__name__ == "ToyLinker"
    with pytest.raises(ConfigError, match="allowed values"):
        th.config.linker = "nonesuch"
