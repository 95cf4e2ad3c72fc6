"""The benchmark's data: one frame of random numbers per size."""

from __future__ import annotations

import numpy as np
import polars as pl

KEYS = 100_000
"""Distinct keys (and so groups) in the per-key cases."""
FEW_KEYS = 100
"""Distinct keys in the case of long per-key histories (multi-core by=)."""


def make_frame(n: int, seed: int = 0) -> pl.DataFrame:
    """``n`` rows: x (Float64 of both signs), k (Int64 keys below ``KEYS``, in
    random order), few (Int64 keys below ``FEW_KEYS``), and a (Int64) and b
    (Float64) for the dot product.

    Examples
    --------
    >>> dict(make_frame(3).schema)
    {'x': Float64, 'k': Int64, 'few': Int64, 'a': Int64, 'b': Float64}
    """
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "x": rng.standard_normal(n) * 10.0,
            "k": rng.integers(0, KEYS, n),
            "few": rng.integers(0, FEW_KEYS, n),
            "a": rng.integers(-1000, 1001, n),
            "b": rng.standard_normal(n),
        }
    )
