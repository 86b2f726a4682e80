"""Tiered execution: FAST_RUN functions start on the default engine at once and, once
they prove hot, run as one Numba-compiled function.

A new function is watched for its first ``config.tiered__calls`` calls.  If those
took at least ``config.tiered__seconds`` in all (or, when ``config.tiered__min_call``
is set and a function's typical call takes at least that long, once a call counter
says that the calls since have added up to it), the Numba backend builds the same
rewritten graph in a background thread: a child process compiles it into the disk
cache (``tiered_build.py``; failing that, the thread compiles it), and one run on
copies of the hot call's arguments and of the shared values loads it (nothing is
written: no update, no argument or shared value touched).  Its outputs are
compared with the default engine's on the same copies, and it is swapped in,
between two calls, only when it agrees and takes at most ``config.tiered__faster``
(0.9) of the default engine's time on those copies (the best of a few runs of
each, in that thread).  Otherwise, and for functions whose calls are too short to
count, the watching wrapper removes itself: calls go straight to the default
engine, at no cost (a counted function pays one Python call, about 0.2 us, until
it is built).  Short scripts never wait for a compiler.

``f.tiering`` says what happened (``state``, ``reason``, calls per tier);
``config.tiered=False`` turns it off.  ``trust_input`` functions are not tiered.
A profiled function is: its wrapper stays, and the profile says which tier ran
each call (runs of consecutive calls with their time), the Numba version's compile
time and call-outs; its per-node tables cover the default engine's calls.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import replace
from time import perf_counter

import numpy as np

from theanine.compile.profiling import timed_calls
from theanine.compile.tiered_build import build_in_child
from theanine.config import config
from theanine.link import numba as numba_backend
from theanine.link.callspec import side_run_spec
from theanine.link.python.codegen import VMLinker


def applies(mode_obj, linker) -> bool:
    """Whether a function compiled with this mode is tiered."""
    return (config.tiered and type(linker) is VMLinker
            and mode_obj.name in (None, "FAST_RUN") and numba_backend.available())


class Tiering:
    """Watches one Function's calls and swaps in its Numba version when it pays."""

    def __init__(self, fn, fgraph, spec, profile=None):
        self.fn = fn
        self.default = fn.fn
        self.fgraph = fgraph
        self.spec = spec
        self.profile = profile        # the function's FunctionProfile, when profiled
        self.state = "watching"
        self.reason = ""
        self.calls = {"default": 0, "numba": 0}
        self.runs: list[list] = []    # [tier, first call (1-based), calls, seconds]
        self.numba_phases = None      # the Numba version's compile time and call-outs
        self.child = None             # why the child process did not compile it, if not
        if profile is not None:
            profile.tiering = self
        self._seconds = 0.0          # time of the calls after the first
        self._first = 0.0
        self._numba_call = None
        type(fn).__call__ = staticmethod(self._watch)

    def _watch(self, *args, **kwargs):
        start = perf_counter()
        result = self.default(*args, **kwargs)
        elapsed = perf_counter() - start
        self.calls["default"] += 1
        self._note("default", elapsed)
        if self.calls["default"] == 1:
            self._first = elapsed         # it compiled kernels: not a typical call
        else:
            self._seconds += elapsed
        if self.calls["default"] >= config.tiered__calls and self.state == "watching":
            self._decide(args, kwargs)
        return result

    def _decide(self, args, kwargs) -> None:
        typical = self.calls["default"] - 1
        mean = self._seconds / typical if typical else self._first
        total = self._seconds + self._first
        if total >= config.tiered__seconds:
            self._settle(self.default)
            self._start_build(args, kwargs)
        elif mean >= config.tiered__min_call and not self.fn.trust_input:
            # not hot yet, but worth a counter: built once the calls add up
            self._left = math.ceil((config.tiered__seconds - total) / mean)
            self._counted_core = self.default if self.profile is None else \
                self._noted(self.default, "default")
            type(self.fn).__call__ = staticmethod(self._count)
        else:
            self._settle(self.default)
            self.state, self.reason = "default", (
                f"not hot: {self.calls['default']} calls took {total:.3g} s "
                f"(config.tiered__seconds={config.tiered__seconds}), "
                f"{mean * 1e6:.3g} us per call "
                f"(config.tiered__min_call={config.tiered__min_call})")

    def _count(self, *args, **kwargs):
        """Calls after the watched ones, until their estimated time is hot enough."""
        result = self._counted_core(*args, **kwargs)
        self.calls["default"] += 1
        self._left -= 1
        if self._left <= 0 and self.state == "watching":
            self._settle(self.default)
            self._start_build(args, kwargs)
        return result

    def _start_build(self, args, kwargs) -> None:
        self.state = "compiling"
        trial = (copy.deepcopy(args), copy.deepcopy(kwargs))
        thread = threading.Thread(target=self._build, args=(trial,), daemon=True,
                                  name="theanine-tiered-compile")
        thread.start()        # a daemon: a script that ends meanwhile does not wait
        self.thread = thread

    def _note(self, tier: str, seconds: float) -> None:
        """Add one call to the runs of consecutive calls per tier."""
        last = self.runs[-1] if self.runs else None
        if last is not None and last[0] == tier:
            last[2] += 1
            last[3] += seconds
        else:
            first = last[1] + last[2] if last is not None else 1
            self.runs.append([tier, first, 1, seconds])

    def _settle(self, core, tier: str = "default") -> None:
        """Calls go straight to ``core`` from now on (unless ``trust_input`` took over);
        a profiled function keeps a wrapper that notes the tier of each call."""
        if self.fn.trust_input:
            return
        if self.profile is not None:
            core = self._noted(core, tier)
        type(self.fn).__call__ = staticmethod(core)

    def _noted(self, core, tier: str):
        def call(*args, **kwargs):
            start = perf_counter()
            try:
                return core(*args, **kwargs)
            finally:
                self._note(tier, perf_counter() - start)
        return call

    def profile_lines(self) -> list[str]:
        """What the profile prints about the tiers (``profiling_report.header``)."""
        names = {"default": "default engine", "numba": "Numba version"}
        lines = [f"tiered: {self.state}" + (f" ({self.reason})" if self.reason else "")]
        for tier, first, count, seconds in self.runs:
            span = f"call {first}" if count == 1 else f"calls {first}-{first + count - 1}"
            lines.append(f"  {span}: {names[tier]}, {seconds * 1e3:.3f} ms "
                         f"({seconds / count * 1e6:.1f} us per call)")
        for phase, seconds in (self.numba_phases or {}).items():
            lines.append(f"  Numba version {phase}: {seconds * 1e3:.3f} ms")
        if self.calls["numba"]:
            lines.append("  (per-node tables cover the default engine's calls only)")
        return lines

    def _build(self, trial) -> None:
        try:
            self._try_numba(trial)
        except Exception as exc:      # noqa: BLE001 - the default engine keeps the calls
            self.state, self.reason = "default", f"the Numba version failed: {exc!r:.300}"

    def _try_numba(self, trial) -> None:
        args, kwargs = trial
        linker = numba_backend.make_linker()
        dry = replace(side_run_spec(self.spec), return_list=True)
        # compiled by a child process into the disk cache (None: done), else below
        self.child = build_in_child(self.fgraph, dry, args, kwargs) \
            if config.tiered__child else "config.tiered__child is off"
        inputs = (copy.deepcopy(args), copy.deepcopy(kwargs))
        default_fn = VMLinker().make_function(self.fgraph, dry)
        want = default_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))
        # both engines timed here, on the same copies: the best of a few runs each (one
        # run is at the mercy of the other threads).  The default engine goes first:
        # right after the Numba version's BLAS calls (SciPy's OpenBLAS, a second pool
        # of threads, left spinning) NumPy's BLAS ran up to 10x slower, and a 5,000-row
        # logistic-regression step swapped to a Numba version 1.3x slower than it
        _, default_seconds = _best_of(default_fn, inputs)
        trial_fn = linker.make_function(self.fgraph, dry)
        trial_fn(*copy.deepcopy(args), **copy.deepcopy(kwargs))        # compiles or loads
        self.numba_phases = trial_fn.phase_times
        got, seconds = _best_of(trial_fn, inputs)
        for k, (g, w) in enumerate(zip(got, want)):
            if not _agree(np.asarray(g), np.asarray(w)):
                self.state, self.reason = "default", f"the Numba version's output {k} differs"
                return
        if seconds > config.tiered__faster * default_seconds:
            self.state, self.reason = "default", (
                f"the Numba version was not faster ({seconds:.3g} s against "
                f"{default_seconds:.3g} s per call)")
            return
        numba_fn = linker.make_function(self.fgraph, self.spec)
        self._numba_call = numba_fn
        compiled = dict(self.numba_phases)
        self.numba_phases = numba_fn.phase_times      # its call-outs, from now on
        self.numba_phases.update(compiled)
        if self.profile is not None:         # its calls count in the profile's totals
            numba_fn = timed_calls(numba_fn, self.profile.call)

        def counted(*a, **kw):
            self.calls["numba"] += 1
            return numba_fn(*a, **kw)

        self.state, self.reason = "numba", (
            f"{seconds:.3g} s per call against {default_seconds:.3g} s on the default engine")
        self._settle(counted, "numba")


