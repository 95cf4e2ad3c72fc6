"""Every code block of the documentation site runs, and prints what its page shows.

The pages are docs/**/*.md; docs/run_examples.py says how a page lays out its
blocks, their expected output and the blocks that are not run (each with its
reason). The command-line reference is written from the parser when the site
is built, and must match the command's own ``--help``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: its dataclasses look their module up.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


run_examples = _load("run_examples")


def _pages() -> list[object]:
    pages = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        # A page that starts Spark is as slow as the Spark tests.
        marks = [pytest.mark.spark, pytest.mark.slow] if "requires: pyspark" in text else []
        pages.append(pytest.param(page, id=str(page.relative_to(DOCS)), marks=marks))
    return pages


@pytest.mark.parametrize("page", _pages())
def test_every_block_prints_what_the_page_shows(page: Path, tmp_path: Path) -> None:
    failures, skipped = run_examples.check_page(page, tmp_path, root=DOCS)
    assert not failures, "\n\n".join(failures)
    ran = len(run_examples.blocks(page.read_text(encoding="utf-8"), "")) - len(skipped)
    if skipped and not ran:
        pytest.skip("; ".join(skipped))


def test_the_site_has_examples_to_run() -> None:
    counts = {
        page.relative_to(DOCS).as_posix(): len(
            run_examples.blocks(page.read_text(encoding="utf-8"), page.name)
        )
        for page in DOCS.rglob("*.md")
    }
    assert counts["cookbook/index.md"] >= 11, counts
    assert sum(counts.values()) >= 40, counts


def test_a_wrong_output_fails(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '```python\nprint(1 + 1)\n```\n\n```text title="Output"\n3\n```\n\n'
        "```python\nprint('shown nowhere')\n```\n"
        '\n```bash\necho "took 1.5 s"\n```\n\n```text title="Output"\ntook ... s\n```\n'
    )
    failures, skipped = run_examples.check_page(page, tmp_path)
    assert skipped == []
    assert len(failures) == 2, failures
    assert "page.md:1: printed other output" in failures[0]
    assert "page.md:9: prints but has no output block" in failures[1]


def test_the_cli_reference_is_the_commands_help() -> None:
    pytest.importorskip("mkdocs", reason="the docs group is not installed (./dev docs installs it)")
    pytest.importorskip("matplotlib", reason="the docs group is not installed")
    sys.path.insert(0, str(DOCS))
    try:
        hooks = _load("hooks")
    finally:
        sys.path.remove(str(DOCS))
    page = hooks.cli_reference()
    for command in ([], ["score"], ["total"], ["demo"]):
        shown = subprocess.run(
            [sys.executable, "-m", "polars_scores.cli", *command, "--help"],
            capture_output=True,
            text=True,
            check=True,
            env={"COLUMNS": "100", "NO_COLOR": "1", "PATH": ""},
        ).stdout
        assert shown.rstrip() in page
