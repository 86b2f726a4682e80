"""Indexing: basic and advanced ``__getitem__``, ``set_subtensor``, ``inc_subtensor``."""

from __future__ import annotations


def getitem(x, index):
    raise NotImplementedError("indexing is not implemented yet")
