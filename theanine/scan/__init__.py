"""Layer 3: loops.  ``th.scan`` (with ``th.scan.until``), ``th.map``, ``th.reduce``,
``th.foldl``, ``th.foldr``; the Scan op, its gradient and its rewrites."""

from theanine.scan import rewriting  # noqa: F401  (registers the scan pass)
from theanine.scan.basic import scan, until
from theanine.scan.op import Scan, ScanError, ScanInfo
from theanine.scan.views import foldl, foldr, map, reduce

scan.until = until

__all__ = ["scan", "until", "Scan", "ScanError", "ScanInfo", "map", "reduce", "foldl",
           "foldr"]
