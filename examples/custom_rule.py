"""Your own rule: a time-decayed engagement score per user, at native speed.

Each event (a click, a like, a comment) adds its weight to the user's score,
and the score decays by a factor e per hour over the time since the user's
previous event; the gaps are irregular. Written as a ``scores.scan``
rule, the recurrence runs compiled, by user, in one call:

    prev * exp(-gap / 3600) + value

with ``value`` the event's weight and ``gap`` an input column. It is printed
next to the same loop in Python and in numba (when installed), and all three
must agree bit for bit.

Run: ``python examples/custom_rule.py``; exits 1 if the check fails.
"""

from __future__ import annotations

import math
import sys
import time
from array import array

import numpy as np
import polars as pl

import polars_scores as ps

EVENTS = 2_000_000
USERS = 10_000
RULE = "prev * exp(-gap / 3600) + value"


def events() -> pl.DataFrame:
    """Events in time order: a user, a timestamp, and the event's weight."""
    rng = np.random.default_rng(3)
    seconds = np.cumsum(rng.exponential(2.0, EVENTS))
    return pl.DataFrame(
        {
            "user": rng.integers(0, USERS, EVENTS),
            "at": (np.datetime64("2026-01-01") + (seconds * 1e6).astype("timedelta64[us]")),
            "weight": rng.choice([1.0, 3.0, 5.0], EVENTS, p=[0.8, 0.15, 0.05]),
        }
    )


def python_loop(users: list[int], gaps: list[float], weights: list[float]) -> list[float]:
    """The same rule as a plain loop, one state per user."""
    states: dict[int, float] = {}
    out = []
    for user, gap, weight in zip(users, gaps, weights, strict=True):
        prev = states.get(user, 0.0)
        prev = prev * math.exp(-gap / 3600) + weight
        states[user] = prev
        out.append(prev)
    return out


def numba_loop() -> object | None:
    """The loop compiled by numba, or None when numba is not installed."""
    try:
        import numba
    except ImportError:
        return None

    @numba.njit
    def loop(users: np.ndarray, gaps: np.ndarray, weights: np.ndarray) -> np.ndarray:
        states = np.zeros(users.max() + 1)
        out = np.empty(users.shape[0])
        for i in range(users.shape[0]):
            prev = states[users[i]] * np.exp(-gaps[i] / 3600) + weights[i]
            states[users[i]] = prev
            out[i] = prev
        return out

    return loop


def main() -> int:
    df = events()
    # Seconds since the user's previous event (0 for the first one).
    gap = pl.col("at").diff().over("user").dt.total_microseconds().fill_null(0) / 1e6
    df = df.with_columns(gap=gap)

    start = time.perf_counter()
    scored = df.with_columns(
        engagement=ps.col("weight").scores.scan(RULE, inputs={"gap": "gap"}, by="user")
    )
    plugin_s = time.perf_counter() - start

    users, gaps, weights = df["user"].to_list(), df["gap"].to_list(), df["weight"].to_list()
    start = time.perf_counter()
    expected = python_loop(users, gaps, weights)
    python_s = time.perf_counter() - start

    print(scored.filter(pl.col("user") == 42).tail(4))
    print(f"time-decayed engagement of {EVENTS:,} events by {USERS:,} users")
    print(f"  polars-scores scan  {plugin_s:7.3f} s")
    print(f"  Python loop         {python_s:7.3f} s  ({python_s / plugin_s:.0f}x slower)")
    identical = (
        array("d", scored["engagement"].to_list()).tobytes() == array("d", expected).tobytes()
    )
    print(f"  bit-identical to the Python loop: {identical}")

    loop = numba_loop()
    if loop is not None:
        arrays = df["user"].to_numpy(), df["gap"].to_numpy(), df["weight"].to_numpy()
        loop(*(a[:8] for a in arrays))  # type: ignore[operator]  # compile first
        start = time.perf_counter()
        jitted = loop(*arrays)  # type: ignore[operator]
        numba_s = time.perf_counter() - start
        same = np.array_equal(
            np.asarray(jitted).view(np.uint64), scored["engagement"].to_numpy().view(np.uint64)
        )
        print(f"  numba @njit loop    {numba_s:7.3f} s  (compile excluded); bit-identical: {same}")
        identical = identical and same
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
