"""`polars_scores.spark` as a newcomer meets it in local mode: rule inputs of
every type a rule reads, unknown starts, and the workers' Python checked
before any row runs."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from helpers import assert_bit_identical
from reference import scan_by_key

from polars_scores import spark as scores

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.parametrize("initial", [0.0, math.nan, -math.inf])
def test_a_boolean_input_and_a_non_finite_start(spark: Any, initial: float) -> None:
    rows = [("a", 1, 5.0, True), ("a", 2, 7.0, False), ("b", 1, 1.0, None), ("a", 3, 2.0, True)]
    df = spark.createDataFrame(rows, "k string, t int, x double, click boolean")
    rule = "value if click else prev + click"
    scored = scores.scan(
        df, "x", rule, by="k", order_by="t", inputs={"click": "click"}, initial=initial
    ).orderBy("k", "t")
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    expected = scan_by_key(
        rule,
        [row[2] for row in ordered],
        inputs={"click": [row[3] for row in ordered]},
        keys=[row[0] for row in ordered],
        initial=initial,
    )
    assert_bit_identical([row["x_score"] for row in scored.collect()], expected)
