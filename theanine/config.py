"""Typed configuration flags.

Flags are read, in increasing priority, from their defaults, the rc file
(``~/.theaninerc`` or ``$THEANINERC``, INI with a ``[global]`` section and
``[section]`` prefixes, e.g. ``[profiling] n_apply=20``) and the
``THEANINE_FLAGS`` environment variable (``"floatX=float32,profile=True"``).
This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import configparser
import contextlib
import functools
import os
from dataclasses import dataclass
from typing import Any, Callable


class ConfigError(ValueError):
    """A flag name is unknown or its value is not allowed."""


def _parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    low = str(text).strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected True or False, got {text!r}")


@dataclass
class Flag:
    name: str
    default: Any
    doc: str
    parse: Callable[[Any], Any]
    allowed: tuple | None = None

    def convert(self, value: Any) -> Any:
        try:
            out = self.parse(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad value {value!r} for flag '{self.name}': {exc}") from None
        if self.allowed is not None and out not in self.allowed:
            raise ConfigError(
                f"bad value {value!r} for flag '{self.name}'; allowed values: "
                + ", ".join(repr(a) for a in self.allowed)
            )
        return out


class Config:
    """Holds flag values; attribute access reads them, assignment validates."""

    def __init__(self) -> None:
        object.__setattr__(self, "_flags", {})
        object.__setattr__(self, "_values", {})
        # settings read before the value they name was registered (a backend's
        # mode or linker): checked by ``allow`` and when the flag is first read
        object.__setattr__(self, "_pending", {})

    def add(self, name, default, doc, parse=str, allowed=None):
        flag = Flag(name, default, doc, parse, tuple(allowed) if allowed else None)
        self._flags[name] = flag
        self._values[name] = flag.convert(default)

    def allow(self, name: str, *values) -> None:
        """Add allowed values to a flag (``register_linker``/``register_mode`` do, so
        ``config.linker``/``config.mode`` accept what was registered).  A value
        named in ``THEANINE_FLAGS`` or the rc file before its backend registered
        is checked again now."""
        flag = self._flag(name)
        if flag.allowed is not None:
            flag.allowed = flag.allowed + tuple(v for v in values if v not in flag.allowed)
        pending = self._pending.pop(name, None)
        if pending is not None:
            try:
                self._values[name] = flag.convert(pending)
            except ConfigError:
                self._pending[name] = pending

    def _flag(self, name: str) -> Flag:
        name = name.replace(".", "__")       # Theano's dotted form: "warn.round"
        try:
            return self._flags[name]
        except KeyError:
            close = [n for n in self._flags if n.split("__")[-1] == name.split("__")[-1]]
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown flag {name!r}.{hint} Known flags: {', '.join(sorted(self._flags))}"
            ) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._flags and any(f.startswith(name + "__") for f in self._flags):
            return _Section(self, name)
        name = self._flag(name).name
        if name in self._pending:
            value = self._pending.pop(name)
            self._values[name] = self._flag(name).convert(value)   # still unknown: say so
        return self._values[name]

    def _set_from_settings(self, name: str, value: Any) -> None:
        """Like assignment, but a value not allowed *yet* for an extensible flag
        (``mode``, ``linker``) waits for its registration instead of failing."""
        flag = self._flag(name)
        try:
            self._values[flag.name] = flag.convert(value)
        except ConfigError:
            if flag.name not in _EXTENSIBLE:
                raise
            self._pending[flag.name] = value

    def __setattr__(self, name: str, value: Any) -> None:
        flag = self._flag(name)
        self._values[flag.name] = flag.convert(value)

    def flags(self) -> dict[str, Flag]:
        return dict(self._flags)

    @contextlib.contextmanager
    def _changed(self, values: dict[str, Any]):
        old = {}
        try:
            for key, value in values.items():
                old[self._flag(key).name] = self._values[self._flag(key).name]
                setattr(self, key, value)
            yield self
        finally:
            for key, value in old.items():
                self._values[key] = value

    def change_flags(self, **values):
        """Context manager and decorator that sets flags and restores them after."""
        return _FlagChange(self, values)

    def __str__(self) -> str:
        return "\n".join(f"{n} = {self._values[n]!r}" for n in sorted(self._flags))


class _FlagChange(contextlib.ContextDecorator):
    def __init__(self, cfg: Config, values: dict[str, Any]):
        self.cfg = cfg
        self.values = values
        self._stack: list = []

    def __enter__(self):
        cm = self.cfg._changed(self.values)
        self._stack.append(cm)
        return cm.__enter__()

    def __exit__(self, *exc):
        return self._stack.pop().__exit__(*exc)


def _parse_float_dtype(text: Any) -> str:
    return str(text)


class _Section:
    """Theano's nested spelling: ``config.warn.round`` is the flag ``warn__round``."""

    def __init__(self, config: Config, prefix: str) -> None:
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._config, f"{self._prefix}__{name}")

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._config, f"{self._prefix}__{name}", value)

    def __repr__(self) -> str:
        return f"<config section {self._prefix!r}>"


