"""Bar charts drawn on the server as SVG geometry the template turns into ``<rect>`` and ``<text>``.

No script and no style attribute: the template sets classes, ``dashboard/staff.css`` colours them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH = 960
HEIGHT = 260
LEFT = 56
RIGHT = 8
TOP = 12
BOTTOM = 28
TICKS = 4
MAX_LABELS = 10
# Line charts are drawn at about the size they are shown (two to a row), so their text stays legible.
LINE_WIDTH = 520
LINE_HEIGHT = 220
LINE_LEFT = 64
LINE_RIGHT = 22  # room for half the last time label, centred on the newest bucket


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Label]
    x_labels: list[Label]
    baseline: float
    left: float
    right: float


def nice_ceiling(value: int) -> int:
    """The smallest ``TICKS`` times 1, 2 or 5 times a power of ten that is at least ``value``: an axis
    whose ticks are round numbers."""
    power = 1
    while True:
        for factor in (1, 2, 5):
            if factor * power * TICKS >= value:
                return factor * power * TICKS
        power *= 10


def daily_bars(days: Sequence[date], series: Sequence[tuple[str, str, Sequence[int]]]) -> Chart:
    """One group of bars per day, one bar per series ``(css class, noun, values)``, on a shared y axis."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    top = nice_ceiling(max((v for _, _, values in series for v in values), default=0) or 1)
    slot = plot_width / max(len(days), 1)
    bar_width = slot * 0.8 / len(series)
    bars = []
    for i, day in enumerate(days):
        for j, (css, noun, values) in enumerate(series):
            value = values[i]
            height = plot_height * value / top
            x = LEFT + i * slot + slot * 0.1 + j * bar_width
            bars.append(Bar(round(x, 2), round(TOP + plot_height - height, 2), round(bar_width, 2),
                            round(height, 2), css, f"{day.isoformat()}: {value:,} {noun}"))  # fmt: skip
    y_ticks = [Label(LEFT - 6, round(TOP + plot_height - plot_height * k / TICKS, 2), f"{top * k // TICKS:,}")
               for k in range(TICKS + 1)]  # fmt: skip
    every = -(-len(days) // MAX_LABELS)
    x_labels = [Label(round(LEFT + i * slot + slot / 2, 2), HEIGHT - 8, day.strftime("%m-%d"))
                for i, day in enumerate(days) if i % every == 0]  # fmt: skip
    return Chart(WIDTH, HEIGHT, bars, y_ticks, x_labels, TOP + plot_height, LEFT, WIDTH - RIGHT)


@dataclass(frozen=True)
class Line:
    css: str
    noun: str
    points: str


@dataclass(frozen=True)
class Slot:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    lines: list[Line]
    slots: list[Slot]
    y_ticks: list[Label]
    x_labels: list[Label]
    baseline: float
    left: float
    right: float
    top: float


def nice_top(value: float) -> float:
    """``nice_ceiling`` for any positive value, small fractions included (a failure rate of 0.3 %)."""
    if value <= 0:
        return TICKS
    if value >= 1:
        return nice_ceiling(int(-(-value // 1)))
    scale = 1.0
    while value * scale < 1:
        scale *= 10
    return nice_ceiling(int(-(-value * scale // 1))) / scale


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.2g}" if value < 1 else f"{value:,.1f}"


def time_lines(labels: Sequence[str], titles: Sequence[str], series: Sequence[tuple[str, str, Sequence[float | None]]],
               fmt: Callable[[float], str] = _number) -> LineChart:  # fmt: skip
    """One polyline per series ``(css class, noun, values)`` over time buckets (a gap where a value is
    None), on a shared y axis; ``labels`` name some buckets on the x axis ('' for none), ``titles`` the
    hover text of each bucket's slot, to which every series' value is added (formatted by ``fmt``)."""
    plot_width = LINE_WIDTH - LINE_LEFT - LINE_RIGHT
    plot_height = LINE_HEIGHT - TOP - BOTTOM
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = nice_top(max(values, default=0))
    slot = plot_width / max(len(titles), 1)
    lines = []
    for css, noun, vs in series:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
                continue
            x = LINE_LEFT + i * slot + slot / 2
            runs[-1].append(f"{x:.1f},{TOP + plot_height - plot_height * v / top:.1f}")
        for run in runs:
            if len(run) == 1:  # a lone point: a short flat segment, so it shows
                x, y = run[0].split(",")
                run = [f"{float(x) - slot / 3:.1f},{y}", f"{float(x) + slot / 3:.1f},{y}"]
            if run:
                lines.append(Line(css, noun, " ".join(run)))
    slots = []
    for i, title in enumerate(titles):
        said = "; ".join(f"{noun} {'—' if vs[i] is None else fmt(vs[i])}" for _, noun, vs in series)
        slots.append(Slot(round(LINE_LEFT + i * slot, 2), TOP, round(slot, 2), plot_height, f"{title}: {said}"))
    y_ticks = [Label(LINE_LEFT - 6, round(TOP + plot_height - plot_height * k / TICKS, 2), fmt(top * k / TICKS))
               for k in range(TICKS + 1)]  # fmt: skip
    x_labels = [Label(round(LINE_LEFT + i * slot + slot / 2, 2), LINE_HEIGHT - 8, text)
                for i, text in enumerate(labels) if text]  # fmt: skip
    return LineChart(LINE_WIDTH, LINE_HEIGHT, lines, slots, y_ticks, x_labels, TOP + plot_height, LINE_LEFT,
                     LINE_WIDTH - LINE_RIGHT, TOP)  # fmt: skip
