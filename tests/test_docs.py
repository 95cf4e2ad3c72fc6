"""The examples in the docstrings run and print what they show."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import polars_scores.namespace
import polars_scores.reference
import polars_scores.rules


@pytest.mark.parametrize(
    "module", [polars_scores.namespace, polars_scores.reference, polars_scores.rules]
)
def test_docstring_examples(module: ModuleType) -> None:
    results = doctest.testmod(module, verbose=False, report=True)
    assert results.attempted > 0
    assert results.failed == 0
