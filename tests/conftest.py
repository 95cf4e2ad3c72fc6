"""Settings for the whole test suite; shared helpers live in ``helpers.py``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import polars_scores  # noqa: F401  (registers the namespace)

# Modest example counts: CI has two cores and runs the suite twice (newest
# Polars and the floor). Plugin calls have no per-example cold start worth
# a deadline, but a busy machine makes timings noisy.
settings.register_profile(
    "polars-scores",
    max_examples=25,
    deadline=None,
    # `spark` is function-scoped only to start the session again if
    # something stopped it; every example of a test shares that one
    # running session, as it should.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
settings.load_profile("polars-scores")

# Spark's Python workers must run this interpreter, which has the plugin: for
# the Spark tests and for the spark module's docstring examples alike.
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


@pytest.fixture(scope="session")
def spark_builder() -> Iterator[Any]:
    """How the tests' SparkSession is made: local, two cores, five shuffle
    partitions (pyspark is imported only where a test asks for it). The
    session it made last is stopped when the tests end."""
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master("local[2]")
        .appName("polars-scores tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "5")
        .config("spark.driver.memory", "1g")
    )
    yield builder
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture
def spark(spark_builder: Any) -> Any:
    """The running SparkSession, for every Spark test file: started once and
    shared, and started again if something stopped it (the Spark guide's
    example, run in this process by the docs test, ends with
    `session.stop()`, as a user's job does)."""
    session = spark_builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
