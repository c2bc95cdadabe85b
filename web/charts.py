"""Bar geometry for the 统计 charts, drawn as inline SVG by the templates (nothing fetched)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.reports.forms import LEVELS

LEVEL_COLOURS = {"一般": "#7a8ca3", "较大": "#e0a526", "重大": "#d9622b", "特别重大": "#b3261e"}
HEIGHT = 120  # px of the tallest bar


@dataclass(frozen=True)
class Bar:
    """One rectangle: position, size, colour, the value and its label."""

    x: int
    y: int
    width: int
    height: int
    colour: str
    value: int
    label: str


def hour_bars(counts: list[int], width: int = 18, gap: int = 4) -> list[Bar]:
    """Reports by local hour, 0..23."""
    top = max(counts) or 1
    out = []
    for hour, n in enumerate(counts):
        h = round(n * HEIGHT / top)
        out.append(Bar(hour * (width + gap), HEIGHT - h, width, h, "#2f6db5", n, f"{hour}"))
    return out


def level_bars(by_day: dict[str, dict[str, int]], width: int = 10) -> list[Bar]:
    """Incidents per day, one bar per level side by side."""
    top = max((n for levels in by_day.values() for n in levels.values()), default=0) or 1
    out = []
    group = width * len(LEVELS) + 8
    for i, (day, levels) in enumerate(sorted(by_day.items())):
        for j, level in enumerate(LEVELS):
            n = levels.get(level, 0)
            h = round(n * HEIGHT / top)
            out.append(Bar(i * group + j * width, HEIGHT - h, width - 1, h,
                           LEVEL_COLOURS[level], n, f"{day[5:]} {level}"))  # fmt: skip
    return out