TRIAL_RUNS = 5          # runs of each engine that the swap decision takes the best of
TRIAL_SECONDS = 1.0     # ... fewer when they take longer than this


def _best_of(fn, inputs) -> tuple:
    """(the last result, the shortest of up to TRIAL_RUNS calls of ``fn``)."""
    best, spent, result = float("inf"), 0.0, None
    for _ in range(TRIAL_RUNS):
        start = perf_counter()
        result = fn(*inputs[0], **inputs[1])
        elapsed = perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > TRIAL_SECONDS:
            break
    return result, best


def _agree(got: np.ndarray, want: np.ndarray) -> bool:
    """Same shape and dtype, equal integers, floats within rounding of each other
    (of their precision: summation orders differ between the engines)."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    if got.dtype.kind in "biuOUS":
        return bool(np.array_equal(got, want))
    rtol, atol = (1e-6, 1e-12) if np.finfo(got.dtype).bits >= 64 else (1e-4, 1e-5)
    return bool(np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True))


def install(fn, fgraph, spec, profile=None) -> None:
    """Watch ``fn`` (see the module docstring); ``fn.tiering`` reports, and so does
    ``profile`` (its FunctionProfile) when the function is profiled."""
    fn.tiering = Tiering(fn, fgraph, spec, profile)


__all__ = ["applies", "install"]
