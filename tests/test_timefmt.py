"""vtdb.timefmt: positions truncate, lengths round, nothing is negative, unusable values never fail."""

from __future__ import annotations

import math

import pytest

from vtdb.timefmt import clock, clock_span, duration, seconds


@pytest.mark.parametrize("value, expected", [
    (0, "00:00:00"), (12.7, "00:00:12"), (59.999, "00:00:59"), (3599.9, "00:59:59"), (3661, "01:01:01"),
    (-5, "00:00:00"), ("90", "00:01:30"), (None, "--:--:--"), (math.nan, "--:--:--"), (math.inf, "--:--:--"),
    ("abc", "--:--:--"), (True, "--:--:--"), ([1], "--:--:--"), (360000, "100:00:00"),
])
def test_clock_truncates_and_never_fails(value, expected):
    assert clock(value) == expected


@pytest.mark.parametrize("value, style, expected", [
    (65, "h:mm:ss", "0:01:05"), (3725.9, "h:mm:ss", "1:02:05"), (65, "m:ss", "1:05"), (3599, "m:ss", "59:59"),
    (3600, "m:ss", "1:00:00"), (None, "m:ss", "-:--"), (None, "h:mm:ss", "-:--:--"),
])
def test_clock_styles(value, style, expected):
    assert clock(value, style) == expected


def test_clock_nearest_rounds():
    assert clock(97.6, nearest=True) == "00:01:38"
    assert clock(97.6) == "00:01:37"
    assert clock(-0.4, nearest=True) == "00:00:00"


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError):
        clock(1, "hh:mm")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        clock(None, "hh:mm")  # type: ignore[arg-type]


def test_clock_span():
    assert clock_span(12.7, 70.2) == "00:00:12–00:01:10"
    assert clock_span(5, 65, "m:ss") == "0:05–1:05"
    assert clock_span(None, 10) == "(no time range)"
    assert clock_span(1, "x", none="") == ""
    assert clock_span(97.6, 98.5, nearest=True) == "00:01:38–00:01:38"


@pytest.mark.parametrize("value, expected", [
    (0, "0:00"), (59.6, "1:00"), (59.4, "0:59"), (3599.6, "1:00:00"), (3725, "1:02:05"), (None, "0:00"),
    (-10, "0:00"), (math.nan, "0:00"), ("61", "1:01"),
])
def test_duration_rounds(value, expected):
    assert duration(value) == expected


def test_duration_styles():
    assert duration(97.6, "hh:mm:ss") == "00:01:38"
    assert duration(97.6, "h:mm:ss") == "0:01:38"


def test_seconds():
    assert seconds(" 1.5 ") == 1.5
    assert seconds(2) == 2.0
    for bad in (None, True, False, "", "x", math.nan, -math.inf, [], {}, object()):
        assert seconds(bad) is None
