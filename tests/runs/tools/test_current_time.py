from datetime import UTC, datetime

import pytest

from runs.tools import ToolContext, ToolError, call_tool
from runs.tools import current_time as current_time_module

FIXED = datetime(2025, 3, 14, 23, 30, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch):
    monkeypatch.setattr(current_time_module, "_now", lambda: FIXED)


def now_in(**arguments):
    return call_tool("current_time", arguments, context=ToolContext())


def test_current_time_defaults_to_utc():
    assert now_in() == {
        "iso": "2025-03-14T23:30:05+00:00",
        "date": "2025-03-14",
        "time": "23:30:05",
        "weekday": "Friday",
        "timezone": "UTC",
        "utc_offset": "+00:00",
    }


def test_current_time_converts_to_the_time_zone():
    result = now_in(timezone="Asia/Tokyo")
    assert result["iso"] == "2025-03-15T08:30:05+09:00"
    assert result["date"] == "2025-03-15"
    assert result["weekday"] == "Saturday"
    assert result["timezone"] == "Asia/Tokyo"
    assert now_in(timezone="Asia/Kolkata")["utc_offset"] == "+05:30"
    assert now_in(timezone="America/New_York")["utc_offset"] == "-04:00"


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/"])
def test_current_time_unknown_time_zone_is_invalid_arguments(name):
    with pytest.raises(ToolError) as caught:
        now_in(timezone=name)
    assert caught.value.code == "invalid_arguments"
    assert "time zone" in caught.value.message


def test_current_time_real_clock_is_aware(monkeypatch):
    monkeypatch.undo()
    assert now_in()["iso"].endswith("+00:00")
