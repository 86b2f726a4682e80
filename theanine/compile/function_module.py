"""``function``: from user variables to a compiled, callable Function."""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace

from theanine.compile import tiered
from theanine.compile.io import In, Out
from theanine.compile.mode import get_mode
from theanine.compile.profiling import attach, profiled_link, stats_for
from theanine.config import config
from theanine.graph.basic import Constant, Variable, clone_replace, graph_inputs
from theanine.graph.destroyhandler import attach_destroy_handler
from theanine.graph.fg import FunctionGraph, InconsistencyError, MissingInputError
from theanine.graph.rewriting.pipeline import run_pipeline
from theanine.graph.rewriting.trace import explain_variable
from theanine.graph.shared import SharedVariable
from theanine.graph.utils import collector_paused, user_line
from theanine.link.callspec import ArgSpec, CallSpec, output_copy_flags
from theanine.link.sharding import sharding_request, with_sharding
from theanine.tensor.basic import as_tensor_variable
from theanine.tensor.type import TensorType

_function_hooks: list = []


def register_function_hook(hook) -> None:
    """``hook(function)`` runs on every new Function (profiling registers itself)."""
    _function_hooks.append(hook)


def _printing_missing(fn, **kwargs):
    raise RuntimeError("theanine.printing is not loaded")


_display = {"dprint": _printing_missing, "svg": lambda fn: None, "text": repr,
            "html": lambda fn: None}


def set_function_display(dprint, svg, text, html=None) -> None:
    """Install ``Function.dprint`` and its Jupyter views (registered by printing)."""
    _display.update(dprint=dprint, svg=svg, text=text)
    if html is not None:
        _display["html"] = html


class UnusedInputError(ValueError):
    """An input of ``function`` is not needed by any output or update."""


class FunctionMaker:
    """What was compiled: the rewritten graph, the inputs/outputs and the mode."""

    def __init__(self, fgraph, inputs, outputs, mode, linker, timings, report, spec=None):
        self.fgraph = fgraph
        self.spec = spec
        self.inputs = inputs
        self.outputs = outputs
        self.mode = mode
        self.linker = linker
        self.timings = timings
        self.rewrite_report = report

    def explain(self, var_or_node):
        """Which rewrites changed ``var_or_node`` (of the graph given to ``function``) on
        its way to what runs; needs ``config.trace_rewrites`` at compile time."""
        return explain_variable(self.fgraph, var_or_node)


class Function:
    """A compiled function. Calling it runs the generated code.

    Each Function gets its own subclass whose ``__call__`` *is* the generated
    function, so a call costs one Python frame.
    """

    def __init__(self, core, maker, name, return_list):
        self.fn = core
        self.maker = maker
        self.name = name
        self.return_list = return_list
        self.profile = None
        self._trust_input = False
        self._trusted_core = None

    @property
    def trust_input(self) -> bool:
        """When True, arguments are used as given: no type, dtype or shape check and
        no conversion (a call then costs the graph alone).  Passing anything but
        arrays of the declared types is then the caller's error to avoid, as in
        Theano.  Settable at any time; profiled functions keep their checks."""
        return self._trust_input

    @trust_input.setter
    def trust_input(self, value) -> None:
        value = bool(value)
        if value == self._trust_input:
            return
        self._trust_input = value
        core = self.fn
        if value and self.profile is None and getattr(self.maker, "spec", None) is not None:
            if self._trusted_core is None:
                spec = replace(self.maker.spec, check_inputs=False)
                self._trusted_core = self.maker.linker.make_function(self.maker.fgraph, spec)
            core = self._trusted_core
        type(self).__call__ = staticmethod(core)

    @property
    def source(self) -> str:
        """The generated Python source of this function."""
        return getattr(self.fn, "source", "")

    def __repr__(self):
        return f"<theanine.Function {self.name or ''}>"

    def dprint(self, **kwargs):
        """``debugprint`` of the compiled graph (execution order, in-place markers)."""
        return _display["dprint"](self, **kwargs)

    def _repr_svg_(self):
        """Jupyter shows a Function as its graph picture (None without Graphviz)."""
        return _display["svg"](self)

    def _repr_html_(self):
        """Jupyter's interactive view (``printing.graph_html``), with the profile if any."""
        return _display["html"](self)

    def _repr_pretty_(self, printer, cycle):
        """IPython's text view: the debugprint tree."""
        printer.text(repr(self) if cycle else _display["text"](self))

    def copy(self):
        return make_function_object(self.fn, self.maker, self.name, self.return_list)


