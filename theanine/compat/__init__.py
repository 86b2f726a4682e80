"""Run code written for Theano 1.0 unchanged: ``import theano`` gives theanine.

    from theanine.compat import install_theano_alias
    install_theano_alias()          # then: import theano; import theano.tensor as T ...

or, for a script: ``python -m theanine.compat script.py [args]``.

Each Theano module name becomes an alias module holding the theanine names under
Theano's (``theano.tensor.nnet``, ``theano.tensor.signal.pool``,
``theano.sandbox.rng_mrg``, ``theano.tensor.shared_randomstreams``, ``theano.gof``,
``theano.scan_module``, ``theano.compile``...).  A Theano name theanine lacks raises
an ``AttributeError`` that says so (docs/theano_compat.md lists what differs).
"""

from __future__ import annotations

import importlib
import sys
import types

import theanine
import theanine.compile as th_compile
import theanine.graph.basic as graph_basic
import theanine.graph.op as graph_op
import theanine.tensor as tensor
import theanine.tensor.nnet as nnet
import theanine.tensor.nnet.abstract_conv as abstract_conv
import theanine.tensor.nnet.conv as legacy_conv
import theanine.tensor.signal.pool as pool
from theanine.compat.missing import missing_message
from theanine.compat.random_streams import MRG_RandomStreams, RandomStreams
from theanine.compat.theano_extras import extra_modules
from theanine.graph.fg import FunctionGraph
from theanine.tensor.rewriting.algebra import same_graph

# the package (``theanine.scan`` as an attribute is the ``scan`` function)
th_scan = importlib.import_module("theanine.scan")


def _missing(module_name):
    def __getattr__(name):
        raise AttributeError(missing_message(module_name, name))
    return __getattr__


def _alias(name: str, *sources, **extra) -> types.ModuleType:
    module = types.ModuleType(name, f"Theano's {name}, served by theanine.")
    for source in sources:
        module.__dict__.update({k: v for k, v in vars(source).items()
                                if not k.startswith("__")})
    module.__dict__.update(extra)
    module.__getattr__ = _missing(name)
    return module


def _gof_graph() -> types.ModuleType:
    def inputs(outputs, blockers=None):
        return graph_basic.graph_inputs(outputs)

    def ancestors(outputs, blockers=None):
        return list(graph_basic.ancestors(outputs, blockers or ()))

    def is_same_graph(a, b, givens=None):
        return same_graph(a, b)

    return _alias("theano.gof.graph", graph_basic, inputs=inputs, ancestors=ancestors,
                  is_same_graph=is_same_graph)


def theano_modules() -> dict:
    """``{Theano module name: alias module}`` for every module served."""
    gof_graph = _gof_graph()
    shared_rs = _alias("theano.tensor.shared_randomstreams", RandomStreams=RandomStreams)
    rng_mrg = _alias("theano.sandbox.rng_mrg", MRG_RandomStreams=MRG_RandomStreams)
    signal = _alias("theano.tensor.signal", pool=pool)
    nnet_alias = _alias("theano.tensor.nnet", nnet, abstract_conv=abstract_conv,
                        conv=legacy_conv)
    t = _alias("theano.tensor", tensor, nnet=nnet_alias, signal=signal,
               shared_randomstreams=shared_rs)
    gof = _alias("theano.gof", graph_basic, graph_op, graph=gof_graph,
                 FunctionGraph=FunctionGraph)
    scan_module = _alias("theano.scan_module", th_scan, scan=th_scan.scan)
    compile_alias = _alias("theano.compile", th_compile)
    sandbox = _alias("theano.sandbox", rng_mrg=rng_mrg)
    theano = _alias("theano", theanine, tensor=t, gof=gof, scan_module=scan_module,
                    compile=compile_alias, sandbox=sandbox, clone=graph_basic.clone_replace)
    return {"theano": theano, "theano.tensor": t, "theano.tensor.nnet": nnet_alias,
            "theano.tensor.extra_ops": tensor.extra_ops,
            "theano.tensor.nnet.abstract_conv": abstract_conv,
            "theano.tensor.nnet.conv": legacy_conv,
            "theano.tensor.signal": signal, "theano.tensor.signal.pool": pool,
            "theano.tensor.shared_randomstreams": shared_rs, "theano.sandbox": sandbox,
            "theano.sandbox.rng_mrg": rng_mrg, "theano.gof": gof,
            "theano.gof.graph": gof_graph, "theano.scan_module": scan_module,
            "theano.compile": compile_alias, **extra_modules(_alias, theano)}


def install_theano_alias() -> types.ModuleType:
    """Make ``import theano`` (and its submodules) give theanine; returns ``theano``."""
    modules = theano_modules()
    sys.modules.update(modules)
    return modules["theano"]


__all__ = ["install_theano_alias", "theano_modules", "MRG_RandomStreams", "RandomStreams"]
