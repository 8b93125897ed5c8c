"""The board's throughput chart: completed tasks per hour as a small inline SVG, drawn on the server."""

from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH = 240
HEIGHT = 48
GAP = 2


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str  # "14:00–15:00: 12 completed"


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    peak: int
    total: int
    description: str  # the text alternative for screen readers


def throughput_chart(per_hour: list[int], *, now: datetime) -> Chart:
    """Bars for `per_hour` (oldest hour first, the last one is the current hour)."""
    hours = len(per_hour) or 1
    peak = max(per_hour, default=0)
    step = WIDTH / hours
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    bars = []
    for index, count in enumerate(per_hour):
        height = 2.0 if not count else max(3.0, (HEIGHT - 2) * count / peak)
        start = first + timedelta(hours=index)
        label = f"{start:%H}:00–{start + timedelta(hours=1):%H}:00: {count} completed"
        bars.append(
            Bar(round(index * step, 2), round(HEIGHT - height, 2), round(step - GAP, 2), round(height, 2), count, label)
        )
    total = sum(per_hour)
    description = f"{total} tasks completed in the last {hours} hours; busiest hour {peak}."
    return Chart(bars=bars, width=WIDTH, height=HEIGHT, peak=peak, total=total, description=description)
