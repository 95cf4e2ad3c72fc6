"""The benchmark's workloads: the plugin and each peer, written as a user would.

Every case holds the calls it compares over one frame of ``n`` rows. A call
returns its result, so the suite can check that the peers agree with the
plugin before timing them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba
import numpy as np
import polars as pl
from frames import FEW_KEYS, KEYS
from numpy.typing import NDArray

import polars_scores as ps
from polars_scores import reference

PYTHON_SAMPLE = 1_000_000
"""Rows the Python loops run on; their time is scaled to ns/row."""

Function = TypeVar("Function", bound=Callable[..., Any])


def njit(function: Function) -> Function:
    """``numba.njit`` with a type that mypy can see through."""
    return cast(Function, numba.njit(function))


# What a numba user writes: the loop, allocating its own output.
@njit
def numba_rolling(values: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.empty(values.shape[0])
    prev = 0.0
    for i in range(values.shape[0]):
        v = values[i]
        prev = prev * 0.9 + v if v > prev else prev * 0.5
        out[i] = prev
    return out


@njit
def numba_rolling_by_key(
    values: NDArray[np.float64], keys: NDArray[np.int64]
) -> NDArray[np.float64]:
    # Dense keys 0..max index the states directly: no hashing.
    out = np.empty(values.shape[0])
    if values.shape[0] == 0:
        return out
    states = np.zeros(keys.max() + 1)
    for i in range(values.shape[0]):
        key = keys[i]
        prev = states[key]
        v = values[i]
        prev = prev * 0.9 + v if v > prev else prev * 0.5
        states[key] = prev
        out[i] = prev
    return out


def warm_up_numba() -> None:
    """Compiles the numba peers, so no timing includes the compiler."""
    values = np.arange(8, dtype=np.float64)
    numba_rolling(values)
    numba_rolling_by_key(values, np.arange(8, dtype=np.int64))


@dataclass(frozen=True)
class Peer:
    """One way to compute a case.

    ``rows`` is how many rows one call handles (fewer for a sampled Python
    loop). ``comparable`` says whether its result must match the plugin's
    (a prefix of it, for a sample).
    """

    key: str
    label: str
    run: Callable[[], object]
    rows: int
    comparable: bool = True
    bit_identical: bool = False


@dataclass(frozen=True)
class Case:
    """Peers that compute the same thing; ``reference`` is the plugin's key."""

    key: str
    title: str
    reference: str
    peers: list[Peer]


