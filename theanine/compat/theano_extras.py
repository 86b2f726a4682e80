"""The later-ported Theano modules in the ``import theano`` alias: ``tensor.nlinalg``,
``tensor.slinalg``, ``tensor.nnet.bn``, ``tensor.nnet.neighbours``,
``scan_module.scan_utils``, and modules programs import by Theano's file names
(``theano.gradient``, ``theano.ifelse``, ``theano.printing``, ``theano.compile.io``/
``mode``/``function``/``sharedvalue``, ``theano.tensor.basic``,
``theano.tensor.nnet.nnet``/``sigm``).  Each is also set as an attribute of its parent alias,
so ``T.nlinalg.det`` works as ``import theano.tensor.nlinalg`` does.
"""

from __future__ import annotations

import importlib

from theanine.graph.basic import Variable, clone_replace
from theanine.tensor.rewriting.algebra import same_graph

th_scan = importlib.import_module("theanine.scan")


def clone(output, replace=None, strict=True, share_inputs=True, copy_inputs=None):
    """Theano's ``scan_utils.clone``: ``output``'s graph with ``replace`` applied."""
    return clone_replace(output, replace, strict=strict)


def equal_computations(xs, ys, in_xs=None, in_ys=None):
    """Whether each ``xs[i]`` computes the same as ``ys[i]``, where ``in_xs[j]`` and
    ``in_ys[j]`` stand for the same input."""
    xs, ys = list(xs), list(ys)
    in_xs, in_ys = list(in_xs or []), list(in_ys or [])
    if len(xs) != len(ys) or len(in_xs) != len(in_ys):
        return False
    if any(x.type != y.type for x, y in zip(xs + in_xs, ys + in_ys)
           if isinstance(x, Variable) and isinstance(y, Variable)):
        return False
    if in_xs:
        ys = clone_replace(ys, dict(zip(in_ys, in_xs)))
    return all(same_graph(x, y) for x, y in zip(xs, ys))


def extra_modules(alias, theano) -> dict:
    """``{Theano module name: alias module}`` for these modules, made with ``alias``
    and attached to their parents inside the ``theano`` alias."""
    tensor, nnet = theano.tensor, theano.tensor.nnet
    made = {
        "theano.tensor.nlinalg": alias("theano.tensor.nlinalg",
                                       importlib.import_module("theanine.tensor.nlinalg")),
        "theano.tensor.slinalg": alias("theano.tensor.slinalg",
                                       importlib.import_module("theanine.tensor.slinalg")),
        "theano.tensor.nnet.bn": alias("theano.tensor.nnet.bn",
                                       importlib.import_module("theanine.tensor.nnet.bn")),
        "theano.tensor.nnet.neighbours": alias(
            "theano.tensor.nnet.neighbours",
            importlib.import_module("theanine.tensor.nnet.neighbours")),
        "theano.scan_module.scan_utils": alias(
            "theano.scan_module.scan_utils", until=th_scan.until, clone=clone,
            equal_computations=equal_computations),
    }
    compile_ = theano.compile
    plain = {   # modules programs import by their file name in Theano
        "theano.gradient": ("theanine.gradient",),
        "theano.ifelse": ("theanine.ifelse",),
        "theano.printing": ("theanine.printing",),
        "theano.compile.io": ("theanine.compile.io",),
        "theano.compile.mode": ("theanine.compile.mode",),
        "theano.compile.function": ("theanine.compile.function_module",),
        "theano.compile.sharedvalue": ("theanine.compile",),
        "theano.tensor.basic": ("theanine.tensor",),
        "theano.tensor.nnet.nnet": ("theanine.tensor.nnet",),
        "theano.tensor.nnet.sigm": ("theanine.tensor.nnet",),
    }
    for full, sources in plain.items():
        made[full] = alias(full, *(importlib.import_module(m) for m in sources))
    made["theano.compile.function"].function = compile_.function
    owners = {"theano": theano, "theano.tensor": tensor, "theano.tensor.nnet": nnet,
              "theano.scan_module": theano.scan_module, "theano.compile": compile_}
    for full, module in made.items():
        parent, _, leaf = full.rpartition(".")
        if full != "theano.compile.function":   # as in Theano: the attribute is the function
            setattr(owners[parent], leaf, module)
    return made
