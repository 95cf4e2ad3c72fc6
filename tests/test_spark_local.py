"""`polars_scores.spark` as a newcomer meets it in local mode: rule inputs of
every type a rule reads, unknown starts, and the workers' Python checked
before any row runs."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="the spark extra is not installed")

from helpers import assert_bit_identical
from reference import fold_states_by_key, scan_by_key, scan_states_by_key

from polars_scores import _spark_workers
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


JOB = """
import os, sys
os.environ["PYSPARK_PYTHON"] = sys.argv[1]
from pyspark.sql import SparkSession
from polars_scores import spark as scores
session = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
session.sparkContext.setLogLevel("OFF")
df = session.createDataFrame([("a", 1, 1.0)], "k string, t int, x double")
try:
    scores.rolling(df, "x", by="k", order_by="t")
except RuntimeError as error:
    print(error)
session.stop()
"""


def test_workers_without_the_plugin_are_named_with_the_fix(tmp_path: Path) -> None:
    # A Python with none of the packages, as the `python3` on PATH often is.
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    done = subprocess.run(
        [sys.executable, str(script), str(bare / "bin" / "python")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == [
        f"polars_scores.spark.rolling: Spark's Python workers ({bare / 'bin' / 'python'}) "
        "cannot import polars, pyarrow, polars_scores; set PYSPARK_PYTHON to a Python that "
        f"has them (this one: {sys.executable}) before the Spark session starts"
    ]


def test_the_workers_are_asked_once_per_application(spark: Any) -> None:
    df = spark.createDataFrame([("a", 1, 1.0)], "k string, t int, x double")
    scores.rolling(df, "x", by="k", order_by="t").collect()
    assert spark.sparkContext.applicationId in _spark_workers._ready


def test_the_docs_local_block_runs_as_written(tmp_path: Path) -> None:
    """The guide's local-mode block, run as a newcomer would: no PYSPARK_PYTHON
    set, and a `python3` on PATH without Polars."""
    page = (Path(__file__).parent.parent / "docs" / "guide" / "spark.md").read_text()
    local = page.split("## Locally", 1)[1]
    code, shown = re.findall(
        r"```python\n(.*?)```\n\n```text title=\"Output\"\n(.*?)```", local, re.S
    )[0]
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)
    script = tmp_path / "local.py"
    script.write_text(code)
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
    }
    env["PATH"] = f"{bare / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == shown.strip()


def test_a_rule_with_several_states_adds_a_column_per_state(spark: Any) -> None:
    rows = [("a", 1, 1.0), ("b", 1, -2.0), ("a", 2, 3.0), ("a", 3, -1.0), ("b", 2, 4.0)]
    df = spark.createDataFrame(rows, "k string, t int, x double")
    rule = {"peak": "max(peak, value)", "n": "n + 1"}
    scored = scores.scan(df, "x", rule, by="k", order_by="t", initial={"peak": -math.inf}).orderBy(
        "k", "t"
    )
    assert scored.columns == ["k", "t", "x", "x_peak", "x_n"]
    ordered = sorted(rows, key=lambda row: (row[0], row[1]))
    want = scan_states_by_key(
        rule,
        [row[2] for row in ordered],
        keys=[row[0] for row in ordered],
        initial={"peak": -math.inf},
    )
    got = scored.collect()
    for state, column in want.items():
        assert_bit_identical([row[f"x_{state}"] for row in got], column)


@pytest.mark.parametrize("rule", ["prev + value * w", {"peak": "max(peak, value)", "n": "n + w"}])
def test_fold_gives_each_keys_last_states(spark: Any, rule: Any) -> None:
    rows = [
        ("a", 2, 3.0, 1.0),
        ("b", 1, -2.0, 0.5),
        ("a", 1, 1.0, 2.0),
        (None, 1, 4.0, 1.0),
        ("a", 3, None, 1.0),
        ("b", 2, 4.0, 1.0),
    ]
    df = spark.createDataFrame(rows, "k string, t int, x double, w double")
    initial: Any = {"peak": -math.inf} if isinstance(rule, dict) else 0.0
    folded = scores.fold(df, "x", rule, by="k", order_by="t", inputs={"w": "w"}, initial=initial)
    ordered = sorted(rows, key=lambda row: (row[0] or "", row[1]))
    states = rule if isinstance(rule, dict) else {"prev": rule}
    last = fold_states_by_key(
        states,
        [row[2] for row in ordered],
        inputs={"w": [row[3] for row in ordered]},
        keys=[row[0] for row in ordered],
        initial=initial if isinstance(initial, dict) else None,
    )
    names = [f"x_{state}" for state in rule] if isinstance(rule, dict) else ["x_total"]
    assert folded.columns == ["k", *names]
    got = {row["k"]: [row[name] for name in names] for row in folded.collect()}
    assert got.keys() == last.keys()
    for key, key_states in last.items():
        assert_bit_identical(got[key], list(key_states.values()))
