"""Small server-rendered charts: runs and cost per day, stacked by flow, as SVG geometry.

The functions compute coordinates and labels only; the template draws them, so no markup is
built here and every label is escaped like any other text.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

WIDTH = 520
HEIGHT = 150
PAD_LEFT = 44
PAD_RIGHT = 8
PAD_TOP = 10
PAD_BOTTOM = 22
MAX_SERIES = 5  # flows drawn in their own colour; the rest are "Other flows"
OTHER = "other"


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str


@dataclass
class Tick:
    y: float
    label: str


@dataclass
class DayLabel:
    x: float
    label: str


@dataclass
class DailyChart:
    kind: str
    title: str
    summary: str
    total_text: str
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    baseline: float = HEIGHT - PAD_BOTTOM
    bars: list[Bar] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    labels: list[DayLabel] = field(default_factory=list)
    total: Any = 0


@dataclass
class Series:
    index: int
    key: Any
    name: str


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (a readable axis maximum)."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value * 0.999999:
            return candidate
    return 10 ** (exponent + 1)


def money(value: float | Decimal) -> str:
    """Format a cost in USD, with enough digits for fractions of a cent."""
    amount = float(value)
    if amount == 0:
        return "$0"
    sign = "−" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 0.1:
        text = f"{amount:,.2f}"
    elif amount >= 0.0001:
        text = f"{amount:.4f}"
    else:
        text = f"{amount:.6f}".rstrip("0")
        if text == "0.":
            text = "<0.000001"
    return f"{sign}${text}"


def _series(rows: list[dict[str, Any]], names: dict[Any, str]) -> dict[Any, Series]:
    """Give the busiest flows their own colour, in a stable order; fold the rest into Other."""
    totals: dict[Any, int] = defaultdict(int)
    for row in rows:
        totals[row["flow_id"]] += row["runs"]
    ranked = sorted(totals, key=lambda key: (-totals[key], names.get(key, "")))
    own = ranked if len(ranked) <= MAX_SERIES else ranked[: MAX_SERIES - 1]
    chosen = sorted(own, key=lambda key: names.get(key, "").lower())
    series = {key: Series(i, key, names.get(key, f"Flow {key}")) for i, key in enumerate(chosen)}
    for key in ranked:
        if key not in series:
            series[key] = Series(MAX_SERIES, OTHER, "Other flows")
    return series


def legend(series: dict[Any, Series]) -> list[Series]:
    seen: dict[Any, Series] = {}
    for item in series.values():
        seen.setdefault(item.key, item)
    return sorted(seen.values(), key=lambda item: item.index)


def _day_label(day: date) -> str:
    return day.strftime("%b ") + str(day.day)


def _chart(
    kind: str,
    title: str,
    days: list[date],
    values: dict[date, list[tuple[Series, float]]],
    tick: Callable[[float], str],
    amount_text: Callable[[float], str],
    *,
    whole_numbers: bool = False,
) -> DailyChart:
    total = sum(amount for per_day in values.values() for _, amount in per_day)
    top = nice_ceiling(max((sum(a for _, a in v) for v in values.values()), default=0))
    if whole_numbers:
        top = max(2, math.ceil(top / 2) * 2)  # the middle tick stays a whole number
    chart = DailyChart(
        kind=kind,
        title=title,
        summary=f"{title}, {_day_label(days[0])} to {_day_label(days[-1])}: "
        f"{amount_text(total)} in total.",
        total_text=tick(total),
        total=total,
    )
    plot_height = chart.baseline - PAD_TOP
    slot = (chart.plot_right - chart.plot_left) / len(days)
    width = max(1.0, slot * 0.68)
    for i, day in enumerate(days):
        x = chart.plot_left + i * slot + (slot - width) / 2
        y = chart.baseline
        for series, amount in values.get(day, []):
            if amount <= 0:
                continue
            height = max(1.0, plot_height * amount / top)
            y -= height
            chart.bars.append(
                Bar(
                    round(x, 2),
                    round(y, 2),
                    round(width, 2),
                    round(height, 2),
                    series.index,
                    f"{_day_label(day)} · {series.name}: {amount_text(amount)}",
                )
            )
    for fraction in (0, 0.5, 1):
        chart.ticks.append(
            Tick(round(chart.baseline - plot_height * fraction, 2), tick(top * fraction))
        )
    every = max(1, math.ceil(len(days) / 7))
    for i in range(0, len(days), every):
        chart.labels.append(
            DayLabel(round(chart.plot_left + (i + 0.5) * slot, 2), _day_label(days[i]))
        )
    return chart


def _count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _runs_text(value: float) -> str:
    return f"{_count(value)} run" + ("" if value == 1 else "s")


def daily_charts(
    rows: list[dict[str, Any]], *, days: list[date], names: dict[Any, str]
) -> dict[str, Any]:
    """Build the runs-per-day and cost-per-day charts from rows of {day, flow_id, runs, cost}."""
    series = _series(rows, names)
    runs: dict[date, dict[int, tuple[Series, float]]] = defaultdict(dict)
    cost: dict[date, dict[int, tuple[Series, float]]] = defaultdict(dict)
    for row in rows:
        item = series[row["flow_id"]]
        for target, amount in ((runs, row["runs"]), (cost, float(row["cost"] or 0))):
            previous = target[row["day"]].get(item.index, (item, 0.0))[1]
            target[row["day"]][item.index] = (item, previous + amount)

    def ordered(per_day):
        return {day: [per_day[day][k] for k in sorted(per_day[day])] for day in per_day}

    return {
        "panels": [
            _chart(
                "runs", "Runs per day", days, ordered(runs), _count, _runs_text, whole_numbers=True
            ),
            _chart("cost", "Cost per day", days, ordered(cost), money, money),
        ],
        "legend": legend(series),
    }


def spend_chart(
    rows: list[dict[str, Any]], *, days: list[date], names: dict[Any, str]
) -> dict[str, Any]:
    """Build the spend-per-day chart from rows of {day, flow_id, cost}, flows ranked by spend."""
    ranked = [{**row, "runs": float(row["cost"] or 0)} for row in rows]
    series = _series(ranked, names)
    cost: dict[date, dict[int, tuple[Series, float]]] = defaultdict(dict)
    for row in ranked:
        item = series[row["flow_id"]]
        previous = cost[row["day"]].get(item.index, (item, 0.0))[1]
        cost[row["day"]][item.index] = (item, previous + row["runs"])
    ordered = {day: [cost[day][k] for k in sorted(cost[day])] for day in cost}
    return {
        "panel": _chart("cost", "Spend per day", days, ordered, money, money),
        "legend": legend(series),
    }
