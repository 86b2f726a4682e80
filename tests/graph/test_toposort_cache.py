"""io_toposort order and cycles; FunctionGraph.toposort is cached until the graph changes."""

import pytest

import theanine.tensor as tt
from theanine.graph.basic import io_toposort
from theanine.graph.fg import FunctionGraph
from theanine.graph.op import Op


def _reference_order(outputs):
    """Recursive depth-first post-order (inputs in order) for small graphs."""
    order, seen = [], set()

    def visit(node):
        if node in seen:
            return
        seen.add(node)
        for inp in node.inputs:
            if inp.owner is not None:
                visit(inp.owner)
        order.append(node)

    for out in outputs:
        if out.owner is not None:
            visit(out.owner)
    return order


def test_order_is_the_depth_first_post_order():
    x, y = tt.dvectors("x", "y")
    a = tt.exp(x) * y
    b = a + tt.sin(x)
    c = (b * a) - tt.cos(b) + x * x
    outs = [c, a]
    assert io_toposort([x, y], outs) == _reference_order(outs)


def test_cycle_is_reported():
    x = tt.dvector("x")
    y = tt.exp(x)
    z = tt.sin(y)
    y.owner.inputs[0] = z          # exp(sin(exp(...))): a cycle made by hand
    with pytest.raises(ValueError, match="cycle"):
        io_toposort([x], [z])


def test_orderings_are_honoured():
    x = tt.dvector("x")
    a, b = tt.exp(x), tt.sin(x)
    out = a + b
    plain = io_toposort([x], [out])
    assert plain.index(a.owner) < plain.index(b.owner)
    forced = io_toposort([x], [out], {a.owner: [b.owner]})
    assert forced.index(b.owner) < forced.index(a.owner)


def test_cached_order_follows_changes():
    x = tt.dvector("x")
    fg = FunctionGraph([x], [tt.exp(x) + 1.0])
    first = fg.toposort()
    first.clear()                          # callers get a copy
    again = fg.toposort()
    assert len(again) == 2
    fx = fg.inputs[0]
    fg.replace(fg.outputs[0], tt.sin(fx) * 2.0)
    ops = [str(n.op) for n in fg.toposort()]
    assert ops == ["Elemwise{sin}", "Elemwise{mul}"]
    fg.replace(fg.outputs[0], tt.cos(fx))
    assert [str(n.op) for n in fg.toposort()] == ["Elemwise{cos}"]


def test_op_hash_follows_attribute_changes():
    class Scale(Op):
        __props__ = ("k",)

        def __init__(self, k):
            self.k = k

    op = Scale(2)
    h = hash(op)
    assert h == hash(Scale(2))
    op.k = 3
    assert hash(op) == hash(Scale(3)) and op == Scale(3)


def test_a_new_graph_and_features_without_orderings_keep_the_cached_order(monkeypatch):
    """The copy's order serves as the first sort; a pass's bookkeeping features (no
    orderings) do not invalidate it; a feature with orderings does."""
    import theanine.graph.fg as fg_module
    from theanine.graph.fg import Feature
    x, y = tt.dvectors("x", "y")
    out = (tt.exp(x) * y + tt.sin(x)) * 2.0
    fg = FunctionGraph([x, y], [out])
    sorts = []
    monkeypatch.setattr(fg_module, "io_toposort",
                        lambda *a, **k: sorts.append(1) or io_toposort(*a, **k))
    assert fg.toposort() == io_toposort(fg.inputs, fg.outputs)
    tracker = Feature()
    fg.attach_feature(tracker)
    fg.toposort()
    fg.remove_feature(tracker)
    fg.toposort()
    assert sorts == []
    order = fg.toposort()
    exp_node = next(n for n in order if n.op.scalar_op.name == "exp")
    sin_node = next(n for n in order if n.op.scalar_op.name == "sin")
    assert order.index(exp_node) < order.index(sin_node)

    class SinFirst(Feature):
        def orderings(self, fgraph):
            return {exp_node: [sin_node]}

    fg.attach_feature(SinFirst())
    order = fg.toposort()
    assert sorts == [1] and order.index(sin_node) < order.index(exp_node)


def test_a_scalar_ops_output_dtypes_are_remembered_until_it_changes():
    from theanine.scalar import basic as ts
    op = ts.Add()
    assert op.output_dtypes(("float64", "int32")) == ("float64",)
    assert op.output_dtypes(("int8", "int8")) == ("int8",)
    assert op.__dict__["_dtypes_memo"][("float64", "int32")] == ("float64",)
    op.allowed_dtypes = ("float64",)
    assert "_dtypes_memo" not in op.__dict__
    with pytest.raises(TypeError, match="does not accept dtype int8"):
        op.output_dtypes(("int8", "int8"))


