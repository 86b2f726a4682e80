"""Products on BLAS: ``dot``, ``Gemm``/``Gemv``/``Ger``, ``matmul`` (batched,
broadcasting, 1-d promotion) and ``tensordot``.

Matrix products go through ``blas_kernels`` (``gemm``/``gemv`` with their scale
factors, operands read in any layout BLAS can describe): a ``Gemm`` is one BLAS
call on a copy of its accumulator, not a product and a second pass.
``matmul`` loops over the broadcast batch axes and writes each product into its
slot of the output; ``tensordot`` permutes the summed axes of each operand next
to each other (views built from shape and strides, see ``compile.transposed``),
flattens them and takes one product.  Integer products stay call-outs (BLAS is
float-only).  A shape mismatch raises inside the compiled code, and the linker
re-raises it with the default engine's message.
"""

from __future__ import annotations

from theanine.link.numba.compile import (
    NumbaUnsupported,
    cast,
    float_output,
    njit_lines,
    njit_source,
    npname,
    transposed,
)
from theanine.tensor.blas import Gemm, Gemv, Ger
from theanine.tensor.linalg import MatMul, TensorDot
from theanine.tensor.math import Dot


def _operand(name: str, src: str, dtype: str, out_dtype: str, contiguous: bool = False) -> str:
    """``name = src`` in ``out_dtype``; copied C-contiguous only when ``contiguous`` (a
    vector to reshape): the products read any other layout BLAS can describe."""
    value = f"_ascontiguous({src})" if contiguous else src
    return f"    {name} = {_as_dtype(value, dtype, out_dtype)}"


def _as_dtype(expr: str, dtype: str, out_dtype: str) -> str:
    return f"{expr}.astype({npname(out_dtype)})" if dtype != out_dtype else expr


def _mismatch(what: str) -> str:
    return f"        raise ValueError('{what}: shapes do not match')"


def matmul_source(a_ndim: int, b_ndim: int, a_dtype: str, b_dtype: str, dtype: str) -> str:
    """``mm(a, b)``: ``np.matmul(a, b)`` in ``dtype``."""
    lines = ["def mm(a, b):", _operand("A", "a", a_dtype, dtype, a_ndim == 1),
             _operand("B", "b", b_dtype, dtype, b_ndim == 1)]
    if a_ndim == 1 and b_ndim == 1:
        return "\n".join(lines + ["    if A.shape[0] != B.shape[0]:", _mismatch("matmul"),
                                  f"    return {npname(dtype)}(np.dot(A, B))"]) + "\n"
    if a_ndim == 1:
        lines.append("    A = A.reshape((1, A.shape[0]))")
    if b_ndim == 1:
        lines.append("    B = B.reshape((B.shape[0], 1))")
    na, nb = max(a_ndim, 2), max(b_ndim, 2)
    nbatch = max(na, nb) - 2
    lines += ["    n, k, m = A.shape[-2], A.shape[-1], B.shape[-1]",
              "    if B.shape[-2] != k:", _mismatch("matmul")]
    a_off, b_off = nbatch - (na - 2), nbatch - (nb - 2)
    for t in range(nbatch):
        sa = f"A.shape[{t - a_off}]" if t >= a_off else "1"
        sb = f"B.shape[{t - b_off}]" if t >= b_off else "1"
        lines += [f"    sa, sb = {sa}, {sb}",
                  "    if sa != sb and sa != 1 and sb != 1:", _mismatch("matmul batch axes"),
                  f"    d{t} = sb if sa == 1 else sa"]
    dims = "".join(f"d{t}, " for t in range(nbatch))
    lines.append(f"    out = _empty(({dims}n, m), {npname(dtype)})")
    if nbatch == 0:
        lines.append("    _gemm_into(1.0, A, B, 0.0, out)")
    else:
        total = " * ".join(f"d{t}" for t in range(nbatch))
        lines += [f"    for q in range({total}):", "        r = q"]
        for t in reversed(range(1, nbatch)):
            lines += [f"        i{t} = r % d{t}", f"        r = r // d{t}"]
        lines.append("        i0 = r")

        def pick(op, off):
            return ", ".join(f"i{t} if {op}.shape[{t - off}] != 1 else 0"
                             for t in range(off, nbatch))
        a_at = f"A[{pick('A', a_off)}]" if na > 2 else "A"
        b_at = f"B[{pick('B', b_off)}]" if nb > 2 else "B"
        at = ", ".join(f"i{t}" for t in range(nbatch))
        lines.append(f"        _gemm_into(1.0, {a_at}, {b_at}, 0.0, out[{at}])")
    if a_ndim == 1:
        lines.append(f"    out = out.reshape(({dims}m))")
    if b_ndim == 1:
        lines.append(f"    out = out.reshape(({dims}n))")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


