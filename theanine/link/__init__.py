"""Layer 4: linkers turn a rewritten FunctionGraph into a callable."""
