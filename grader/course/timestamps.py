"""A submission's time, read from hostile text.

nbgrader's exchange writes ``timestamp.txt`` (``Exchange.timestamp_format``, default
``"%Y-%m-%d %H:%M:%S.%f %Z"`` in ``Exchange.timezone``, default UTC) into the student's
inbound folder, and ``nbgrader collect`` copies it into ``submitted/<student>/<assignment>/``.
The student owns that folder in the exchange, so the file is untrusted: it may be huge, a
symlink, a FIFO, binary, or a date nbgrader's lenient ``dateutil`` parser reads as something
else. :func:`parse_timestamp` accepts only the forms below and returns a naive UTC datetime (what
nbgrader's gradebook stores); anything else is refused with the reason. A numeric offset after
a space (``... 10:45:42 +0130``) is refused too: nbgrader reads it as seconds (130 s), so
formgrader would disagree with the gradebook.

Accepted (``T`` or one space between date and time; fraction of a second optional)::

    2026-12-02 13:55:01.123456 UTC      (nbgrader's default; also GMT, Z)
    2026-12-02T13:55:01+01:00           (numeric offset, also +0100, right after the time)
    2026-12-02 13:55:01                 (no zone: UTC, as nbgrader reads it)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from grader.sandbox.files import read_regular_file

#: ``timestamp.txt`` is one line; anything longer is not a timestamp.
MAX_TIMESTAMP_BYTES = 256
#: Years outside this range are refused (a typo or a forged date, not a submission time).
YEARS = (2000, 2100)

_FORM = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,6}))?"
    r"(?: ?(?P<name>UTC|GMT|Z)|(?P<offset>[+-]\d{2}:?\d{2}))?",
    re.ASCII,  # \d is 0-9 only, not every script's digits
)


class BadTimestamp(ValueError):
    """The text is not a submission time in one of the accepted forms (message says why)."""


def parse_timestamp(text: str) -> datetime:
    """The naive-UTC time written in ``text`` (surrounding whitespace ignored).

    Raises:
        BadTimestamp: not one of the accepted forms, an impossible date, a zone offset
            beyond ±14:00, or a year outside :data:`YEARS`.
    """
    if not isinstance(text, str):
        raise BadTimestamp(f"a timestamp must be text, got {type(text).__name__}")
    line = text.strip()
    match = _FORM.fullmatch(line)
    if match is None:
        shown = line[:40].encode("ascii", "backslashreplace").decode()
        raise BadTimestamp(f"not a timestamp like '2026-12-02 13:55:01.123456 UTC': {shown!r}")
    frac = (match["frac"] or "").ljust(6, "0")
    try:
        stamp = datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise BadTimestamp(f"impossible date or time {line!r}: {exc}") from exc
    stamp = stamp.replace(microsecond=int(frac or 0))
    zone = match["offset"]
    if zone:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 14 or minutes > 59:
            raise BadTimestamp(f"zone offset {zone} is beyond ±14:00")
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        stamp = stamp.replace(tzinfo=offset).astimezone(UTC).replace(tzinfo=None)
    if not YEARS[0] <= stamp.year < YEARS[1]:
        raise BadTimestamp(f"year {stamp.year} is outside {YEARS[0]}..{YEARS[1] - 1}")
    return stamp


def read_timestamp(folder: Path) -> tuple[datetime | None, str]:
    """``(time, problem)`` from ``folder/timestamp.txt``: ``(None, "")`` when there is no
    such file, ``(None, why)`` when it is not a readable, well-formed timestamp (a symlink,
    a FIFO, over :data:`MAX_TIMESTAMP_BYTES`, not UTF-8, or refused by :func:`parse_timestamp`).
    """
    path = Path(folder) / "timestamp.txt"
    if not path.exists() and not path.is_symlink():
        return None, ""
    data = read_regular_file(path, MAX_TIMESTAMP_BYTES)
    if data is None:
        return None, (f"timestamp.txt ignored: not a regular file of at most "
                      f"{MAX_TIMESTAMP_BYTES} bytes")
    try:
        return parse_timestamp(data.decode("utf-8")), ""
    except UnicodeDecodeError:
        return None, "timestamp.txt ignored: not UTF-8 text"
    except BadTimestamp as exc:
        return None, f"timestamp.txt ignored: {exc}"


def format_timestamp(stamp: datetime) -> str:
    """``stamp`` (naive UTC or aware) in nbgrader's default exchange format."""
    if not isinstance(stamp, datetime):
        raise TypeError(f"stamp must be a datetime, got {type(stamp).__name__}")
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
