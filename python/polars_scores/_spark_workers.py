"""Whether Spark's Python workers can run the plugin, found out before a job
reads any row.

In local mode the workers run ``PYSPARK_PYTHON``, or the ``python3`` on
``PATH`` when it is unset, which is often not the Python that has Polars:
the job then fails deep in Arrow with forty lines that name pyarrow, or
Polars, as a missing module. One tiny job per Spark application asks a
worker instead, and the error names the fix.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from pyspark import SparkContext

from polars_scores._checks import ScoresError, refuse

NEEDED = ("polars", "pyarrow", "polars_scores")
"""What the workers import to score a partition."""

_ready: set[str] = set()
"""The Spark applications whose workers have everything."""
_lock = threading.Lock()


class WorkerPythonError(ScoresError, RuntimeError):
    """Spark's Python workers cannot import what the plugin needs."""


def check_workers(method: str, context: SparkContext) -> None:
    """Raise :class:`WorkerPythonError`, naming `method` and the fix, if the
    workers of `context` cannot import :data:`NEEDED`; asked once per Spark
    application."""
    application = context.applicationId
    with _lock:
        if application in _ready:
            return
    fix = (
        f"set PYSPARK_PYTHON to a Python that has them (this one: {sys.executable}) "
        "before the Spark session starts"
    )
    try:
        # One partition, one row: the worker's answer, nothing imported
        # (Polars must not be imported before a task sets its threads).
        answer = context.parallelize([0], 1).map(_missing_modules()).collect()[0]
    except Exception as error:  # Py4J's errors wrap the worker's failure
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        why = next((line for line in reversed(lines) if "Error" in line), type(error).__name__)
        problem = f"Spark's Python workers cannot run ({why}); {fix}"
        raise refuse(WorkerPythonError, method, problem) from None
    executable, *missing = answer
    if missing:
        problem = f"Spark's Python workers ({executable}) cannot import {', '.join(missing)}; {fix}"
        raise refuse(WorkerPythonError, method, problem)
    with _lock:
        _ready.add(application)


def _missing_modules() -> Callable[[object], list[str]]:
    """The function a worker runs: its Python, then the modules of NEEDED it
    cannot find. Built here so that Spark pickles it by value (a worker
    without this package can still run it)."""
    needed = NEEDED

    def missing(_: object) -> list[str]:
        import importlib.util
        import sys

        return [
            sys.executable,
            *(name for name in needed if importlib.util.find_spec(name) is None),
        ]

    return missing
