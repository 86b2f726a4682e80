"""Layer 5: debugging aids — test values, NaN guard, DebugMode."""

from theanine.debug.test_values import compute_test_value, get_test_value

__all__ = ["compute_test_value", "get_test_value"]
