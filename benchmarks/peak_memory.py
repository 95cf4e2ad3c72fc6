"""Peak memory of one call, measured in a fresh process.

``tracemalloc`` sees only Python's allocations, not the plugin's (Rust) or
Polars' own, so this reads the kernel's count instead: the process's peak
resident set (``VmHWM``). In a fresh process the frame is built, the call is
run once on a few rows (loading the plugin and starting the thread pools),
the peak is reset (``/proc/self/clear_refs``), and the call is run once in
full. Its peak growth over the resident set before it is what the call
needed: its result, its scratch space and any copy of its input.

Run as ``python benchmarks/peak_memory.py ROWS CALL [CALL...]``; it prints
JSON. Calls after the first run in a process that has already run others,
whose freed memory they may reuse: only the first figure is exact (the
suite's smoke run measures them all in one process to save time). Linux
only.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from frames import make_frame

import polars_scores as ps


@dataclass(frozen=True)
class Call:
    """A call whose memory is measured.

    ``inputs`` are the columns it reads; ``needs_per_row`` the bytes per row
    its result and scratch space take when it copies no input (None for
    native calls, which get no verdict); ``beside`` a native call whose
    growth it may add on top (the group-by's own tables).
    """

    label: str
    inputs: tuple[str, ...]
    run: Callable[[pl.DataFrame], object]
    needs_per_row: int | None
    beside: str | None = None


x, k = ps.col("x"), pl.col("k")
CALLS = {
    "rolling": Call(
        "plugin: x.scores.rolling()",
        ("x",),
        lambda df: df.select(x.scores.rolling()),
        8,
    ),
    "cum_sum": Call("native cum_sum()", ("x",), lambda df: df.select(x.cum_sum()), None),
    "rolling_by": Call(
        "plugin: rolling(by=k)",
        ("x", "k"),
        lambda df: df.select(x.scores.rolling(by=k)),
        8 + 4,  # the output and one u32 key id per row
    ),
    "rolling_over": Call(
        "plugin: rolling().over(k)",
        ("x", "k"),
        lambda df: df.select(x.scores.rolling().over(k)),
        8,
    ),
    "total": Call(
        "plugin: x.scores.total(), eager",
        ("x",),
        lambda df: df.select(x.scores.total()),
        8,  # the per-row powers that Polars' sum() then adds up
    ),
    "total_lazy": Call(
        "plugin: x.scores.total(), streaming",
        ("x",),
        lambda df: df.lazy().select(x.scores.total()).collect(engine="streaming"),
        0,
    ),
    "total_series": Call(
        "plugin: Series.scores.total()",
        ("x",),
        lambda df: ps.ScoresSeriesNamespace(df["x"]).total(),
        0,
    ),
    "native_total": Call(
        "native clip(0).pow(1.5).sum()",
        ("x",),
        lambda df: df.select(x.clip(0).pow(1.5).sum()),
        None,
    ),
    "group_by": Call(
        "plugin: total() in group_by",
        ("x", "k"),
        lambda df: df.group_by("k").agg(x.scores.total()),
        8,  # the per-row powers, beside what the group-by itself needs
        beside="group_by_sum",
    ),
    "group_by_sum": Call(
        "native sum() in group_by",
        ("x", "k"),
        lambda df: df.group_by("k").agg(x.sum()),
        None,
    ),
    "dot": Call(
        "plugin: a.scores.dot(b)",
        ("a", "b"),
        lambda df: df.select(ps.col("a").scores.dot("b")),
        0,
    ),
    "native_dot": Call(
        "native a.dot(b)",
        ("a", "b"),
        lambda df: df.select(pl.col("a").dot(pl.col("b"))),
        None,
    ),
}
"""Every measured call. The plugin calls get a verdict; the native ones show
what Polars itself needs for the same job."""


def status_kib(field: str) -> int:
    """A ``VmRSS``/``VmHWM``-style field of ``/proc/self/status``, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"peak_memory: /proc/self/status has no {field}")


def peak_growth(call: Call, frame: pl.DataFrame) -> dict[str, float]:
    """Runs ``call`` over ``frame``: its peak memory growth, its input and
    its smallest input column, in bytes."""
    call.run(frame.head(1000))
    gc.collect()
    # Writing 5 resets the peak resident set to the current one.
    Path("/proc/self/clear_refs").write_text("5")
    before = status_kib("VmRSS")
    result = call.run(frame)
    peak = status_kib("VmHWM")
    del result
    inputs = [frame[name].estimated_size() for name in call.inputs]
    return {
        "growth": (peak - before) * 1024.0,
        "input": float(sum(inputs)),
        "smallest_input": float(min(inputs)),
    }


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit() or not set(argv[1:]) <= set(CALLS):
        print(f"usage: peak_memory.py ROWS {{{','.join(CALLS)}}}...", file=sys.stderr)
        return 2
    frame = make_frame(int(argv[0]))
    measured = {name: peak_growth(CALLS[name], frame) for name in argv[1:]}
    print(json.dumps(measured))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
