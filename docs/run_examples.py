"""Runs the code blocks of the site's pages and checks what they print.

A page's ``python`` and ``bash`` blocks run in order, like the cells of a
notebook: the Python blocks share one namespace, and every block runs in one
working folder per page (so a block may read the file an earlier one wrote).
A ``text`` block titled ``Output`` right after a code block is what that
block must print, stdout and stderr together; ``...`` in it stands for any
text (doctest's ELLIPSIS). A block that prints something with no output block
after it fails too: the reader would not see what it prints.

Comments in the page, on the line before a block, steer it:

- ``<!-- skip: REASON -->``: not run (a cluster, a package index), only
  checked to parse.
- ``<!-- requires: MODULE ... -->``: run only where those modules can be
  imported (and, for pyspark, Java is installed).
- ``<!-- plot: NAME key=value ... -->`` after a block: the site's build draws
  that frame as ``plots/NAME.png`` (see hooks.py); ignored here.

This file imports neither mkdocs nor matplotlib: the tests
(tests/test_docs_examples.py) and the build (hooks.py) both use it.
"""

from __future__ import annotations

import contextlib
import difflib
import doctest
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNABLE = ("python", "bash")
"""The languages of code blocks; ``text`` blocks are output or plain text."""

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})\s*(?P<info>[^`]*?)\s*$")
_COMMENT = re.compile(r"^\s*<!--\s*(?P<kind>skip|requires|plot):\s*(?P<text>.*?)\s*-->\s*$")
_TITLE = re.compile(r'title="(?P<title>[^"]*)"')


@dataclass
class Plot:
    """A frame the build draws: input against score, one line per key."""

    name: str
    options: dict[str, str]


@dataclass
class Block:
    path: str
    line: int
    language: str
    code: str
    skip: str | None = None
    requires: tuple[str, ...] = ()
    expected: str | None = None
    plots: list[Plot] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


class PageError(Exception):
    """A page's blocks are not laid out as this runner reads them."""


def blocks(markdown: str, path: str) -> list[Block]:
    """The code blocks of a page, each with its expected output, marks and plots."""
    found: list[Block] = []
    pending: dict[str, str] = {}
    last: Block | None = None
    # Only blank lines may stand between a code block and its output block.
    gap_is_blank = False
    lines = markdown.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        comment = _COMMENT.match(line)
        fence = _FENCE.match(line)
        if comment:
            kind, text = comment["kind"], comment["text"]
            if kind == "plot":
                if last is None:
                    raise PageError(f"{path}:{at + 1}: a plot comes after the block it draws")
                name, *pairs = text.split()
                last.plots.append(Plot(name, dict(pair.split("=", 1) for pair in pairs)))
            else:
                pending[kind] = text
            gap_is_blank = False
            at += 1
            continue
        if not fence:
            gap_is_blank = gap_is_blank and not line.strip()
            at += 1
            continue
        indent, ticks, info = fence["indent"], fence["fence"], fence["info"]
        end = at + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        if end == len(lines):
            raise PageError(f"{path}:{at + 1}: the code block is never closed")
        body = "\n".join(text.removeprefix(indent) for text in lines[at + 1 : end]) + "\n"
        language = info.split()[0] if info else ""
        title = _TITLE.search(info)
        if language == "text" and title and title["title"].lower() == "output":
            if last is None or not gap_is_blank or last.expected is not None:
                raise PageError(f"{path}:{at + 1}: an output block must follow its code block")
            last.expected = body
            gap_is_blank = False
        elif language in RUNNABLE:
            last = Block(
                path,
                at + 1,
                language,
                body,
                skip=pending.pop("skip", None),
                requires=tuple(pending.pop("requires", "").split()),
            )
            found.append(last)
            gap_is_blank = True
        elif language == "text":
            gap_is_blank = False
        else:
            raise PageError(
                f"{path}:{at + 1}: a {language or 'plain'} block: use python, bash or text"
            )
        if pending:
            raise PageError(f"{path}:{at + 1}: {', '.join(pending)} must come before a code block")
        at = end + 1
    return found


def missing(requires: tuple[str, ...]) -> list[str]:
    """Those of `requires` that cannot run here."""
    absent = [name for name in requires if importlib.util.find_spec(name) is None]
    if "pyspark" in requires and shutil.which("java") is None:
        absent.append("java")
    return absent


def matches(expected: str, got: str) -> bool:
    checker = doctest.OutputChecker()
    return checker.check_output(_tidy(expected), _tidy(got), doctest.ELLIPSIS)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return "\n".join(lines) + "\n"


class PageRun:
    """Runs one page's blocks in order, in `folder`, with one Python namespace."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.namespace: dict[str, Any] = {"__name__": "__docs__"}

    def run(self, block: Block) -> str:
        """What `block` printed; raises what it raised."""
        if block.language == "bash":
            return self._bash(block)
        code = compile(block.code, block.where, "exec")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            exec(code, self.namespace)
        return printed.getvalue()

    def _bash(self, block: Block) -> str:
        # The commands a block names (polars-scores) are those of this Python.
        environment = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "COLUMNS": "100",
            "NO_COLOR": "1",
        }
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=self.folder,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"exit status {done.returncode}:\n{done.stdout}")
        return done.stdout


@contextlib.contextmanager
def working_in(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def check_page(
    page: Path,
    folder: Path,
    *,
    root: Path | None = None,
    after: Callable[[Block, dict[str, Any]], None] | None = None,
) -> tuple[list[str], list[str]]:
    """Runs `page`'s blocks in `folder`: its failures and its skipped blocks
    (each a message naming the block's line). `after(block, namespace)` is
    called after each block that ran."""
    name = str(page.relative_to(root)) if root else page.name
    failures: list[str] = []
    skipped: list[str] = []
    run = PageRun(folder)
    with working_in(folder):
        for block in blocks(page.read_text(encoding="utf-8"), name):
            absent = missing(block.requires)
            if block.skip is not None or absent:
                reason = block.skip or f"needs {', '.join(absent)}"
                problem = _syntax_error(block)
                if problem:
                    failures.append(f"{block.where}: {problem}")
                skipped.append(f"{block.where}: {reason}")
                continue
            try:
                got = run.run(block)
            except Exception as error:
                failures.append(f"{block.where}: raised {type(error).__name__}: {error}")
                # Later blocks build on this one.
                break
            if block.expected is None and got.strip():
                failures.append(f"{block.where}: prints but has no output block:\n{got}")
            elif block.expected is not None and not matches(block.expected, got):
                failures.append(f"{block.where}: printed other output:\n{_diff(block, got)}")
            if after is not None:
                after(block, run.namespace)
    return failures, skipped


def _syntax_error(block: Block) -> str | None:
    if block.language == "python":
        try:
            compile(block.code, block.where, "exec")
        except SyntaxError as error:
            return f"does not parse: {error}"
        return None
    done = subprocess.run(["bash", "-n", "-c", block.code], capture_output=True, text=True)
    return f"does not parse: {done.stderr.strip()}" if done.returncode else None


def _diff(block: Block, got: str) -> str:
    expected = _tidy(block.expected or "").splitlines()
    lines = difflib.unified_diff(expected, _tidy(got).splitlines(), "page", "printed", lineterm="")
    return "\n".join(lines)
