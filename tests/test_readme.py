"""The README's tour runs as printed and shows the right results, and the names
that the README's and the site's examples import exist (the examples the site's
tests skip included)."""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
from pathlib import Path
from typing import Any

import polars as pl
from helpers import assert_bit_identical
from reference import dot, score_by_key, total

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
PAGES = [README, *(page.read_text() for page in sorted((ROOT / "docs").rglob("*.md")))]
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_the_tour_shows_the_right_results() -> None:
    printed: list[Any] = []
    namespace: dict[str, Any] = {"print": lambda *things: printed.extend(things)}
    exec(compile(BLOCKS[0], "README.md", "exec"), namespace)
    df = namespace["df"]
    x, k, w = df["x"].to_list(), df["k"].to_list(), df["w"].to_list()

    scored, decayed, totals, dots = printed
    assert scored.columns == [*df.columns, "score"]
    assert_bit_identical(scored["score"].to_list(), score_by_key(x, k))
    assert decayed.columns == [*df.columns, "decayed"]
    assert_bit_identical(decayed["decayed"].to_list(), _halving_sum_by_key(x, k))

    assert sorted(totals["k"].to_list()) == sorted(set(k))
    for key, got in totals.iter_rows():
        want = total([v for v, key_v in zip(x, k, strict=True) if key_v == key])
        assert math.isclose(got, want, rel_tol=1e-12)

    assert dots.shape == (1, 1)
    assert math.isclose(dots.item(), dot(w, x), rel_tol=1e-12)
    assert all(isinstance(frame, pl.DataFrame) for frame in printed)


def _halving_sum_by_key(values: list[float], keys: list[int]) -> list[float]:
    """The README's rule ``prev * 0.5 + value``, one state per key, in Python."""
    states: dict[int, float] = {}
    scores = []
    for value, key in zip(values, keys, strict=True):
        states[key] = states.get(key, 0.0) * 0.5 + value
        scores.append(states[key])
    return scores


def test_every_imported_name_exists() -> None:
    imports = [
        found
        for text in PAGES
        for found in re.findall(r"^from (polars_scores[\w.]*) import (.+)$", text, re.MULTILINE)
    ]
    assert imports
    spark = importlib.util.find_spec("pyspark") is not None
    for module_name, names in imports:
        if module_name == "polars_scores.spark" and not spark:
            continue  # the spark extra is not installed
        module = importlib.import_module(module_name)
        for name in re.split(r",\s*", re.sub(r" as \w+", "", names)):
            if f"{module_name}.{name}" == "polars_scores.spark" and not spark:
                continue
            # A name is an attribute, or a submodule imported through `from`.
            if not hasattr(module, name):
                importlib.import_module(f"{module_name}.{name}")
