"""User-defined rules (`scores.scan`) against numba and the built-in `rolling`.

Usage::

    python benchmarks/rules_bench.py [--rows 1e7] [--repeat 7]

On one frame (``make_frame``, plus ``dt``: irregular gaps in seconds), every
case times its peers round-robin, end to end as a user calls them, and prints
the median ns/row and each peer's ratio to the reference peer of its case
(numba's loop, compile time excluded: it is warmed up first). Results are
checked bit for bit against numba's before anything is timed. The issue's
goals: the built-in rule as a scan rule <= 1.0x numba and <= 3x ``rolling()``;
the time decay with an input <= 1.5x numba; ``by=`` with 100k keys <= 1.5x
numba's dense-key loop. Last, the cost of one plugin call on a tiny group
(what ``over()`` pays per group) and of compiling a new rule.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from cases import njit, numba_rolling, numba_rolling_by_key, warm_up_numba
from frames import KEYS, make_frame
from numpy.typing import NDArray

import polars_scores as ps

BUILTIN = "prev * 0.9 + value if value > prev else prev * 0.5"
DECAY = "prev * exp(-dt / 3600) + value"


@njit
def numba_decay(values: NDArray[np.float64], dt: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty(values.shape[0])
    prev = 0.0
    for i in range(values.shape[0]):
        prev = prev * np.exp(-dt[i] / 3600) + values[i]
        out[i] = prev
    return out


@njit
def numba_sum(values: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty(values.shape[0])
    prev = 0.0
    for i in range(values.shape[0]):
        prev = prev + values[i]
        out[i] = prev
    return out


def one_thread(run: Callable[[], pl.Series]) -> Callable[[], pl.Series]:
    """`run` with the plugin limited to one thread (it reads this per call)."""

    def serial() -> pl.Series:
        os.environ["POLARS_SCORES_MAX_THREADS"] = "1"
        try:
            return run()
        finally:
            del os.environ["POLARS_SCORES_MAX_THREADS"]

    return serial


def bits(series: pl.Series) -> NDArray[np.uint64]:
    """The bits of a Float64 Series, or of every field of a struct of them."""
    if series.dtype == pl.Struct:
        fields = series.struct.unnest()
        return np.concatenate([bits(fields.to_series(i)) for i in range(fields.width)])
    return series.to_numpy().view(np.uint64)


def compare(
    title: str,
    peers: dict[str, Callable[[], pl.Series]],
    rows: int,
    repeat: int,
    *,
    check: Sequence[str] | None = None,
) -> None:
    """Checks the peers named in `check` (every one by default) against the
    first of them, then times them all round-robin."""
    checked = list(peers) if check is None else list(check)
    for label in checked[1:]:
        if not np.array_equal(bits(peers[label]()), bits(peers[checked[0]]())):
            raise SystemExit(f"{title}: '{label}' differs from '{checked[0]}'")
    times: dict[str, list[float]] = {label: [] for label in peers}
    for _ in range(repeat):
        for label, run in peers.items():
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    medians = {label: statistics.median(t) for label, t in times.items()}
    base = next(iter(medians.values()))
    alike = "every peer" if check is None else ", ".join(repr(label) for label in checked)
    print(f"\n{title}" + (f" ({alike} bit-identical)" if len(checked) > 1 else ""))
    for label, median in medians.items():
        print(f"  {label:<44} {median * 1e9 / rows:7.2f} ns/row  {median / base:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.rows
    rng = np.random.default_rng(1)
    frame = make_frame(n).with_columns(dt=pl.Series(rng.exponential(30.0, n)))
    x, dt, k = frame["x"].to_numpy(), frame["dt"].to_numpy(), frame["k"].to_numpy()
    warm_up_numba()
    numba_decay(x[:8], dt[:8])
    numba_sum(x[:8])
    print(f"{n:,} rows, {os.cpu_count()} cores, polars {pl.__version__}; medians of {args.repeat}")

    def select(expr: pl.Expr) -> Callable[[], pl.Series]:
        return lambda: frame.select(expr).to_series()

    def in_map_batches(
        loop: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    ) -> Callable[[], pl.Series]:
        expr = pl.col("x").map_batches(
            lambda s: pl.Series(s.name, loop(s.to_numpy())), return_dtype=pl.Float64
        )
        return select(expr)

    col = ps.col("x")
    builtin = col.scores.scan(BUILTIN)
    compare(
        "the built-in rule as a scan rule",
        {
            "numba @njit in map_batches": in_map_batches(numba_rolling),
            f"scan({BUILTIN!r})": select(builtin),
            "the same scan on one thread": one_thread(select(builtin)),
            "rolling()": select(col.scores.rolling()),
            "rolling() on one thread": one_thread(select(col.scores.rolling())),
        },
        n,
        args.repeat,
    )
    decay = col.scores.scan(DECAY, inputs={"dt": "dt"})
    compare(
        "time decay with an input",
        {
            "numba @njit (x, dt)": lambda: pl.Series("x", numba_decay(x, dt)),
            f"scan({DECAY!r}, inputs=...)": select(decay),
            "the same scan on one thread": one_thread(select(decay)),
        },
        n,
        args.repeat,
    )
    by_key = col.scores.scan(BUILTIN, by="k")
    compare(
        f"by= with {KEYS // 1000}k keys",
        {
            "numba dense-key loop": lambda: pl.Series("x", numba_rolling_by_key(x, k)),
            "scan(built-in rule, by=k)": select(by_key),
            "rolling(by=k)": select(col.scores.rolling(by="k")),
        },
        n,
        args.repeat,
    )
    total = col.scores.scan("prev + value")
    compare(
        "a rule whose runs never meet (no speculation pays)",
        {
            "numba @njit in map_batches": in_map_batches(numba_sum),
            "scan('prev + value')": select(total),
            "the same scan on one thread": one_thread(select(total)),
        },
        n,
        args.repeat,
    )

    groups = 10_000
    small = pl.DataFrame(
        {"g": np.repeat(np.arange(groups), 10), "x": rng.standard_normal(groups * 10)}
    )
    for label, expr in [
        ("scan(built-in rule).over(g)", col.scores.scan(BUILTIN).over("g")),
        ("rolling().over(g)", col.scores.rolling().over("g")),
    ]:
        small.select(expr)
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            small.select(expr)
            runs.append(time.perf_counter() - start)
        print(f"\n{label}: {statistics.median(runs) * 1e6 / groups:.2f} us per group of 10 rows")
    one = pl.DataFrame({"x": [1.0]})
    compiles = []
    for i in range(20):
        rule = f"prev * {0.5 + i / 1000!r} + value"
        start = time.perf_counter()
        one.select(col.scores.scan(rule))
        compiles.append(time.perf_counter() - start)
    print(
        f"a new rule, parsed and compiled, on one row: {statistics.median(compiles) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