_EXTENSIBLE = frozenset({"mode", "linker"})   # values added by register_mode/_linker

config = Config()
_add = config.add
_add("floatX", "float64", "Default float dtype of tensor constructors",
     allowed=("float64", "float32", "float16"))
_add("mode", "FAST_RUN", "Default compilation mode",
     allowed=("FAST_RUN", "FAST_COMPILE", "DebugMode", "NanGuardMode", "ProfileMode", "PY"))
_add("linker", "auto", "Default linker (auto picks the mode's)",
     allowed=("auto", "py", "vm", "cvm", "debug"))
_add("optimizer", "auto", "Default rewrite set (auto picks the mode's)",
     allowed=("auto", "fast_run", "fast_compile", "merge", "None"))
_add("optimizer_excluding", "", "Colon-separated rewrite tags or names to exclude")
_add("optimizer_including", "", "Colon-separated rewrite tags or names to include")
_add("profile", False, "Profile every compiled function", _parse_bool)
_add("profile_memory", False, "Also profile memory (needs profile)", _parse_bool)
_add("profile_optimizer", False, "Profile the rewrite passes", _parse_bool)
_add("trace_rewrites", False, "Record every rewrite (rule, pass, old and new variable) "
     "for f.maker.explain", _parse_bool)
_add("profiling__destination", "stderr", "Where profiles are printed at exit")
_add("profiling__n_apply", 20, "Rows in the Apply table of a profile", int)
_add("profiling__n_ops", 20, "Rows in the Ops table of a profile", int)
_add("compute_test_value", "off", "Evaluate test values while building graphs",
     allowed=("off", "ignore", "warn", "raise"))
_add("print_test_value", False, "Show test values in str()/repr() of variables", _parse_bool)
_add("exception_verbosity", "low", "Detail of run-time error messages",
     allowed=("low", "high"))
_add("traceback__limit", 8, "How many user frames each Apply remembers", int)
_add("compiledir", os.path.join(os.path.expanduser("~"), ".theanine", "compiledir"),
     "Directory of the on-disk compile cache")
_add("allow_gc", True, "Free intermediates as soon as they are dead", _parse_bool)
_add("warn_float64", "ignore", "What to do when a float64 variable is created",
     allowed=("ignore", "warn", "raise"))
_add("cast_policy", "numpy", "Type promotion policy", allowed=("numpy",))
_add("on_unused_input", "raise", "Default for on_unused_input",
     allowed=("raise", "warn", "ignore"))
_add("DebugMode__patience", 10, "Runs of each function DebugMode makes", int)
_add("DebugMode__check_finite", True, "DebugMode treats NaN/Inf as an error", _parse_bool)
_add("DebugMode__check_py", True, "DebugMode compares against perform", _parse_bool)
_add("DebugMode__check_preallocated_output", "", "Unused; kept for Theano compatibility")
_add("NanGuardMode__big_is_error", True, "Values above 1e10 are an error", _parse_bool)
_add("NanGuardMode__nan_is_error", True, "NaN is an error", _parse_bool)
_add("NanGuardMode__inf_is_error", True, "Inf is an error", _parse_bool)
_add("fused_kernel", "auto", "Engine of fused elementwise kernels",
     allowed=("auto", "numba", "numexpr", "numpy"))
_add("fused_kernel_async", True, "Run NumPy while native kernels compile", _parse_bool)
_add("tiered", True, "FAST_RUN functions that prove hot switch to their whole-function "
     "Numba version, compiled in the background (compile/tiered.py)", _parse_bool)
_add("tiered__calls", 20, "Calls a function is watched for before tiering decides", int)
_add("tiered__seconds", 0.2, "Time those calls must have taken for the Numba version "
     "to be tried", float)
_add("tiered__min_call", float("inf"), "A function that is not hot after the watched calls "
     "keeps a call counter (tiered once its calls add up to tiered__seconds) when its typical "
     "call takes at least this many seconds; inf (the default) leaves it alone: the build "
     "runs in a thread and slows the calls meanwhile", float)
_add("tiered__child", True, "Compile a tiered function's Numba version in a child process "
     "(the idle core, no GIL held in the user's process), then load it from the disk cache",
     _parse_bool)
_add("tiered__faster", 0.9, "The Numba version is swapped in when its call takes at most "
     "this share of a typical default call (inf: whenever its results agree)", float)
_add("numba__openmp_passive", True, "Numba's OpenMP threads sleep between parallel kernels "
     "(OMP_WAIT_POLICY=PASSIVE, unless the environment sets a wait policy): spinning threads "
     "took the cores from BLAS calls", _parse_bool)
_add("numba__wide_vectors", True, "Numba code uses 512-bit vectors on CPUs with AVX-512 "
     "(NUMBA_CPU_FEATURES, unless the environment sets it): LLVM prefers 256-bit ones there, "
     "1.7x slower for the fused kernels' math", _parse_bool)
