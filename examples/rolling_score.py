"""The rolling score of 10 million readings, against the plain Python loop.

The plugin scores every row; the Python loop is timed on the first million
rows and scaled, and its scores there must be bit-identical to the plugin's
(the score of a row depends only on the rows before it).

Run: ``python examples/rolling_score.py``; exits 1 if the check fails.
"""

from __future__ import annotations

import sys
import time
from array import array

import polars as pl

import polars_scores as ps
from polars_scores import reference

ROWS = 10_000_000
SAMPLE = 1_000_000


def main() -> int:
    # Readings from -100.0 to 100.0 in steps of 0.1, drawn at random.
    steps = pl.int_range(-1000, 1001, eager=True)
    readings = pl.DataFrame({"reading": steps.sample(ROWS, with_replacement=True, seed=7) / 10})

    start = time.perf_counter()
    scored = readings.with_columns(score=ps.col("reading").scores.rolling())
    plugin_s = time.perf_counter() - start

    sample = readings["reading"].head(SAMPLE).to_list()
    start = time.perf_counter()
    expected = reference.rolling(sample)
    python_s = (time.perf_counter() - start) * ROWS / SAMPLE

    print(scored.tail(3))
    print(f"rolling score of {ROWS:,} rows")
    print(f"  polars-scores  {plugin_s:7.3f} s  {plugin_s / ROWS * 1e9:6.1f} ns/row")
    print(
        f"  Python loop    {python_s:7.3f} s  {python_s / ROWS * 1e9:6.1f} ns/row"
        f"  (timed on {SAMPLE:,} rows, scaled)  {python_s / plugin_s:.0f}x slower"
    )

    got = scored["score"].head(SAMPLE).to_list()
    # Comparing the IEEE bytes also tells -0.0 from 0.0 and NaN payloads apart.
    identical = array("d", got).tobytes() == array("d", expected).tobytes()
    print(f"  bit-identical to the Python loop on the first {SAMPLE:,} rows: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
