"""The site's build steps, run by mkdocs (``hooks:`` in mkdocs.yml).

- The command-line reference, ``reference/cli.md``, is written from the
  ``polars-scores`` parser itself, so it is ``--help`` word for word.
- The pages with ``<!-- plot: ... -->`` comments (the cookbook) are run, their
  printed output checked, and each plotted frame drawn with matplotlib into
  ``plots/NAME.png`` beside the page. The pictures exist only in the built
  site: they are made from the code on the page at every build, never kept.
  A block that fails or prints other output than the page shows fails the
  build.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from run_examples import Block, Plot, blocks, check_page

CLI_PAGE = "reference/cli.md"
_PLOT_COMMENT = re.compile(r"^\s*<!--\s*plot:\s*(?P<name>\S+).*-->\s*$", re.MULTILINE)


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    docs = Path(config.docs_dir)
    for page in sorted(docs.rglob("*.md")):
        if _PLOT_COMMENT.search(page.read_text(encoding="utf-8")):
            for uri, png in plots_of(page, docs):
                files.append(File.generated(config, uri, content=png))
    return files


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Each plot comment becomes its picture."""

    def picture(found: re.Match[str]) -> str:
        name = found["name"]
        return f"![{name}: the input and its score](plots/{name}.png){{ .score-plot }}"

    return _PLOT_COMMENT.sub(picture, markdown)


# The cookbook's plots -------------------------------------------------------------


def plots_of(page: Path, docs: Path) -> list[tuple[str, bytes]]:
    """Runs `page` and draws its plots: (the picture's path in the site, PNG)."""
    folder = page.parent.relative_to(docs).as_posix()
    drawn: list[tuple[str, bytes]] = []

    def draw(block: Block, namespace: dict[str, Any]) -> None:
        for plot in block.plots:
            frame = namespace.get(plot.options.get("frame", "out"))
            if not isinstance(frame, pl.DataFrame):
                raise PluginError(f"{block.where}: plot {plot.name} names no DataFrame")
            uri = f"{folder}/plots/{plot.name}.png".removeprefix("./")
            drawn.append((uri, figure(frame, plot)))

    with tempfile.TemporaryDirectory() as work:
        failures, _ = check_page(page, Path(work), root=docs, after=draw)
    if failures:
        raise PluginError("the examples of the page fail:\n" + "\n\n".join(failures))
    wanted = sum(len(block.plots) for block in blocks(page.read_text(encoding="utf-8"), ""))
    if len(drawn) != wanted:
        raise PluginError(f"{page}: {wanted} plots asked for, {len(drawn)} drawn")
    return drawn


def figure(frame: pl.DataFrame, plot: Plot) -> bytes:
    """The input (top) and the score (bottom) of `frame` against `x` (the row
    number by default), one line per key of `by`, as a PNG.

    Options: ``value`` and ``score`` (columns; ``score`` may name several,
    comma-separated, one line each), ``x``, ``by``, ``title``,
    ``levels`` and ``score_levels`` (horizontal lines on the input and on the
    score, comma-separated), ``overlay`` (the input in grey behind the score),
    ``draw=line`` (straight lines between the scores instead of steps).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    options = plot.options
    x = options.get("x", "row")
    value, score, by = options["value"], options["score"], options.get("by")
    frame = frame.with_row_index("row")
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.3])
    groups = frame.partition_by(by, maintain_order=True) if by else [frame]
    for part in groups:
        label = f"{by} = {part[by][0]}" if by else None
        xs = part[x].cast(pl.Float64).to_numpy()
        top.plot(xs, part[value].cast(pl.Float64).to_numpy(), "o", label=label)
        if "overlay" in options:
            # A score on the input's scale (an average, a held peak) reads best beside it.
            bottom.plot(xs, part[value].cast(pl.Float64).to_numpy(), "o", color="lightgrey")
        # A count or a level holds until the next row; a decay is drawn as the line it is.
        drawstyle = "default" if options.get("draw") == "line" else "steps-post"
        for column in score.split(","):
            name = column if "," in score else label
            ys = part[column].cast(pl.Float64).to_numpy()
            bottom.plot(xs, ys, "-o", drawstyle=drawstyle, label=name)
    for axes, levels in ((top, "levels"), (bottom, "score_levels")):
        for level in filter(None, options.get(levels, "").split(",")):
            axes.axhline(float(level), color="grey", linestyle="--", linewidth=1)
    top.set_ylabel(value)
    bottom.set_ylabel(score.replace(",", ", "))
    if "," in score:
        bottom.legend(loc="best", fontsize="small")
    bottom.set_xlabel(x)
    top.set_title(options.get("title", plot.name).replace("_", " "))
    if by:
        top.legend(loc="best", fontsize="small")
    for axes in (top, bottom):
        axes.grid(True, alpha=0.3)
    png = io.BytesIO()
    # No timestamps or versions in the file: the same code draws the same bytes.
    fig.savefig(png, format="png", dpi=96, metadata={"Software": None})
    return png.getvalue()


# The command-line reference -------------------------------------------------------


def cli_reference() -> str:
    """``reference/cli.md``: the help of the command and of each subcommand."""
    parser = cli_parser()
    parts = [
        "# Command line: `polars-scores`\n",
        "This page is the command's own `--help`, written from its parser each time the "
        "site is built. [Larger than memory](../guide/larger-than-memory.md) shows the "
        "commands at work.\n",
    ]
    with _plain_help():
        parts.append(_help_section(parser.prog, parser))
        for name, sub in _subcommands(parser):
            parts.append(_help_section(f"{parser.prog} {name}", sub))
    return "\n".join(parts)


def cli_parser() -> argparse.ArgumentParser:
    """The command's parser, from the function in ``polars_scores.cli`` that builds it."""
    from polars_scores import cli

    for name in ("build_parser", "make_parser", "create_parser", "parser", "_parser"):
        build = getattr(cli, name, None)
        if callable(build):
            made = build()
            if isinstance(made, argparse.ArgumentParser):
                return made
    # Whatever the function's name: the one that takes no argument and builds a parser.
    for name, build in sorted(vars(cli).items()):
        if callable(build) and "parser" in name.lower() and not isinstance(build, type):
            try:
                made = build()
            except TypeError:
                continue
            if isinstance(made, argparse.ArgumentParser):
                return made
    raise PluginError("polars_scores.cli has no function that builds the command's parser")


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _help_section(title: str, parser: argparse.ArgumentParser) -> str:
    anchor = title.replace(" ", "-")
    return f"## `{title}` {{ #{anchor} }}\n\n```text\n{parser.format_help().rstrip()}\n```\n"


@contextmanager
def _plain_help() -> Iterator[None]:
    """Help at a fixed width and without colour, whatever the terminal."""
    saved = {name: os.environ.get(name) for name in ("COLUMNS", "NO_COLOR")}
    os.environ.update(COLUMNS="100", NO_COLOR="1")
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before
