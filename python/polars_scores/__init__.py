"""polars-scores: a rolling score, a positive-power total and a dot product as
native Polars expressions, computed by Rust kernels.

``import polars_scores`` registers the ``scores`` namespace on ``pl.Expr`` and
``pl.Series``.
"""

from __future__ import annotations

from polars_scores.namespace import (
    ScoresExpr,
    ScoresNamespace,
    ScoresSeriesNamespace,
    col,
)

__all__ = ["ScoresExpr", "ScoresNamespace", "ScoresSeriesNamespace", "col"]
__version__ = "0.1.0"
