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
