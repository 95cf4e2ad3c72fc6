"""Log-log line charts written straight to PNG with ``zlib`` and ``struct``.

The benchmark suite must not depend on a plotting library, and a chart of
ns/row against size needs little: straight lines, square markers, decade grid
lines and short labels in a built-in 5x7 bitmap font (capitals, digits and a
few signs; lower case prints as capitals).

Examples
--------
>>> import tempfile, pathlib
>>> panel = Panel("demo", [Line("a", [(1e5, 2.0), (1e7, 3.0)], bold=True)])
>>> path = pathlib.Path(tempfile.mkdtemp()) / "chart.png"
>>> write_chart(path, [panel], footer="example")
>>> path.read_bytes()[:8] == PNG_SIGNATURE
True
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

Color = tuple[int, int, int]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRID: Color = (222, 222, 222)
MINOR_GRID: Color = (242, 242, 242)
BOLD: Color = (210, 30, 30)
PALETTE: tuple[Color, ...] = (
    (31, 100, 190),
    (230, 130, 20),
    (40, 150, 60),
    (130, 90, 180),
    (120, 80, 60),
    (220, 100, 180),
    (110, 110, 110),
)

# Each glyph: seven rows of five pixels, top to bottom ('#' is ink).
_GLYPH_ROWS = {
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# #...# ##..# #.#.# #..## #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": ".###. #.... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ....# .###.",
    " ": "..... ..... ..... ..... ..... ..... .....",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "/": "..... ....# ...#. ..#.. .#... #.... .....",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "-": "..... ..... ..... .###. ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "*": "..... ..#.. #.#.# .###. #.#.# ..#.. .....",
    "@": ".###. #...# #.### #.#.# #.### #.... .###.",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
# The (column, row) of every inked pixel of each glyph.
_GLYPHS = {
    char: [
        (x, y) for y, row in enumerate(rows.split()) for x, pixel in enumerate(row) if pixel == "#"
    ]
    for char, rows in _GLYPH_ROWS.items()
}


class Canvas:
    """An RGB image in memory that shapes and text are drawn onto."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def fill_rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Paints the pixels with ``x0 <= x < x1`` and ``y0 <= y < y1``."""
        x0, x1 = max(x0, 0), min(x1, self.width)
        y0, y1 = max(y0, 0), min(y1, self.height)
        if x0 >= x1:
            return
        run = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = 3 * (y * self.width + x0)
            self.pixels[start : start + len(run)] = run

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1) -> None:
        """A straight line, ``width`` pixels thick."""
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        half = width // 2
        for step in range(steps + 1):
            x = x0 + round((x1 - x0) * step / steps)
            y = y0 + round((y1 - y0) * step / steps)
            self.fill_rect(x - half, y - half, x - half + width, y - half + width, color)

    def text(self, x: int, y: int, text: str, color: Color = BLACK, scale: int = 1) -> None:
        """``text`` with its top-left corner at ``(x, y)``; unknown signs print as '?'."""
        for index, char in enumerate(text.upper()):
            left = x + index * (GLYPH_WIDTH + 1) * scale
            for gx, gy in _GLYPHS.get(char, _GLYPHS["?"]):
                px, py = left + gx * scale, y + gy * scale
                self.fill_rect(px, py, px + scale, py + scale, color)

    def png(self) -> bytes:
        """The image as a PNG file: 8-bit RGB, each row unfiltered."""
        stride = 3 * self.width
        raw = b"".join(
            b"\x00" + self.pixels[row * stride : (row + 1) * stride] for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            PNG_SIGNATURE
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_width(text: str, scale: int = 1) -> int:
    """How many pixels ``Canvas.text`` needs for ``text``."""
    return len(text) * (GLYPH_WIDTH + 1) * scale


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


def decades(values: list[float]) -> tuple[int, int]:
    """The powers of ten just below the smallest and just above the largest value.

    Examples
    --------
    >>> decades([0.3, 45.0])
    (-1, 2)
    >>> decades([100.0])
    (2, 3)
    """
    low = math.floor(math.log10(min(values)))
    high = math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def decade_label(power: int) -> str:
    """``10 ** power`` written briefly: 0.01, 1, 1000, 1E4."""
    if power >= 4:
        return f"1E{power}"
    if power >= 0:
        return str(10**power)
    return f"{10.0**power:.{-power}f}"


PANEL_WIDTH = 600
PLOT_HEIGHT = 300
LEGEND_ROW = 12
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP = 64, 24, 36
INSET = 8


def draw_panel(
    canvas: Canvas, left: int, top: int, panel: Panel, x_label: str, y_label: str
) -> None:
    """Draws ``panel`` with its top-left corner at ``(left, top)``."""
    points = [point for line in panel.lines for point in line.points]
    x_low, x_high = decades([x for x, _ in points])
    y_low, y_high = decades([y for _, y in points])
    plot_left, plot_top = left + MARGIN_LEFT, top + MARGIN_TOP
    plot_right = left + PANEL_WIDTH - MARGIN_RIGHT
    plot_bottom = plot_top + PLOT_HEIGHT

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        # Inset from the axes, so that markers on the first or last decade show whole.
        fx = (math.log10(x) - x_low) / (x_high - x_low)
        fy = (math.log10(y) - y_low) / (y_high - y_low)
        return (
            round(plot_left + INSET + fx * (plot_right - plot_left - 2 * INSET)),
            round(plot_bottom - INSET - fy * (plot_bottom - plot_top - 2 * INSET)),
        )

    title_scale = 2 if text_width(panel.title, 2) <= plot_right - plot_left else 1
    canvas.text(left + MARGIN_LEFT, top + 8, panel.title, scale=title_scale)
    # Light lines at 2x and 5x each decade, so values between decades can be read.
    for power in range(y_low, y_high):
        for factor in (2, 5):
            _, y = to_pixel(10.0**x_low, factor * 10.0**power)
            canvas.line(plot_left, y, plot_right, y, MINOR_GRID)
    for power in range(x_low, x_high + 1):
        x, _ = to_pixel(10.0**power, 10.0**y_low)
        canvas.line(x, plot_top, x, plot_bottom, GRID)
        label = decade_label(power)
        canvas.text(x - text_width(label) // 2, plot_bottom + 6, label)
    for power in range(y_low, y_high + 1):
        _, y = to_pixel(10.0**x_low, 10.0**power)
        canvas.line(plot_left, y, plot_right, y, GRID)
        label = decade_label(power)
        canvas.text(plot_left - 6 - text_width(label), y - GLYPH_HEIGHT // 2, label)
    canvas.line(plot_left, plot_top, plot_left, plot_bottom, BLACK)
    canvas.line(plot_left, plot_bottom, plot_right, plot_bottom, BLACK)
    canvas.text(plot_right - text_width(x_label), plot_bottom + 18, x_label)
    canvas.text(left + 4, plot_top - 14, y_label)

    legend_top = plot_bottom + 34
    others = iter(PALETTE * len(panel.lines))
    for index, line in enumerate(panel.lines):
        color = BOLD if line.bold else next(others)
        width = 4 if line.bold else 2
        pixels = [to_pixel(x, y) for x, y in sorted(line.points)]
        for (x0, y0), (x1, y1) in itertools.pairwise(pixels):
            canvas.line(x0, y0, x1, y1, color, width)
        for x, y in pixels:
            canvas.fill_rect(x - 2, y - 2, x + 3, y + 3, color)
        row = legend_top + index * LEGEND_ROW
        canvas.line(plot_left, row + 3, plot_left + 24, row + 3, color, width)
        canvas.fill_rect(plot_left + 10, row + 1, plot_left + 15, row + 6, color)
        canvas.text(plot_left + 32, row, line.label)


def panel_height(panel: Panel) -> int:
    """The pixels a panel needs, legend included."""
    return MARGIN_TOP + PLOT_HEIGHT + 40 + LEGEND_ROW * len(panel.lines)


def write_chart(
    path: Path,
    panels: list[Panel],
    *,
    x_label: str = "rows",
    y_label: str = "ns/row",
    footer: str = "",
    columns: int = 2,
) -> None:
    """Writes ``panels`` as a grid, ``columns`` wide, to the PNG file ``path``."""
    if not panels:
        raise ValueError("write_chart: no panels to draw")
    rows = [panels[start : start + columns] for start in range(0, len(panels), columns)]
    heights = [max(panel_height(panel) for panel in row) for row in rows]
    footer_height = 20 if footer else 0
    canvas = Canvas(PANEL_WIDTH * min(columns, len(panels)), sum(heights) + footer_height + 8)
    top = 0
    for row, height in zip(rows, heights, strict=True):
        for index, panel in enumerate(row):
            draw_panel(canvas, index * PANEL_WIDTH, top, panel, x_label, y_label)
        top += height
    if footer:
        canvas.text(8, top + 6, footer)
    path.write_bytes(canvas.png())
