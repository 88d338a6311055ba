"""Submission times from hostile text (grader.course.timestamps)."""

from __future__ import annotations

from datetime import datetime

import pytest

from grader.course.timestamps import BadTimestamp, format_timestamp, parse_timestamp, read_timestamp

GOOD = [
    ("2026-11-30 09:15:42.250000 UTC", datetime(2026, 11, 30, 9, 15, 42, 250000)),
    ("  2026-11-30 09:15:42 UTC\n", datetime(2026, 11, 30, 9, 15, 42)),
    ("2026-11-30T09:15:42Z", datetime(2026, 11, 30, 9, 15, 42)),
    ("2026-11-30 09:15:42", datetime(2026, 11, 30, 9, 15, 42)),
    ("2026-11-30 10:45:42+0130", datetime(2026, 11, 30, 9, 15, 42)),
    ("2026-11-30T04:15:42.5-05:00", datetime(2026, 11, 30, 9, 15, 42, 500000)),
]


@pytest.mark.parametrize("text, expected", GOOD)
def test_accepted_forms(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.slow  # imports nbgrader (~3 s)
def test_nbgrader_reads_the_accepted_forms_the_same_way():
    """formgrader compares nbgrader's own reading of timestamp.txt with the gradebook's."""
    from nbgrader.utils import parse_utc

    for text, expected in GOOD:
        assert parse_utc(text.strip()).replace(tzinfo=None) == expected, text


@pytest.mark.parametrize("text", [
    "", "now", "2026-11-30", "2026-11-30 09:15", "2026-13-01 00:00:00", "2026-11-31 00:00:00",
    "2026-11-30 24:00:00", "2026-11-30 09:15:42 EST", "2026-11-30 09:15:42+15:00",
    "2026-11-30 10:45:42 +0130",  # nbgrader reads this as +130 seconds
    "2026-11-30 09:15:42 UTC; rm -rf /", "1999-12-31 23:59:59 UTC", "2100-01-01 00:00:00",
    "2026-11-30 09:15:42.1234567 UTC", "２０２６-11-30 09:15:42",
])
def test_refused_forms(text):
    with pytest.raises(BadTimestamp):
        parse_timestamp(text)


def test_read_timestamp_refuses_fifos_and_reports_missing_as_no_problem(tmp_path):
    import os

    assert read_timestamp(tmp_path) == (None, "")
    os.mkfifo(tmp_path / "timestamp.txt")
    stamp, why = read_timestamp(tmp_path)  # must not block on the FIFO
    assert stamp is None and "regular file" in why


def test_format_round_trips():
    stamp = datetime(2026, 11, 30, 9, 15, 42, 250000)
    assert parse_timestamp(format_timestamp(stamp)) == stamp
    with pytest.raises(TypeError):
        format_timestamp("2026-11-30")