def tensordot_source(a_ndim: int, b_ndim: int, a_axes, b_axes, a_dtype: str, b_dtype: str,
                     dtype: str) -> str:
    """``td(a, b)``: ``np.tensordot(a, b, (a_axes, b_axes))`` in ``dtype``."""
    free_a = [i for i in range(a_ndim) if i not in a_axes]
    free_b = [j for j in range(b_ndim) if j not in b_axes]
    lines = ["def td(a, b):", _operand("A", "a", a_dtype, dtype),
             _operand("B", "b", b_dtype, dtype)]
    for i, j in zip(a_axes, b_axes):
        lines += [f"    if A.shape[{i}] != B.shape[{j}]:", _mismatch("tensordot")]

    def size(op, axes):
        return " * ".join(f"{op}.shape[{d}]" for d in axes) or "1"
    pa = transposed("A", tuple(free_a) + tuple(a_axes))
    pb = transposed("B", tuple(b_axes) + tuple(free_b))
    lines += [f"    A2 = _ascontiguous({pa}).reshape(({size('A', free_a)}, "
              f"{size('A', a_axes)}))",
              f"    B2 = _ascontiguous({pb}).reshape(({size('B', b_axes)}, "
              f"{size('B', free_b)}))",
              f"    p = _gemm_into(1.0, A2, B2, 0.0, _empty((A2.shape[0], B2.shape[1]), "
              f"{npname(dtype)}))"]
    if not free_a and not free_b:
        lines.append("    return p[0, 0]")
    else:
        shape = "".join(f"A.shape[{d}], " for d in free_a) + \
            "".join(f"B.shape[{d}], " for d in free_b)
        lines.append(f"    return p.reshape(({shape}))")
    return "\n".join(lines) + "\n"


def _in_dtype(var, name, dt) -> str:
    """``name`` in the product's dtype ``dt`` (a 0-d value as a scalar)."""
    return cast(name, dt) if var.ndim == 0 else _as_dtype(name, var.dtype, dt)


def _dot(op, node):
    float_output(op, node)
    x, y = node.inputs
    if x.ndim > 2 or y.ndim > 2:
        raise NumbaUnsupported("dot of arrays with more than 2 dims")
    dt = node.outputs[0].dtype
    a, b, np_dt = _in_dtype(x, "a", dt), _in_dtype(y, "b", dt), npname(dt)
    if x.ndim == 0 or y.ndim == 0:
        product = f"({a} * {b})"
        return njit_lines("dot", ["a", "b"], [
            f"return {cast(product, dt) if node.outputs[0].ndim == 0 else product}"])
    if x.ndim == 1 and y.ndim == 1:
        return njit_lines("dot", ["a", "b"], [
            f"return {cast(f'np.dot(_contiguous({a}), _contiguous({b}))', dt)}"])
    lines = [f"A = {a}", f"B = {b}"]
    if x.ndim == 2 and y.ndim == 2:
        lines.append(f"return _gemm_into({np_dt}(1), A, B, {np_dt}(0), "
                     f"_empty((A.shape[0], B.shape[1]), {np_dt}))")
    elif x.ndim == 2:
        lines.append(f"return _gemv_into({np_dt}(1), A, B, {np_dt}(0), "
                     f"_empty(A.shape[0], {np_dt}))")
    else:                       # vector @ matrix: the matrix's transpose times the vector
        lines.append(f"return _gemv_into({np_dt}(1), B.T, A, {np_dt}(0), "
                     f"_empty(B.shape[1], {np_dt}))")
    return njit_lines("dot", ["a", "b"], lines)


def _gemm(op, node):
    """``Gemm``/``Gemv``: ``b * z + a * x @ y`` in one BLAS call on a copy of ``z``
    (``z`` unread when ``b == 0``)."""
    float_output(op, node)
    z, _, x, y, _ = node.inputs
    dt = node.outputs[0].dtype
    np_dt = npname(dt)
    if isinstance(op, Gemm):
        shape, call = "(X.shape[0], Y.shape[1])", "_gemm_into"
    else:
        shape, call = "X.shape[0]", "_gemv_into"
    return njit_lines("gemm", ["z", "a", "x", "y", "b"], [
        f"X = {_in_dtype(x, 'x', dt)}", f"Y = {_in_dtype(y, 'y', dt)}",
        f"out = _empty({shape}, {np_dt})", f"beta = {cast('b', dt)}",
        "if beta != 0:", "    _assign(out, z)",
        f"return {call}({cast('a', dt)}, X, Y, beta, out)"])


def _ger(op, node):
    float_output(op, node)
    dt = node.outputs[0].dtype
    return njit_lines("ger", ["A", "a", "x", "y"],
                ["p = np.outer(x, y)",   # x, y have A's dtype (Ger.make_node)
                 f"_scale_add(p, {cast('a', dt)}, A, {npname(dt)}(1))", "return p"])


def _matmul(op, node):
    dtype = float_output(op, node)
    a, b = node.inputs
    return njit_source(matmul_source(a.ndim, b.ndim, a.dtype, b.dtype, dtype), "mm")


def _tensordot(op, node):
    dtype = float_output(op, node)
    a, b = node.inputs
    return njit_source(tensordot_source(a.ndim, b.ndim, op.a_axes, op.b_axes, a.dtype,
                                        b.dtype, dtype), "td")


def register(numba_funcify) -> None:
    numba_funcify.register(Dot)(_dot)
    numba_funcify.register(Gemm)(_gemm)
    numba_funcify.register(Gemv)(_gemm)
    numba_funcify.register(Ger)(_ger)
    numba_funcify.register(MatMul)(_matmul)
    numba_funcify.register(TensorDot)(_tensordot)


__all__ = ["matmul_source", "register", "tensordot_source"]