def make_function_object(core, maker, name, return_list) -> Function:
    cls = type("Function", (Function,), {"__call__": staticmethod(core)})
    return cls(core, maker, name, return_list)


# -- argument normalisation ---------------------------------------------------


def _as_inputs(inputs) -> list[In]:
    if inputs is None:
        return []
    if isinstance(inputs, (Variable, In)):
        raise TypeError("function inputs must be a list, e.g. function([x], y); "
                        f"got a single {type(inputs).__name__}")
    out = []
    seen = set()
    for pos, item in enumerate(inputs):
        inp = item if isinstance(item, In) else In(item) if isinstance(item, Variable) else None
        if inp is None:
            raise TypeError(f"function input {pos} must be a Variable or In, got "
                            f"{type(item).__name__} {item!r:.40}")
        var = inp.variable
        if isinstance(var, SharedVariable):
            raise TypeError(f"input {pos} ({var}) is a shared variable: shared variables are "
                            "implicit inputs; use givens to replace one, or set_value")
        if isinstance(var, Constant):
            raise TypeError(f"input {pos} ({var}) is a constant and cannot be an input")
        if var in seen:
            raise ValueError(f"input {pos} ({var}) is given more than once")
        seen.add(var)
        out.append(inp)
    return out


def _as_outputs(outputs):
    """Return ``(list of Out, return_list)``."""
    if outputs is None:
        return [], True
    single = not isinstance(outputs, (list, tuple))
    items = [outputs] if single else list(outputs)
    outs = []
    for pos, item in enumerate(items):
        if isinstance(item, Out):
            outs.append(item)
        elif isinstance(item, Variable):
            outs.append(Out(item))
        else:
            try:
                outs.append(Out(as_tensor_variable(item)))
            except TypeError:
                raise TypeError(f"function output {pos} must be a Variable, got "
                                f"{type(item).__name__} {item!r:.40}") from None
    return outs, not single


def _as_pairs(pairs, what: str) -> list[tuple]:
    if pairs is None:
        return []
    if isinstance(pairs, Mapping):
        return list(pairs.items())
    out = []
    for pos, pair in enumerate(pairs):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"{what} entry {pos} must be a (variable, value) pair, got "
                            f"{pair!r:.60}")
        out.append(tuple(pair))
    return out


def _check_replacement(key, value, what: str, strict: bool = True):
    """Convert ``value`` to ``key``'s type or raise an error naming both
    (``strict=False``: a Variable keeps its own type, see ``rebuild_strict``)."""
    if not isinstance(value, Variable):
        try:
            value = key.type.make_constant(key.type.filter(value, allow_downcast=None))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} value for {key} cannot be converted to {key.type}: "
                            f"{exc}") from None
    elif not strict:
        return key.type.convert_variable(value) or value
    converted = key.type.convert_variable(value)
    if converted is None:
        hint = ""
        if getattr(value.type, "dtype", None) != getattr(key.type, "dtype", None):
            hint = f"; cast it, e.g. value.astype('{getattr(key.type, 'dtype', '?')}')"
        raise TypeError(f"{what} for {key}: the new value {value} has type {value.type}, "
                        f"expected {key.type}{hint}")
    return converted


def _check_user_inplace(fgraph, accept_inplace: bool) -> None:
    """Refuse in-place operations in the user's graph unless accepted; accepted
    ones must be legal (no clobbered input or value still needed)."""
    destroyers = sorted((n for n in fgraph.apply_nodes if n.op.destroy_map),
                        key=lambda n: str(n.op))
    if not destroyers:
        return
    node = destroyers[0]
    where = user_line(node.tag.trace) if hasattr(node.tag, "trace") else "an unknown line"
    if not accept_inplace:
        raise TypeError(f"the graph contains the in-place operation {node.op} (built at "
                        f"{where}); pass accept_inplace=True to compile it as it is")
    try:
        fgraph.validate()
    except InconsistencyError as exc:
        raise InconsistencyError(f"in-place operation {node.op} (built at {where}) cannot run "
                                 f"here: {exc}") from None


