"""polars-scores: a rolling score, a positive-power total and a dot product as
native Polars expressions, computed by Rust kernels.

``import polars_scores`` registers the ``scores`` namespace on ``pl.Expr`` and
``pl.Series``.
"""

from __future__ import annotations

# The compiled library reports the version it was built as (Cargo.toml's).
from polars_scores._internal import __version__
from polars_scores.namespace import ScoresExpr, ScoresNamespace, col
from polars_scores.series_namespace import ScoresSeriesNamespace

__all__ = ["ScoresExpr", "ScoresNamespace", "ScoresSeriesNamespace", "__version__", "col"]
