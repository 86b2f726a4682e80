"""Keep the C heap from shrinking and regrowing around every compiled call.

Compiled functions allocate their intermediate arrays with ``malloc`` on each call
and free them before returning.  glibc gives the top of its heap back to the system
whenever more than ``M_TRIM_THRESHOLD`` bytes lie free there, so the next call's
arrays are new pages: a page fault and a zeroed page per 4 KiB.  On the RNN
gradient benchmark (a few 6.5 MB arrays per call) the kernel's page handling took
30% of the time: 58-66 ms per call against 39-44 ms with the thresholds below.  The
default engine keeps its intermediate storage between calls and does not see this.

glibc raises both thresholds by itself after it frees a large block it had mapped
(the trim threshold to twice the mapping threshold, up to a 32 MB mapping
threshold); :func:`steady_heap` sets that end state at once.  It is process-wide,
applied on the first call of a Numba-compiled function, only on glibc, once, and not
where the user set ``MALLOC_TRIM_THRESHOLD_``/``MALLOC_MMAP_THRESHOLD_`` or turned
``config.numba__steady_heap`` off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

from theanine.config import config, environment_variable

#: blocks below this size come from the heap (glibc's own ceiling for its dynamic one)
MMAP_THRESHOLD = 32 * 2**20
#: free bytes at the heap's top kept, not given back (glibc's dynamic rule: 2x the above)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")

_applied = False


def _mallopt():
    """glibc's ``mallopt``, or None on another C library."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None


def steady_heap() -> bool:
    """Set the thresholds (see the module docstring); whether they were set now."""
    global _applied
    if _applied or not config.numba__steady_heap:
        return False
    _applied = True
    if any(environment_variable(name) is not None for name in _USER_VARIABLES):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