_add("numba__parallel", True, "Whole-function Numba code (mode=NUMBA, tiered) hands large "
     "flat elementwise math and full reductions outside loops to the fused kernels' "
     "prange drivers (both cores)", _parse_bool)
_add("numba__numpy_blas", True, "Whole-function Numba code calls NumPy's own BLAS (one "
     "thread pool with the default engine) where NumPy's OpenBLAS exports CBLAS; else, or "
     "off, SciPy's (read once per process)", _parse_bool)
_add("numba__steady_heap", True, "On the first call of a Numba-compiled function, keep "
     "glibc's heap from being given back and refilled page by page around every call "
     "(mallopt: blocks under 32 MB from the heap, 64 MB of free space kept; the values "
     "glibc itself reaches after freeing a large block)", _parse_bool)
_add("cache", True, "Use the on-disk compile cache", _parse_bool)
_add("device", "cpu", "Where JAX-mode functions run: cpu, cuda (the first GPU), cudaN "
     "or gpu; the default engine always runs on the CPU",
     allowed=("cpu", "cuda", "gpu") + tuple(f"cuda{i}" for i in range(16)))
# Theano 1.0 keys that programs read; accepted, harmless (no C compiler, no GPU ops)
for _bug in ("argmax_pushdown_bug", "gpusum_01_011_0111_bug", "sum_sum_bug",
             "sum_div_dimshuffle_bug", "subtensor_merge_bug", "gpu_set_subtensor1",
             "vm_gc_bug", "signal_conv2d_interface", "reduce_join", "inc_set_subtensor1",
             "round", "identify_1pexp_bug", "conv3d_gradweights"):
    _add(f"warn__{_bug}", False, "Theano's warning about an old bug (theanine never had "
         "it)", _parse_bool)
_add("warn__ignore_bug_before", "0.9", "Theano: bugs fixed before this version are not "
     "warned about")
_add("blas__ldflags", "", "Theano's BLAS link flags (theanine uses NumPy's BLAS)")
_add("gcc__cxxflags", "", "Theano's extra C++ flags (theanine compiles no C)")
_add("cxx", "", "Theano's C++ compiler (empty: theanine compiles no C)")
_add("openmp", False, "Theano's OpenMP switch (unused)", _parse_bool)
_add("openmp_elemwise_minsize", 200000, "Theano's OpenMP threshold (unused)", int)
_add("scan__allow_gc", False, "Theano: free scan's inner values between steps", _parse_bool)
_add("scan__allow_output_prealloc", True, "Theano: preallocate scan outputs", _parse_bool)
_add("scan__debug", False, "Theano: scan debugging output", _parse_bool)
_add("dnn__enabled", "False", "Theano's cuDNN switch (theanine has no GPU ops)")
_add("optimizer_verbose", False, "Theano: print each rewrite applied (unused)", _parse_bool)
_add("check_input", True, "Theano: C code checks its inputs (unused)", _parse_bool)
_add("deterministic", "default", "Theano: prefer deterministic GPU algorithms (unused)",
     allowed=("default", "more"))
_add("graphviz_dot", "dot", "Graphviz's dot program (a name on PATH or a full path) "
     "that pydotprint runs")


def _apply_settings(pairs: dict[str, str], source: str) -> None:
    for key, value in pairs.items():
        key = key.strip()
        if not key:
            continue
        try:
            config._set_from_settings(key, value.strip())
        except ConfigError as exc:
            raise ConfigError(f"{exc} (from {source})") from None


def parse_flags_string(text: str) -> dict[str, str]:
    """Split ``"a=1,b=2"`` into a dict, rejecting entries without ``=``."""
    out = {}
    for item in text.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ConfigError(f"THEANINE_FLAGS entry {item!r} has no '=' (expected name=value)")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _load_rc(path: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.optionxform = str
    parser.read(path)
    out = {}
    for section in parser.sections():
        for key, value in parser.items(section):
            name = key if section == "global" else f"{section}__{key}"
            out[name] = value
    return out


@functools.cache
def _load_environment() -> None:
    rc = os.environ.get("THEANINERC", os.path.join(os.path.expanduser("~"), ".theaninerc"))
    for path in rc.split(os.pathsep):
        if path and os.path.isfile(path):
            _apply_settings(_load_rc(path), path)
    _apply_settings(parse_flags_string(os.environ.get("THEANINE_FLAGS", "")), "THEANINE_FLAGS")


def environment_variable(name: str, default: str | None = None) -> str | None:
    """Read an environment variable (the one sanctioned place to do so)."""
    return os.environ.get(name, default)


def set_environment_variable(name: str, value: str) -> None:
    """Set an environment variable that a library reads when it starts (Numba, its
    OpenMP runtime): the one sanctioned place to do so."""
    os.environ[name] = value


_load_environment()
change_flags = config.change_flags