def _updates(updates, outputs, no_default_updates) -> tuple[list[tuple], tuple | None]:
    """The update pairs, explicit then default ones; and the first walk made for
    them, ``(the values walked from, their roots)`` (None without a walk), which
    ``_compile`` reuses when it needs the roots of the same values."""
    pairs = _as_pairs(updates, "updates")
    result, seen = [], set()
    for key, value in pairs:
        if not isinstance(key, SharedVariable):
            raise TypeError(f"updates: {key} is not a shared variable; only shared "
                            "variables can be updated")
        if key in seen:
            raise ValueError(f"updates: {key} is updated more than once")
        seen.add(key)
        result.append((key, _check_replacement(key, value, "update")))
    walked = None
    if not no_default_updates:
        frontier = list(outputs) + [v for _, v in result]
        while frontier:
            new = []
            roots = graph_inputs(frontier)
            if walked is None:
                walked = (frontier, roots)
            for var in roots:
                if isinstance(var, SharedVariable) and var not in seen \
                        and var.default_update is not None:
                    seen.add(var)
                    upd = _check_replacement(var, var.default_update, "default update")
                    result.append((var, upd))
                    new.append(upd)
            frontier = new
    return result, walked


def _cut_inner_inputs(ins: list[In], outputs):
    """Inputs computed by other nodes become fresh roots (the graph is cut there)."""
    replace = {}
    for inp in ins:
        var = inp.variable
        if var.owner is not None:
            fresh = var.type.make_variable(var.name)
            replace[var] = fresh
            inp.variable = fresh
    if replace:
        outputs = clone_replace(outputs, replace)
    return outputs


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates=False, accept_inplace=False, name=None, rebuild_strict=True,
             allow_input_downcast=None, profile=None, on_unused_input=None,
             trust_input=False, mesh=None, shardings=None, out_shardings=None):
    """Compile a graph into a callable: ``f = function([x, y], z, updates=...)``.

    ``mesh``, ``shardings``, ``out_shardings`` (JAX backend): run on a device mesh
    (``th.sharding.mesh``) with inputs and shared variables split over its axes,
    ``{x: ("data", None)}``; see docs/scaling.md.

    ``accept_inplace``: the graph given may contain in-place operations (ops with a
    ``destroy_map``); without it such a graph is refused, as in Theano, since
    in-place forms are the compiler's to choose.  ``rebuild_strict=False`` lets a
    ``givens`` replacement have another type than what it replaces (the graph above
    it is rebuilt for it).  ``trust_input``: see ``Function.trust_input``.

    Python's cyclic garbage collector is paused while compiling: compiling makes
    many short-lived objects but no garbage cycles, and the collector's repeated
    sweeps over a large graph would make compile time grow faster than linearly.
    Test values are off while compiling: they check the user's graph as it is built,
    and nodes made by rewrites need none (their inputs may have none either).
    """
    with collector_paused(), config.change_flags(compute_test_value="off"):
        return _compile(inputs, outputs, mode, updates, givens, no_default_updates, name,
                        allow_input_downcast, profile, on_unused_input, trust_input,
                        accept_inplace, rebuild_strict, (mesh, shardings, out_shardings))


