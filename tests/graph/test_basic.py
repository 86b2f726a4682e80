"""The IR: Apply/Variable bookkeeping, iterative walks on huge graphs, cloning."""

import sys

import numpy as np
import pytest

import theanine as th
import theanine.tensor as tt
from theanine.graph.basic import (
    ancestors,
    clone,
    clone_replace,
    graph_inputs,
    io_toposort,
    toposort,
)
from theanine.graph.fg import FunctionGraph, MissingInputError


def chain(n):
    x = tt.dvector("x")
    y = x
    for _ in range(n):
        y = tt.exp(y)
    return x, y


def test_apply_records_the_users_line():
    x = tt.dvector("x")
    y = x + 1  # the line recorded
    filename, lineno, func = y.owner.tag.trace[0]
    assert filename == __file__
    assert func == "test_apply_records_the_users_line"
    with open(__file__) as fh:
        assert "the line recorded" in fh.readlines()[lineno - 1]


def test_walks_are_iterative_on_a_100k_node_chain():
    limit = sys.getrecursionlimit()
    x, y = chain(100_000)
    assert sys.getrecursionlimit() == limit
    order = toposort([y])
    assert len(order) == 100_000
    assert order[0].inputs[0] is x and order[-1].outputs[0] is y
    assert graph_inputs([y]) == [x]
    assert sum(1 for _ in ancestors([y])) == 100_001
    (cx,), (cy,) = clone([x], [y])
    assert cy is not y and len(toposort([cy])) == 100_000
    fg = FunctionGraph([x], [y])
    assert len(fg.apply_nodes) == 100_000


def test_toposort_respects_dependencies():
    x = tt.dvector("x")
    a = tt.exp(x)
    b = tt.log(a)
    c = a + b
    order = io_toposort([x], [c])
    pos = {n: i for i, n in enumerate(order)}
    assert pos[a.owner] < pos[b.owner] < pos[c.owner]


def test_clone_replace_substitutes_and_keeps_original():
    x, y = tt.dvectors("x", "y")
    z = tt.exp(x) * 2
    z2 = clone_replace(z, {x: y})
    assert x in graph_inputs([z]) and y in graph_inputs([z2]) and x not in graph_inputs([z2])
    f = th.function([y], z2)
    np.testing.assert_allclose(f([0.0]), [2.0])


def test_clone_replace_rejects_incompatible_type():
    x = tt.dvector("x")
    with pytest.raises(TypeError, match="cannot replace"):
        clone_replace(x * 2, {x: tt.dmatrix("m")})


def test_function_graph_clients_and_replace():
    x = tt.dvector("x")
    a = tt.exp(x)
    out = a + a
    fg = FunctionGraph([x], [out], clone=False)
    assert len(fg.clients[a]) == 2
    b = tt.log(x)
    fg.replace(a, b)
    assert a.owner not in fg.apply_nodes
    assert fg.outputs[0].owner.inputs == [b, b]
    fg.check_integrity()


def test_function_graph_missing_input():
    x, y = tt.dvectors("x", "y")
    with pytest.raises(MissingInputError, match="y"):
        FunctionGraph([x], [x + y])


def test_custom_op_the_theano_way():
    class Double(th.graph.Op):
        __props__ = ()

        def make_node(self, x):
            x = tt.as_tensor_variable(x)
            return th.graph.Apply(self, [x], [x.type()])

        def perform(self, node, inputs, output_storage):
            output_storage[0][0] = inputs[0] * 2

        def infer_shape(self, fgraph, node, shapes):
            return shapes

    x = tt.dmatrix("x")
    f = th.function([x], Double()(x) + 1)
    np.testing.assert_allclose(f(np.ones((2, 2))), 3 * np.ones((2, 2)))
    assert Double() == Double() and hash(Double()) == hash(Double())


def test_as_op_wraps_numpy_function():
    @th.compile.as_op(itypes=[tt.dmatrix], otypes=[tt.dvector])
    def row_norms(m):
        return np.sqrt((m * m).sum(axis=1))

    x = tt.dmatrix("x")
    f = th.function([x], row_norms(x))
    np.testing.assert_allclose(f([[3.0, 4.0]]), [5.0])
