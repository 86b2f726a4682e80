"""The rewrite engine: rules, passes, and the ordered pipeline modes select from."""
