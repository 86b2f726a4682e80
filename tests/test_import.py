"""``import theanine`` stays light: the heavy libraries load when first used."""

import subprocess
import sys

import numpy as np

import theanine as th
import theanine.tensor as tt

# modules each worth a tenth of a second or more of a script's start-up
HEAVY = ("scipy.special", "scipy.linalg", "numba", "jax")


def _loaded_after(code: str) -> set:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return set(out.stdout.split())


def test_import_loads_no_heavy_library():
    loaded = _loaded_after("import theanine, theanine.tensor")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_special_functions_import_scipy_when_used():
    x = tt.dvector("x")
    f = th.function([x], [tt.erf(x), tt.gammaln(x + 1), tt.slinalg.expm(tt.outer(x, x))])
    v = np.array([0.1, 0.5, 2.0])
    import scipy.linalg
    import scipy.special
    erf, gammaln, expm = f(v)
    np.testing.assert_allclose(erf, scipy.special.erf(v), rtol=1e-12)
    np.testing.assert_allclose(gammaln, scipy.special.gammaln(v + 1), rtol=1e-12)
    np.testing.assert_allclose(expm, scipy.linalg.expm(np.outer(v, v)), rtol=1e-10)


def test_compiling_and_choosing_a_kernel_engine_leave_numba_to_the_kernel_thread():
    # the first call of a function with a large input runs NumPy while a thread loads
    # the kernel: it must not import Numba itself (0.1-0.2 s on that call)
    loaded = _loaded_after(
        "import numpy as np, theanine as th, theanine.tensor as tt\n"
        "from theanine.link.python.dispatch_fused import engine_name\n"
        "from theanine.link.fused.numba_kernel import Kernel\n"
        "from theanine.link.fused.program import KernelProgram\n"
        "x = tt.dvector('x')\n"
        "th.function([x], [tt.exp(x).sum(), tt.tanh(x) * 2])\n"
        "assert engine_name() == 'numba'\n"
        "Kernel(KernelProgram((('i0', 'float64'),), (('t0', 'exp', ('i0',)),),\n"
        "                     (('t0', 'float64'),), ('t0',)), None, None, True)")
    assert "numba" not in loaded
