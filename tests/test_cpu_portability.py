"""The x86-64 wheel runs on CPUs without AVX2, with the same bits.

The kernels that `widest_simd!` compiles twice (the positive-power sums and
the integer key slots behind `rolling(by=...)`) pick their AVX2 copy when the
CPU has it, unless ``POLARS_SCORES_NO_AVX2`` is set: then they run the
baseline copy, the one a CPU without AVX2 runs. The choice is made once per
process, so each path runs in a subprocess of its own and the results are
compared bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

VARIABLE = "POLARS_SCORES_NO_AVX2"

# Every kernel with an AVX2 copy, over inputs with nulls, negatives, zeros,
# NaN, infinities and the exponents that take different power paths.
SCRIPT = """
import sys

import numpy as np
import polars as pl

import polars_scores
from polars_scores._internal import avx2_enabled

rows = 100_003
rng = np.random.default_rng(12)
values = rng.normal(1.0, 3.0, rows)
values[rng.integers(0, rows, 200)] = np.nan
values[rng.integers(0, rows, 50)] = np.inf
values[rng.integers(0, rows, 50)] = 0.0
x = pl.Series("x", values).scatter(rng.integers(0, rows, 1000), None)
keys = pl.Series("k", rng.integers(-300, 300, rows)).scatter(rng.integers(0, rows, 100), None)
ints = (x * 100).cast(pl.Int64, strict=False)
frame = pl.DataFrame({"x": x, "x32": x.cast(pl.Float32), "i": ints})

results = {}
for exponent in (1.5, 0.5, 1.0, 2.0, 3.0, 0.7):
    for name in frame.columns:
        results[f"series total {name} {exponent}"] = [frame[name].scores.total(exponent=exponent)]
        # The expression is the plugin's per-row powers summed by Polars:
        # compare the powers themselves, the input of that sum.
        (powers,) = pl.col(name).scores.total(exponent=exponent).meta.pop()
        results[f"row powers {name} {exponent}"] = frame.select(powers).to_series().to_list()
for dtype in (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64):
    shifted = keys + 300 if dtype in (pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64) else keys
    by = (shifted % 100 if dtype in (pl.Int8, pl.UInt8) else shifted).cast(dtype)
    results[f"rolling by {dtype}"] = x.scores.rolling(by=by).to_list()

out = pl.DataFrame({name: pl.Series(v, dtype=pl.Float64) for name, v in results.items()
                    if len(v) == rows})
out.write_ipc(sys.argv[1])
scalars = pl.DataFrame({name: pl.Series(v, dtype=pl.Float64) for name, v in results.items()
                        if len(v) == 1})
scalars.write_ipc(sys.argv[1] + ".scalars")
print("avx2" if avx2_enabled() else "baseline")
"""


def run_kernels(out: Path, no_avx2: str | None) -> tuple[str, pl.DataFrame, pl.DataFrame]:
    """Runs SCRIPT in a fresh process; its path, its columns and its scalars."""
    env = {key: value for key, value in os.environ.items() if key != VARIABLE}
    if no_avx2 is not None:
        env[VARIABLE] = no_avx2
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), pl.read_ipc(out), pl.read_ipc(f"{out}.scalars")


def bits(frame: pl.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each column's null mask and the bit patterns of its values."""
    return {
        name: (
            frame[name].is_null().to_numpy(),
            frame[name].fill_null(0.0).to_numpy().view(np.uint64),
        )
        for name in frame.columns
    }


def cpu_has_avx2() -> bool:
    try:
        return " avx2 " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


def test_the_variable_forces_the_baseline_path(tmp_path: Path) -> None:
    path, _, _ = run_kernels(tmp_path / "baseline.ipc", "1")
    assert path == "baseline"
    # Empty or 0 means unset: the CPU decides.
    path, _, _ = run_kernels(tmp_path / "zero.ipc", "0")
    assert path == ("avx2" if cpu_has_avx2() and sys.platform == "linux" else "baseline")


@pytest.mark.skipif(
    not (sys.platform == "linux" and cpu_has_avx2()),
    reason="needs an x86-64 Linux CPU with AVX2: only the baseline path exists here",
)
def test_avx2_and_baseline_paths_give_the_same_bits(tmp_path: Path) -> None:
    fast_path, fast, fast_scalars = run_kernels(tmp_path / "avx2.ipc", None)
    slow_path, slow, slow_scalars = run_kernels(tmp_path / "baseline.ipc", "1")
    assert (fast_path, slow_path) == ("avx2", "baseline")
    assert fast.columns == slow.columns and fast.height == slow.height == 100_003
    assert len(fast.columns) == 6 * 3 + 8 and fast_scalars.width == 6 * 3
    fast_bits, slow_bits = bits(fast) | bits(fast_scalars), bits(slow) | bits(slow_scalars)
    assert fast_bits.keys() == slow_bits.keys()
    for name, (nulls, values) in fast_bits.items():
        assert np.array_equal(nulls, slow_bits[name][0]), name
        assert np.array_equal(values, slow_bits[name][1]), name
    # Not vacuous: the inputs reach the kernels, so the results vary.
    assert fast.select(pl.all().n_unique()).min_horizontal().item() > 1000
