"""``map``, ``reduce``, ``foldl``, ``foldr``: common loops written with ``scan``."""

from __future__ import annotations

from theanine.scan.basic import scan


def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False,
        mode=None, name=None):
    """``fn`` applied to each step of the sequences; returns ``(outputs, updates)``."""
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode,
                name=name or "map")


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None,
           name=None):
    """Like ``scan`` but returns only the last step of each output."""
    outputs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                            non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                            name=name or "reduce")
    if isinstance(outputs, list):
        return [out[-1] for out in outputs], updates
    return outputs[-1], updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """Reduce from the first step to the last."""
    return reduce(fn, sequences, outputs_info, non_sequences=non_sequences,
                  go_backwards=False, mode=mode, name=name or "foldl")


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """Reduce from the last step to the first."""
    return reduce(fn, sequences, outputs_info, non_sequences=non_sequences,
                  go_backwards=True, mode=mode, name=name or "foldr")