def test_merging_keeps_the_cached_order_and_a_later_producer_does_not(monkeypatch):
    """A node that now reads an equal constant, or an equal node placed before it,
    keeps the cached order (pruned nodes drop out of it); reading a node placed after
    it, or a feature with orderings, makes the next ``toposort`` sort again."""
    import numpy as np

    import theanine.graph.fg as fg_module
    from theanine.graph.basic import Constant
    from theanine.graph.fg import Feature
    from theanine.graph.rewriting.merge import merge_graph
    x = tt.dvector("x")
    one_a, one_b = tt.constant(np.ones(1)), tt.constant(np.ones(1))
    out = tt.exp(x + one_a) * tt.exp(x + one_b) + tt.sin(x)
    fg = FunctionGraph([x], [out])
    sorts = []
    monkeypatch.setattr(fg_module, "io_toposort",
                        lambda *a, **k: sorts.append(1) or io_toposort(*a, **k))
    assert merge_graph(fg) == {"merge_constant": 1, "merge_node": 2}
    order = fg.toposort()
    assert sorts == [] and set(order) == fg.apply_nodes and len(order) == 5
    assert order == io_toposort(fg.inputs, fg.outputs)
    assert [str(i) for n in order for i in n.inputs if isinstance(i, Constant)] == ["[1.]"]

    mul = next(n for n in order if n.op.scalar_op.name == "mul")
    sin = next(n for n in order if n.op.scalar_op.name == "sin")
    assert order.index(sin) > order.index(mul)        # sin is placed after the product
    fg.change_node_input(mul, 1, sin.outputs[0])      # now the product reads it
    order = fg.toposort()
    assert sorts == [1] and order.index(sin) < order.index(mul)

    class Ordered(Feature):
        def orderings(self, fgraph):
            return {mul: [sin]}

    fg.attach_feature(Ordered())
    fg.toposort()
    sorts.clear()
    fg.change_node_input(mul, 0, fg.inputs[0])        # an input: placed before anything
    fg.toposort()
    assert sorts == [1]                                # but a feature orders the nodes


def test_the_cached_order_stays_an_order_through_random_changes():
    """Random graphs and random changes (merges, a node reading an earlier or a later
    value, a new node, a graph output moved): after each, ``toposort`` lists exactly
    the graph's nodes, every node after the nodes it reads."""
    import numpy as np

    from theanine.graph.rewriting.merge import merge_graph
    rng = np.random.default_rng(0)
    unary, binary = (tt.exp, tt.sin, tt.tanh), (tt.add, tt.mul, tt.sub)
    for _ in range(30):
        xs = list(tt.dvectors("a", "b", "c"))
        values = list(xs)
        for _ in range(int(rng.integers(5, 25))):
            if rng.random() < 0.4:
                values.append(unary[rng.integers(3)](values[rng.integers(len(values))]))
            else:
                i, j = rng.integers(len(values), size=2)
                values.append(binary[rng.integers(3)](values[i], values[j]))
        outs = [values[-1], values[int(rng.integers(3, len(values)))]]
        fg = FunctionGraph(xs, outs)
        for _ in range(12):
            order = fg.toposort()
            assert set(order) == fg.apply_nodes and len(order) == len(fg.apply_nodes)
            place = {n: k for k, n in enumerate(order)}
            assert all(place[i.owner] < place[n] for n in order for i in n.inputs
                       if i.owner is not None)
            choice = rng.random()
            if choice < 0.2:
                merge_graph(fg)
                continue
            nodes = sorted(fg.apply_nodes, key=place.__getitem__)
            if choice < 0.3:
                var = nodes[int(rng.integers(len(nodes)))].outputs[0]
                if var.type == fg.outputs[0].type:
                    fg.change_node_input("output", int(rng.integers(len(fg.outputs))), var)
                continue
            vector = xs[0].type
            slots = [(n, k) for n in nodes for k, i in enumerate(n.inputs) if i.type == vector]
            node, pos = slots[int(rng.integers(len(slots)))]
            earlier = [v for n in nodes[:place[node]] for v in n.outputs
                       if v.type == vector] + fg.inputs
            below, stack = {node}, [node]          # the nodes reading node's results
            while stack:
                for out in stack.pop().outputs:
                    for client, _ in fg.clients[out]:
                        if client != "output" and client not in below:
                            below.add(client)
                            stack.append(client)
            later = [v for n in nodes[place[node] + 1:] if n not in below
                     for v in n.outputs if v.type == vector]
            if choice < 0.6:        # an earlier value: the order may be kept
                new = earlier[int(rng.integers(len(earlier)))]
            elif choice < 0.8 and later:    # a later value (no cycle): sorted again
                new = later[int(rng.integers(len(later)))]
            else:                   # a new node over earlier values
                new = tt.cos(earlier[int(rng.integers(len(earlier)))]) * 2.0
            fg.change_node_input(node, pos, new)
