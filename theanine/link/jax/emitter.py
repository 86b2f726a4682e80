"""The JAX backend's emitter: a graph as a pure, traceable Python function.

Every node is a ``jax_funcify`` thunk, nothing is deleted (XLA owns the buffers),
and each lazy ``IfElse`` becomes a ``lax.cond`` over two nested functions holding
the nodes only its branches need, so only the taken branch runs.  Used for whole
functions (``linker.py``) and for loop bodies (``scan.py``).
"""

from __future__ import annotations

import jax

from theanine.ifelse import IfElse
from theanine.link.callspec import ArgSpec, CallSpec
from theanine.link.emitter import Emitter
from theanine.link.jax.checks import check_later, nested
from theanine.link.jax.dispatch import NeedsConcreteValues, _where, thunk_for
from theanine.link.lazy import ELSE, THEN


class JAXEmitter(Emitter):
    """The emitter writing a traceable function (see the module docstring)."""

    block_emitters = {IfElse: "_emit_cond"}

    def __init__(self, fgraph, spec):
        super().__init__(fgraph, spec, funcify=thunk_for, allow_gc=False)
        self.ns["_lax_cond"] = _lax_cond

    def _emit_cond(self, node, pos, context, groups, depth, entries) -> None:
        n = node.op.n_outs
        dtypes = [o.dtype for o in node.outputs]
        self.ns[f"_dt{pos}"] = dtypes
        self.ns[f"_at{pos}"] = f"{node.op}{_where(node)}"
        for branch, values in ((THEN, node.inputs[1:1 + n]), (ELSE, node.inputs[1 + n:])):
            name = f"_{'then' if branch == THEN else 'else'}{pos}"
            entries.append((depth, f"def {name}():", node, []))
            self._emit_group(context + ((node, branch),), groups, depth + 1, entries)
            outs = ", ".join(self.name_of(v) for v in values)
            entries.append((depth + 1, f"return ({outs},)", node,
                            [v for v in values if v.owner is not None or v in self.names]))
        targets = ", ".join(self.name_of(o) for o in node.outputs)
        entries.append((depth, f"{targets}, = _lax_cond({self.name_of(node.inputs[0])}, "
                               f"_then{pos}, _else{pos}, _dt{pos}, _at{pos})", node,
                        [node.inputs[0]]))


def _lax_cond(cond, then_fn, else_fn, dtypes, where):
    """``lax.cond`` with both branches' values cast to the node's dtypes (a branch of
    constants would otherwise give NumPy values of another type).  Branches whose
    values differ in shape (an ifelse's types only fix the broadcast pattern) cannot
    be one XLA program: ``NeedsConcreteValues``, and the function runs op by op, the
    condition then known."""
    def typed(fn):
        return lambda: tuple(jax.numpy.asarray(v).astype(dt) for v, dt in zip(fn(), dtypes))

    if not isinstance(cond, jax.core.Tracer):
        return typed(then_fn if bool(cond) else else_fn)()
    try:
        outs, ok = jax.lax.cond(jax.numpy.asarray(cond).astype(bool).reshape(()),
                                nested(typed(then_fn)), nested(typed(else_fn)))
    except TypeError:
        shapes = [[v.shape for v in jax.eval_shape(typed(fn))] for fn in (then_fn, else_fn)]
        if shapes[0] != shapes[1]:
            raise NeedsConcreteValues(f"the branches of {where} give values of different "
                                      f"shapes ({shapes[0]} and {shapes[1]})") from None
        raise
    check_later(ok)             # (the taken branch's checks)
    return outs


def pure_spec(fgraph) -> CallSpec:
    """The traced function's boundary: every graph input an argument, no checks."""
    return CallSpec(args=[ArgSpec(None, v.type) for v in fgraph.inputs],
                    input_sources=[("arg", k) for k in range(len(fgraph.inputs))],
                    n_outputs=len(fgraph.outputs), copy_outputs=[False] * len(fgraph.outputs),
                    update_containers=[], return_list=True, check_inputs=False)


__all__ = ["JAXEmitter", "pure_spec"]
