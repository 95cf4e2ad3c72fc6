"""Log-log charts of ns/row against rows, one panel per case, with matplotlib.

``suite.py`` draws one after each run. Run on its own, this module redraws
the chart from the markdown report the suite wrote, so a published chart can
be restyled without measuring again::

    python benchmarks/chart.py docs/benchmarks.md -o docs/benchmarks.png

Examples
--------
>>> import tempfile, pathlib
>>> panel = Panel("demo", [Line("a", [(1e5, 2.0), (1e7, 3.0)], bold=True)])
>>> path = pathlib.Path(tempfile.mkdtemp()) / "chart.png"
>>> write_chart(path, [panel], footer="example")
>>> path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

# The plugin's line: one color, drawn thick, to follow across panels.
BOLD_COLOR = "#d21e1e"
# Peers, in order; none of them red.
PALETTE = ("#1f64be", "#e68214", "#28963c", "#825ab4", "#78503c", "#dc64b4", "#6e6e6e")
PANEL_SIZE = (6.0, 3.4)  # inches, without the legend
LEGEND_ROW = 0.17  # inches per legend line


@dataclass(frozen=True)
class Line:
    """One series: its legend label and its (x, y) points, both positive."""

    label: str
    points: list[tuple[float, float]]
    bold: bool = False
    """Drawn thick, in its own color (the one line to follow across panels)."""


@dataclass(frozen=True)
class Panel:
    """One log-log plot of several lines."""

    title: str
    lines: list[Line]


def decade_label(value: float, _position: object = None) -> str:
    """A power of ten written briefly: 0.01, 1, 1000, 1e4.

    Examples
    --------
    >>> [decade_label(v) for v in (0.01, 1.0, 1000.0, 1e4, 1e7)]
    ['0.01', '1', '1000', '1e4', '1e7']
    """
    power = round(math.log10(value))
    if power >= 4:
        return f"1e{power}"
    return f"{10.0**power:.{max(-power, 0)}f}"


def write_chart(
    path: Path,
    panels: Sequence[Panel],
    *,
    x_label: str = "rows",
    y_label: str = "ns/row",
    footer: str = "",
    columns: int = 2,
) -> None:
    """Writes ``panels`` as a grid, ``columns`` wide, to the PNG file ``path``."""
    if not panels:
        raise ValueError("write_chart: no panels to draw")
    columns = min(columns, len(panels))
    rows = math.ceil(len(panels) / columns)
    legend_lines = max(len(panel.lines) for panel in panels)
    height = PANEL_SIZE[1] + 0.7 + LEGEND_ROW * legend_lines
    figure = Figure(figsize=(PANEL_SIZE[0] * columns, height * rows + 0.3), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    for axes, panel in zip(grid.flat, panels, strict=False):
        others = iter(PALETTE * len(panel.lines))
        for line in panel.lines:
            xs, ys = zip(*sorted(line.points), strict=True)
            axes.plot(
                xs,
                ys,
                marker="s",
                markersize=4 if line.bold else 3,
                linewidth=2.8 if line.bold else 1.4,
                color=BOLD_COLOR if line.bold else next(others),
                label=line.label,
                zorder=3 if line.bold else 2,
            )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_title(panel.title, loc="left", fontsize=12, fontweight="bold")
        axes.set_xlabel(x_label, loc="right")
        axes.set_ylabel(y_label)
        # Whole decades on both axes, so ratios read off as distances.
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_locator(LogLocator(base=10))
            axis.set_major_formatter(decade_label)
        axes.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.xaxis.set_minor_formatter(NullFormatter())
        values = [y for line in panel.lines for _, y in line.points]
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        axes.set_ylim(10.0**low, 10.0 ** max(high, low + 1))
        axes.grid(which="major", color="#dedede", linewidth=0.8)
        axes.grid(which="minor", axis="y", color="#f2f2f2", linewidth=0.8)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        axes.legend(
            loc="upper left",
            bbox_to_anchor=(0.0, -0.16),
            frameon=False,
            fontsize=8.5,
            handlelength=2.2,
        )
    if footer:
        figure.supxlabel(footer, x=0.005, ha="left", fontsize=8, color="#444444")
    figure.savefig(path, dpi=100, facecolor="white")


def machine_footer(info: dict[str, str]) -> str:
    """The chart's footer: the machine of the suite's report."""
    cpu, cores, polars = (info.get(name, "?") for name in ("cpu", "cores", "polars"))
    return f"{cpu}, {cores} cores, polars {polars}"


def panels_from_markdown(report: str) -> tuple[list[Panel], str]:
    """The panels and the footer of a chart, read back from the suite's results.md.

    Each ``## case`` section with a ``| peer |`` table becomes a panel; the
    bold peer is the plugin's line. The footer names the machine.

    Examples
    --------
    >>> report = '''- cpu: X
    ... - cores: 2 logical
    ... - polars: 9.9
    ...
    ... ## dot
    ...
    ... | peer | 1e5 ns/row | x plugin | 1e6 ns/row | x plugin | faults/1k rows @1e6 |
    ... |---|--:|--:|--:|--:|--:|
    ... | **plugin** | 2.0 | 1.00x | 1.5 | 1.00x | 0.0 |
    ... | numpy | 3.0 | 1.50x | 3.0 | 2.00x | 0.1 |
    ... '''
    >>> panels, footer = panels_from_markdown(report)
    >>> panels[0].title, footer
    ('dot', 'X, 2 logical cores, polars 9.9')
    >>> panels[0].lines[0]
    Line(label='plugin', points=[(100000.0, 2.0), (1000000.0, 1.5)], bold=True)
    """
    info = dict(re.findall(r"^- ([^:\n]+): (.*)$", report, re.MULTILINE))
    panels = []
    for section in re.split(r"^## ", report, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition("\n")
        rows = [line.strip("|").split("|") for line in body.splitlines() if line.startswith("|")]
        if len(rows) < 3 or rows[0][0].strip() != "peer":
            continue
        sizes = [float(cell.split()[0]) for cell in rows[0] if cell.strip().endswith("ns/row")]
        lines = []
        for cells in rows[2:]:
            label = cells[0].strip()
            values = [float(cell) for cell in cells[1 : 1 + 2 * len(sizes) : 2]]
            points = list(zip(sizes, values, strict=True))
            lines.append(Line(label.strip("*"), points, bold=label.startswith("**")))
        panels.append(Panel(title.strip(), lines))
    return panels, machine_footer(info)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Redraws the chart of a suite results.md.")
    parser.add_argument("report", type=Path, help="results.md written by suite.py")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    panels, footer = panels_from_markdown(args.report.read_text())
    write_chart(args.output, panels, footer=footer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
