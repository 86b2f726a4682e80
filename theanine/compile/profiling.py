"""Profiling compiled functions: ``function(..., profile=True)`` and ``ProfileStats``.

A profiled function runs a variant of its generated code that reads a clock
after every node (see ``theanine.link.python.profiling``), and its entry point
is wrapped to time whole calls.  Linkers that do not generate Python (compiled
backends) get only the whole-call time, and the report says so; one that asks
for a guide (``per_node_guide``, the JAX backend) also has each call's inputs run
through the default engine with per-node clocks, outside the call's time, and
the report labels those tables as the guide they are.

``ProfileStats`` collects the profiles of one or more functions
(``function(..., profile=stats)`` shares one); ``stats.summary()`` prints the
tables, and every ProfileStats with something recorded is printed at
interpreter exit to ``config.profiling__destination``, followed by the sum of
all of them.
"""

from __future__ import annotations

import atexit
import functools
import sys

from theanine.compile.profiling_report import write_summary
from theanine.config import config
from theanine.link.callspec import side_run_spec
from theanine.link.python.codegen import VMLinker
from theanine.link.python.profiling import CodeProfile, clock, make_profiled_function

_all_stats: list = []
_atexit_registered = [False]


class FunctionProfile:
    """The profile of one compiled function inside a ``ProfileStats``."""

    def __init__(self, name: str, maker, linker_name: str, code: CodeProfile | None,
                 runtime: bool = True):
        self.name = name
        self.runtime = runtime
        self.maker = maker
        self.linker_name = linker_name
        self.code = code              # None: the linker gives whole-call times only
        self.call = [0.0, 0]          # seconds in __call__, number of calls
        self.phases = None            # {phase: seconds} a backend measures (JAX: compile,
                                      # transfer, run), read from its entry point
        self.backend_lines = None     # () -> [str]: what else the backend reports (JAX
                                      # on a mesh: placement, collectives, per device)
        self.tiering = None           # compile/tiered.py's Tiering: which tier ran each call

    @property
    def call_time(self) -> float:
        return self.call[0]

    @property
    def calls(self) -> int:
        return self.call[1]

    @property
    def body_time(self) -> float | None:
        return self.code.body_time[0] if self.code is not None else None

    @property
    def node_time(self) -> float | None:
        return sum(self.code.times) if self.code is not None else None

    def reset(self) -> None:
        self.call[0], self.call[1] = 0.0, 0
        if self.code is not None:
            self.code.reset()


class ProfileStats:
    """Time (and optionally memory) profiles of one or more compiled functions.

    ``ProfileStats(name=None, memory=None, optimizer=None)``: ``memory`` and
    ``optimizer`` default to the ``profile_memory`` / ``profile_optimizer``
    flags.  Pass an instance as ``function(..., profile=stats)`` to share it.
    """

    def __init__(self, name: str | None = None, memory: bool | None = None,
                 optimizer: bool | None = None, atexit_print: bool = True):
        self.name = name
        self.memory = config.profile_memory if memory is None else bool(memory)
        self.optimizer = config.profile_optimizer if optimizer is None else bool(optimizer)
        self.functions: list[FunctionProfile] = []
        self.atexit_print = atexit_print
        if atexit_print:
            _all_stats.append(self)
            if not _atexit_registered[0]:
                atexit.register(_print_at_exit)
                _atexit_registered[0] = True

    # -- collecting --------------------------------------------------------------
    def add_function(self, name: str, maker, linker_name: str,
                     code: CodeProfile | None, runtime: bool = True) -> FunctionProfile:
        entry = FunctionProfile(name, maker, linker_name, code, runtime)
        self.functions.append(entry)
        return entry

    @property
    def calls(self) -> int:
        return sum(f.calls for f in self.functions)

    @property
    def call_time(self) -> float:
        return sum(f.call_time for f in self.functions)

    def has_data(self) -> bool:
        return bool(self.functions) and (self.calls > 0 or self.optimizer)

    def reset(self) -> None:
        """Forget the run times (compile times and rewrite reports stay)."""
        for entry in self.functions:
            entry.reset()

    # -- reporting ---------------------------------------------------------------
    def summary(self, file=None, n_apply: int | None = None, n_ops: int | None = None) -> None:
        """Print the profile (to ``file``, default ``sys.stderr``)."""
        out = sys.stderr if file is None else file
        out.write(self.summary_text(n_apply, n_ops))

    def summary_text(self, n_apply: int | None = None, n_ops: int | None = None) -> str:
        lines: list[str] = []
        write_summary(self, lines.append,
                      config.profiling__n_apply if n_apply is None else n_apply,
                      config.profiling__n_ops if n_ops is None else n_ops)
        return "\n".join(lines) + "\n"

    def __repr__(self):
        names = ", ".join(f.name for f in self.functions)
        return f"<ProfileStats {self.name or ''} [{names}]>"


