"""Checks an installed polars-scores with nothing but Polars beside it.

Run by ``./dev wheels`` and by the release workflow in a fresh environment
(``python tests/smoke_installed.py``), where the test suite's own tools may
not install (musllinux). Not a pytest module: the suite checks the same and
more.
"""

from __future__ import annotations

import importlib.metadata
import re

import polars as pl

import polars_scores


def main() -> None:
    requirements = importlib.metadata.requires("polars-scores") or []
    runtime = [re.split(r"[^\w.-]", r)[0] for r in requirements if "extra ==" not in r]
    assert runtime == ["polars"], requirements
    assert polars_scores.__version__ == importlib.metadata.version("polars-scores")

    # The article's recurrence, by hand: up 0.9 * prev + v, down 0.5 * prev.
    got = pl.Series([1.0, 0.5, 3.0]).scores.rolling(rise=0.9, fall=0.5).to_list()
    assert got == [1.0, 0.5, 0.5 * 0.9 + 3.0], got
    assert pl.Series([4.0, -1.0, 9.0]).scores.total(exponent=1.5) == 8.0 + 27.0
    frame = pl.DataFrame({"a": [1, 2, None], "b": [0.5, 0.25, 4.0]})
    assert frame.select(pl.col("a").scores.dot("b")).item() == 1.0
    print(f"polars-scores {polars_scores.__version__} with polars {pl.__version__}: OK")


if __name__ == "__main__":
    main()
