"""Rules that keep several numbers: Holt's trend, a two-sided CUSUM per
sensor, and session ids after 30 minutes of quiet, each checked against the
same loop in Python.

A mapping rule names its states; every expression reads every state as it
was before the row, and all update at once, as Python's tuple assignment
``level, trend = (e1, e2)`` does. The result is a struct with a field per
state (``unnest`` makes them columns), bit-identical to the Python loop.

Run: ``python examples/several_states.py [ROWS]``; exits 1 if a check fails.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import polars as pl

import polars_scores as ps

HOLT = {
    "level": "0.3 * value + 0.7 * (level + trend)",
    "trend": "0.1 * (0.3 * value + 0.7 * (level + trend) - level) + 0.9 * trend",
}
CUSUM = {
    "upper": "max(0, upper + value - 0.5)",
    "lower": "max(0, lower - value - 0.5)",
}
SESSION = {
    "session": "session + 1 if value - last > 1800 else session",
    "last": "value",
}


def readings(rows: int) -> pl.DataFrame:
    """Readings in time order: a sensor (or user), a time in seconds, a value."""
    rng = np.random.default_rng(5)
    return pl.DataFrame(
        {
            "sensor": rng.integers(0, 1000, rows),
            "t": np.cumsum(rng.exponential(5.0, rows)),
            "x": rng.standard_normal(rows),
        }
    )


def python_loops(df: pl.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """The three rules as plain Python loops, one state per sensor where keyed."""
    level = trend = 0.0
    cusum: dict[int, tuple[float, float]] = {}
    sessions: dict[int, tuple[float, float]] = {}
    out: dict[str, list[tuple[float, float]]] = {"holt": [], "cusum": [], "session": []}
    for sensor, t, x in df.iter_rows():
        level, trend = (
            0.3 * x + 0.7 * (level + trend),
            0.1 * (0.3 * x + 0.7 * (level + trend) - level) + 0.9 * trend,
        )
        upper, lower = cusum.get(sensor, (0.0, 0.0))
        cusum[sensor] = (max(0, upper + x - 0.5), max(0, lower - x - 0.5))
        session, last = sessions.get(sensor, (0.0, -math.inf))
        sessions[sensor] = (session + 1 if t - last > 1800 else session, t)
        out["holt"].append((level, trend))
        out["cusum"].append(cusum[sensor])
        out["session"].append(sessions[sensor])
    return out


def main() -> int:
    rows = int(float(sys.argv[1])) if len(sys.argv) > 1 else 300_000
    df = readings(rows)
    start = time.perf_counter()
    scored = df.select(
        holt=ps.col("x").scores.scan(HOLT),
        cusum=ps.col("x").scores.scan(CUSUM, by="sensor"),
        session=ps.col("t").scores.scan(SESSION, initial={"last": -math.inf}, by="sensor"),
    )
    plugin = time.perf_counter() - start
    start = time.perf_counter()
    want = python_loops(df)
    loop = time.perf_counter() - start
    print(scored.head(3))
    failed = False
    for column, rows_wanted in want.items():
        got = [tuple(float(v).hex() for v in row.values()) for row in scored[column].to_list()]
        same = got == [tuple(float(v).hex() for v in row) for row in rows_wanted]
        failed |= not same
        print(f"{column}: {'bit-identical to' if same else 'DIFFERS from'} the Python loop")
    print(f"{rows:,} rows: the three rules {plugin * 1e3:.1f} ms, the Python loops {loop:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