def merged(stats_list, name: str = "Sum of all profiles") -> ProfileStats:
    """One ProfileStats holding every function of ``stats_list`` (for the sum)."""
    total = ProfileStats(name, memory=any(s.memory for s in stats_list),
                         optimizer=any(s.optimizer for s in stats_list), atexit_print=False)
    for stats in stats_list:
        total.functions.extend(stats.functions)
    return total


def _destination_stream():
    dest = config.profiling__destination
    if dest in ("stderr", ""):
        return sys.stderr, False
    if dest == "stdout":
        return sys.stdout, False
    return open(dest, "a", encoding="utf-8"), True


def print_all(stream=None) -> None:
    """Print every registered ProfileStats that recorded something, then their sum."""
    todo = [s for s in _all_stats if s.atexit_print and s.has_data()]
    if not todo:
        return
    close = False
    if stream is None:
        stream, close = _destination_stream()
    try:
        for stats in todo:
            stats.summary(file=stream)
        if len(todo) > 1:
            merged(todo).summary(file=stream)
    finally:
        if close:
            stream.close()


def _print_at_exit() -> None:
    print_all()


# -- wiring into ``function`` -----------------------------------------------------


def stats_for(profile, name: str | None) -> tuple[ProfileStats | None, bool]:
    """``(stats, runtime)`` for a new function from its ``profile`` argument.

    ``runtime`` is False when only ``profile_optimizer`` asked for a profile: the
    function then runs unprofiled and its profile holds the rewrite report.
    """
    if isinstance(profile, ProfileStats):
        return profile, True
    if profile is None:
        profile = config.profile
    if isinstance(profile, str):
        return ProfileStats(name=profile), True
    if profile:
        return ProfileStats(name=name), True
    if config.profile_optimizer:
        return ProfileStats(name=name, optimizer=True), False
    return None, False


def timed_calls(core, counter: list):
    """Wrap a compiled entry point to add its time and call count to ``counter``."""

    def call(*args, **kwargs):
        start = clock()
        try:
            return core(*args, **kwargs)
        finally:
            counter[0] += clock() - start
            counter[1] += 1

    functools.update_wrapper(call, core)
    return call


def profiled_link(linker, fgraph, spec, memory: bool) -> tuple:
    """Link with per-node clocks; return ``(entry point, CodeProfile or None)``.

    Linkers with a ``codegen_class`` (the generated-Python ones: ``vm``, ``py`` and
    their subclasses) get per-node clocks; any other linker is timed per call only.
    """
    if getattr(linker, "codegen_class", None) is None:
        core = linker.make_function(fgraph, spec)
        if not getattr(linker, "per_node_guide", False):
            return core, None
        code = CodeProfile(memory=memory)
        code.guide = make_profiled_function(VMLinker(), fgraph, side_run_spec(spec), code)
        return core, code
    code = CodeProfile(memory=memory)
    return make_profiled_function(linker, fgraph, spec, code), code


def _guided(timed, guide):
    """Run the guide (untimed) on the call's arguments, then the timed function."""

    def call(*args, **kwargs):
        guide(*args, **kwargs)
        return timed(*args, **kwargs)

    functools.update_wrapper(call, timed)
    return call


def attach(stats: ProfileStats, runtime: bool, core, code, maker, name: str):
    """Register a compiled function in ``stats``; return its (timed) entry point and
    its ``FunctionProfile``."""
    linker = maker.linker
    entry = stats.add_function(name, maker, getattr(linker, "name", type(linker).__name__),
                               code, runtime)
    entry.phases = getattr(core, "phase_times", None)
    measure = getattr(core, "measure_phases", None)    # a backend timing its own phases
    if runtime and measure is not None:
        measure()
    report = getattr(core, "profile_report", None)    # starts the backend's own clocks
    entry.backend_lines = report() if report is not None and runtime else None
    if not runtime:
        return core, entry
    guide = getattr(code, "guide", None)
    timed = timed_calls(core, entry.call)
    return (_guided(timed, guide) if guide is not None else timed), entry
