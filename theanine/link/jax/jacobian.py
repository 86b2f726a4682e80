"""``JacobianLoop`` on JAX: one vector-Jacobian product per output entry, batched.

The default engine evaluates the inner ``Lop`` graph once per entry of the
expression in a Python loop.  Here the inner graphs are emitted as JAX functions
and the products for every one-hot cotangent run as one ``jax.vmap``: the whole
Jacobian is part of the compiled program.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from theanine.graph.fg import FunctionGraph
from theanine.link.jax.checks import check_later, nested
from theanine.link.jax.dispatch import jax_funcify
from theanine.link.jax.emitter import JAXEmitter, pure_spec
from theanine.tensor.gradient.jacobian import JacobianLoop


def _emitted(inputs, outputs):
    """The inner graph as a JAX function returning ``(outputs, ok)``: its value checks
    (an index out of range) come out as ``ok``, batched under the ``vmap``."""
    fgraph = FunctionGraph(inputs, outputs, clone=True)
    return nested(JAXEmitter(fgraph, pure_spec(fgraph)).compile())


@jax_funcify.register(JacobianLoop)
def _jacobian(op, node):
    # the expression and the values it is differentiated by (their shapes shape the
    # result; a ``wrt`` may be an intermediate of the graph)
    expression = _emitted(list(op._free), [op.expression] + list(op.wrt))
    vjps = _emitted(list(op._free) + [op._cotangent], list(op._vjps))
    out_dtypes = [o.dtype for o in node.outputs]
    cot_dtype = op._cotangent.dtype

    def jacobian(*free):
        values, ok = expression(*free)
        check_later(ok)
        y, *wrt = (jnp.asarray(v) for v in values)
        basis = jnp.eye(y.size, dtype=cot_dtype).reshape((y.size,) + y.shape)

        def row(c):
            grads, row_ok = vjps(*free, c)
            return tuple(jnp.asarray(g) for g in grads), row_ok

        rows, oks = jax.vmap(row)(basis)
        check_later(jnp.all(oks))
        outs = [jnp.broadcast_to(r, (y.size,) + jnp.shape(w)).reshape(y.shape + jnp.shape(w))
                .astype(dt) for r, w, dt in zip(rows, wrt, out_dtypes)]
        return outs[0] if len(outs) == 1 else tuple(outs)

    return jacobian


__all__ = []
