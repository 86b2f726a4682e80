"""Compiling a tiered function's Numba version in a child process.

Numba's compiler is Python code that holds the GIL: compiled in a thread of the
user's process, it slows every call made meanwhile (4x for a training loop of
short steps).  A child process compiles on the idle core instead, from the
pickled graph, arguments and flags, and leaves the machine code in the disk cache;
the parent then only loads it (a few tenths of a second).  When the child cannot
be used (the graph does not pickle, the child fails), the parent compiles as
before.
"""

from __future__ import annotations

import atexit
import pickle
import subprocess
import sys
import threading

from theanine.config import config
from theanine.link import numba as numba_backend

#: the flags that decide what the Numba backend writes and where it caches it
_FLAGS = ("compiledir", "numba__parallel", "floatX", "fused_kernel")
TIMEOUT = 900

_running: set = set()          # children still compiling: stopped when the script ends
_running_lock = threading.Lock()


@atexit.register
def _stop_children() -> None:
    with _running_lock:
        for proc in _running:
            proc.kill()


def build_in_child(fgraph, spec, args, kwargs) -> str | None:
    """Compile ``fgraph`` for ``spec`` and these arguments in a child process; None
    when the machine code is in the disk cache, else why not."""
    try:
        payload = pickle.dumps({"fgraph": fgraph, "spec": spec, "args": args,
                                "kwargs": kwargs,
                                "flags": {k: getattr(config, k) for k in _FLAGS}})
    except Exception as exc:      # noqa: BLE001 - anything unpicklable: build here
        return f"the graph does not pickle ({exc!r:.200})"
    # the child imports theanine from where this process did
    boot = (f"import sys; sys.path[:0] = {[p for p in sys.path if p]!r}; "
            "from theanine.compile.tiered_build import _main; _main()")
    try:
        proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as exc:
        return f"no child process ({exc!r:.200})"
    with _running_lock:
        _running.add(proc)
    try:
        _, err = proc.communicate(payload, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"the child process took more than {TIMEOUT} s"
    finally:
        with _running_lock:
            _running.discard(proc)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"the child process failed ({proc.returncode}: {tail[0]:.200})"
    return None


def _main() -> None:
    data = pickle.load(sys.stdin.buffer)
    for key, value in data["flags"].items():
        setattr(config, key, value)
    fn = numba_backend.make_linker().make_function(data["fgraph"], data["spec"])
    fn(*data["args"], **data["kwargs"])


__all__ = ["build_in_child"]