def cases(frame: pl.DataFrame, python_sample: int = PYTHON_SAMPLE) -> list[Case]:
    """Every case of the suite, over ``frame`` (see ``make_frame``)."""
    n = frame.height
    lazy = frame.lazy()
    sample = frame["x"].head(python_sample).to_list()
    # ps.col is pl.col typed so that mypy sees the .scores namespace.
    x, k = ps.col("x"), pl.col("k")

    def eager(expr: pl.Expr) -> Callable[[], object]:
        return lambda: frame.select(expr)

    def streaming(expr: pl.Expr) -> Callable[[], object]:
        return lambda: lazy.select(expr).collect(engine="streaming")

    def grouped(expr: pl.Expr) -> Callable[[], object]:
        return lambda: frame.group_by("k").agg(expr)

    def grouped_streaming(expr: pl.Expr) -> Callable[[], object]:
        return lambda: lazy.group_by("k").agg(expr).collect(engine="streaming")

    def numba_in_map_batches() -> object:
        return frame.select(
            x.map_batches(
                lambda s: pl.Series(s.name, numba_rolling(s.to_numpy())),
                return_dtype=pl.Float64,
            )
        )

    def numba_dense_keys() -> object:
        values, keys = frame["x"].to_numpy(), frame["k"].to_numpy()
        return pl.Series("x", numba_rolling_by_key(values, keys))

    def numpy_total() -> object:
        clipped = np.clip(frame["x"].to_numpy(), 0.0, None)
        return float((clipped * np.sqrt(clipped)).sum())

    def numpy_dot() -> object:
        return float(np.dot(frame["a"].to_numpy(), frame["b"].to_numpy()))

    def one_thread(expr: pl.Expr) -> Callable[[], object]:
        # The plugin reads this variable per call: here it forces the serial
        # kernel, the baseline of the multi-core one.
        def run() -> object:
            os.environ["POLARS_SCORES_MAX_THREADS"] = "1"
            try:
                return frame.select(expr)
            finally:
                del os.environ["POLARS_SCORES_MAX_THREADS"]

        return run

    def total_peers(run: Callable[[pl.Expr], Callable[[], object]]) -> list[Peer]:
        """The native expression for the total, the plugin's and a plain sum, run by `run`."""
        return [
            Peer("native", "native clip(0).pow(1.5).sum()", run(total_native), n),
            Peer("plugin", "plugin: x.scores.total()", run(x.scores.total()), n),
            Peer("sum", "native sum()", run(x.sum()), n, comparable=False),
        ]

    series_total = ps.ScoresSeriesNamespace(frame["x"]).total
    total_native = x.clip(0).pow(1.5).sum()
    python = "Python loop on a sample, scaled"
    return [
        Case(
            "rolling",
            "rolling",
            "plugin",
            [
                Peer("python", python, lambda: reference.rolling(sample), len(sample)),
                Peer("numba", "numba @njit in map_batches", numba_in_map_batches, n),
                Peer("plugin", "plugin: x.scores.rolling()", eager(x.scores.rolling()), n),
                Peer(
                    "serial",
                    "plugin on one thread",
                    one_thread(x.scores.rolling()),
                    n,
                    bit_identical=True,
                ),
                Peer("cum_sum", "native cum_sum()", eager(x.cum_sum()), n, comparable=False),
            ],
        ),
        Case(
            "rolling_by",
            f"rolling per key ({KEYS // 1000}k keys)",
            "plugin_by",
            [
                Peer("numba", "numba dense-key loop", numba_dense_keys, n),
                Peer("plugin_over", "plugin under .over(k)", eager(x.scores.rolling().over(k)), n),
                Peer("plugin_by", "plugin with by=k", eager(x.scores.rolling(by=k)), n),
                Peer(
                    "cum_sum",
                    "native cum_sum().over(k)",
                    eager(x.cum_sum().over(k)),
                    n,
                    comparable=False,
                ),
            ],
        ),
        Case(
            "rolling_by_few",
            f"rolling per key ({FEW_KEYS} keys: long histories)",
            "plugin_by",
            [
                Peer("plugin_by", "plugin with by=few", eager(x.scores.rolling(by="few")), n),
                Peer(
                    "serial",
                    "plugin with by=few on one thread",
                    one_thread(x.scores.rolling(by="few")),
                    n,
                    bit_identical=True,
                ),
            ],
        ),
        Case(
            "total",
            "total, eager",
            "plugin",
            [
                Peer(
                    "python", python, lambda: reference.total(sample), len(sample), comparable=False
                ),
                Peer("numpy", "numpy c*np.sqrt(c), c clipped", numpy_total, n),
                Peer("native", "native clip(0).pow(1.5).sum()", eager(total_native), n),
                Peer("plugin", "plugin: x.scores.total()", eager(x.scores.total()), n),
                # What frame["x"].scores.total() calls, typed for mypy.
                Peer("series", "plugin: Series.scores.total()", series_total, n),
                Peer("sum", "native sum()", eager(x.sum()), n, comparable=False),
            ],
        ),
        Case(
            "total_lazy",
            "total, lazy streaming",
            "plugin",
            total_peers(streaming),
        ),
        Case(
            "group_by",
            f"total in group_by ({KEYS // 1000}k groups), eager",
            "plugin",
            total_peers(grouped),
        ),
        Case(
            "group_by_lazy",
            f"total in group_by ({KEYS // 1000}k groups), lazy streaming",
            "plugin",
            total_peers(grouped_streaming),
        ),
        Case(
            "dot",
            "dot, Int64 x Float64",
            "plugin",
            [
                Peer("native", "native a.dot(b)", eager(pl.col("a").dot(pl.col("b"))), n),
                Peer("numpy", "numpy np.dot(a, b)", numpy_dot, n),
                Peer("plugin", "plugin: a.scores.dot(b)", eager(ps.col("a").scores.dot("b")), n),
            ],
        ),
    ]


def as_array(result: object) -> NDArray[np.float64]:
    """A call's result as floats: a frame's value column (sorted by key after
    a group-by), a Series, an array, a list or one number."""
    if isinstance(result, pl.DataFrame):
        if "k" in result.columns:
            result = result.sort("k").drop("k")
        result = result.to_series(0)
    if isinstance(result, pl.Series):
        return np.asarray(result.cast(pl.Float64).to_numpy(), dtype=np.float64)
    if isinstance(result, (int, float)):
        return np.array([result], dtype=np.float64)
    return np.asarray(result, dtype=np.float64)


def bit_difference(reference: object, result: object) -> str | None:
    """Where ``result`` and ``reference`` differ in any bit, or None."""
    want, got = as_array(reference), as_array(result)
    if len(want) != len(got):
        return f"{len(got)} rows where the plugin gives {len(want)}"
    bad = want.view(np.uint64) != got.view(np.uint64)
    if bad.any():
        row = int(np.argmax(bad))
        return f"row {row}: {got[row]!r}, the plugin gives {want[row]!r} (bits differ)"
    return None


def disagreement(reference: object, result: object) -> str | None:
    """Why ``result`` differs from the plugin's ``reference`` (compared on
    the rows both have, to 1e-9 relative to the largest value), or None."""
    want, got = as_array(reference), as_array(result)
    rows = min(len(want), len(got))
    if len(got) != len(want) and len(got) != rows:
        return f"{len(got)} rows where the plugin gives {len(want)}"
    want, got = want[:rows], got[:rows]
    scale = float(np.nanmax(np.abs(want))) if rows else 0.0
    tolerance = 1e-9 * max(scale, 1e-300)
    bad = ~((np.abs(want - got) <= tolerance) | (np.isnan(want) & np.isnan(got)))
    if bad.any():
        row = int(np.argmax(bad))
        return f"row {row}: {got[row]!r}, the plugin gives {want[row]!r}"
    return None
