"""The examples in the docstrings run and print what they show."""

from __future__ import annotations

import doctest

import polars_scores.namespace


def test_namespace_docstring_examples() -> None:
    results = doctest.testmod(polars_scores.namespace, verbose=False, report=True)
    assert results.attempted > 0
    assert results.failed == 0
