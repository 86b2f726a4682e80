"""Layer 5: debugging aids — test values, NaN guard, DebugMode."""

from theanine.debug.debugmode import DebugMode
from theanine.debug.errors import (
    BadDestroyMap,
    BadOptimization,
    BadThunkOutput,
    BadViewMap,
    DebugModeError,
    InvalidValueError,
    StochasticOrder,
)
from theanine.debug.nanguard import NanGuardError, NanGuardMode
from theanine.debug.test_values import compute_test_value, get_test_value

__all__ = ["compute_test_value", "get_test_value", "DebugMode", "NanGuardMode", "NanGuardError",
           "DebugModeError", "BadOptimization", "BadThunkOutput", "BadDestroyMap",
           "BadViewMap", "InvalidValueError", "StochasticOrder"]