def _compile(inputs, outputs, mode, updates, givens, no_default_updates, name,
             allow_input_downcast, profile, on_unused_input, trust_input,
             accept_inplace=False, rebuild_strict=True, placement=(None, None, None)):
    mode_obj = get_mode(mode)       # first: a backend's own import is not compile time
    t0 = time.perf_counter()
    ins = _as_inputs(inputs)
    user_in_vars = [i.variable for i in ins]
    outs, return_list = _as_outputs(outputs)
    out_vars = [o.variable for o in outs]
    upd_pairs, walked = _updates(updates, out_vars, no_default_updates)
    upd_keys = [k for k, _ in upd_pairs]
    targets = out_vars + [v for _, v in upd_pairs]
    giv = [(k, _check_replacement(k, v, "givens", rebuild_strict))
           for k, v in _as_pairs(givens, "givens")]
    for key, _ in giv:
        if not isinstance(key, Variable):
            raise TypeError(f"givens: keys must be Variables, got {key!r:.40}")
    if giv:
        targets = clone_replace(targets, dict(giv), strict=rebuild_strict) if targets \
            else targets
    targets = _cut_inner_inputs(ins, targets) if targets else targets
    in_vars = [i.variable for i in ins]

    if walked is not None and len(walked[0]) == len(targets) \
            and all(a is b for a, b in zip(walked[0], targets)):
        roots = walked[1]           # nothing replaced or added since: the same walk
    else:
        roots = graph_inputs(targets) if targets else []
    in_set = set(in_vars)
    for var in roots:
        if var.owner is None and not isinstance(var, (Constant, SharedVariable)) \
                and var not in in_set:
            raise MissingInputError(
                f"the outputs depend on {var} ({var.type}), which is not an input of the "
                "function: add it to the inputs or replace it with givens"
            )
    used = set(roots)
    policy = on_unused_input or config.on_unused_input
    for pos, var in enumerate(in_vars):
        if var not in used and policy != "ignore":
            msg = (f"input {pos} ({var}) is not used to compute any output or update; "
                   "pass on_unused_input='ignore' (or 'warn') to allow this")
            if policy == "raise":
                raise UnusedInputError(msg)
            warnings.warn(msg, stacklevel=2)
    shared_vars = [v for v in roots if isinstance(v, SharedVariable)]
    for key in upd_keys:
        if key not in shared_vars:
            shared_vars.append(key)

    fg_inputs = in_vars + shared_vars
    n_out = len(out_vars)
    fgraph = FunctionGraph(fg_inputs, targets, clone=True,
                           update_mapping={n_out + j: len(in_vars) + shared_vars.index(k)
                                           for j, k in enumerate(upd_keys)})
    attach_destroy_handler(
        fgraph, mutable=[fgraph.inputs[k] for k, i in enumerate(ins) if i.mutable],
        updates={fgraph.inputs[fg_inputs.index(key)]: n_out + j for j, key in enumerate(upd_keys)})
    _check_user_inplace(fgraph, accept_inplace)
    t1 = time.perf_counter()
    prepare = getattr(mode_obj, "prepare_fgraph", None)
    if prepare is not None:
        prepare(fgraph)
    report = run_pipeline(fgraph, mode_obj.effective_query()) if hasattr(
        mode_obj, "effective_query") else None
    fgraph.forget_copies()
    t2 = time.perf_counter()

    args = [ArgSpec(name=i.name, type=i.variable.type, default=i.value,
                    has_default=i.has_default,
                    allow_downcast=i.allow_downcast if i.allow_downcast is not None
                    else allow_input_downcast,
                    mutable=i.mutable, borrow=i.borrow) for i in ins]
    sources = [("arg", k) for k in range(len(ins))] + \
        [("shared", v.container) for v in shared_vars]
    containers = [k.container for k in upd_keys]
    copy_out, copy_upd = output_copy_flags(fgraph, n_out, [o.borrow for o in outs], containers)
    fn_name = name if isinstance(name, str) and name.isidentifier() else "fn"
    host = [False] * len(ins) + [isinstance(v.type, TensorType) for v in shared_vars]
    spec = CallSpec(args=args, input_sources=sources, n_outputs=n_out, copy_outputs=copy_out,
                    update_containers=containers, copy_updates=copy_upd,
                    return_list=return_list, fn_name=fn_name, host_shared=host)
    linker = mode_obj.linker
    if any(p is not None for p in placement):      # mesh=: the backend places the values
        request = sharding_request(*placement, user_in_vars, fg_inputs, shared_vars, out_vars)
        linker = with_sharding(linker, request)
    if profile is None:        # a ProfileMode brings its own stats
        profile = getattr(mode_obj, "profile_stats", None)
    stats, runtime = stats_for(profile, name)
    code = None
    if runtime:
        core, code = profiled_link(linker, fgraph, spec, stats.memory)
    else:
        core = linker.make_function(fgraph, spec)
    t3 = time.perf_counter()
    timings = {"graph": t1 - t0, "rewrite": t2 - t1, "link": t3 - t2, "total": t3 - t0,
               "validate": getattr(fgraph, "validate_time", 0.0)}
    maker = FunctionMaker(fgraph, ins, outs, mode_obj, linker, timings, report, spec)
    entry = None
    if stats is not None:
        core, entry = attach(stats, runtime, core, code, maker, name or fn_name)
    fn = make_function_object(core, maker, name, return_list)
    fn.profile_requested = profile if profile is not None else config.profile
    fn.profile = stats
    fn.trust_input = trust_input
    if not trust_input and tiered.applies(mode_obj, linker):
        tiered.install(fn, fgraph, spec, entry if runtime else None)
    for hook in _function_hooks:
        hook(fn)
    return fn


# -- Variable.eval ---------------------------------------------------------------

_eval_cache: OrderedDict = OrderedDict()
EVAL_CACHE_SIZE = 64      # compiled functions kept for ``Variable.eval``, least recent out


def evaluate(var, inputs_to_values):
    """``var.eval({x: value})``: compile once per variable and input set, then call."""
    keys = tuple(inputs_to_values)
    cache_key = (var, keys)
    fn = _eval_cache.get(cache_key)
    if fn is None:
        fn = function(list(keys), var, on_unused_input="ignore")
        _eval_cache[cache_key] = fn
        while len(_eval_cache) > EVAL_CACHE_SIZE:
            _eval_cache.popitem(last=False)
    else:
        _eval_cache.move_to_end(cache_key)
    return fn(*[inputs_to_values[k] for k in keys])
