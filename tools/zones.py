"""The user's time zone and the dates a tool accepts, checked before anything is sent anywhere.

A time zone reaches the agent from the runtime context (the CLI's setting, a server client's JSON), so
it is untrusted text: only a name from the IANA database is used (`Mars/Phobos` or a path such as
`../../etc/passwd` would make `ZoneInfo` fail or read a file). An unknown name falls back to UTC with a
note the model passes on. Dates are kept within years 1970–2100: far enough for any calendar question,
and far from the limits where date arithmetic overflows.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime

MIN_YEAR, MAX_YEAR = 1970, 2100
# The shape of an IANA name ("UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Etc/GMT+3"):
# no leading "/", no "." at all — so never a path outside the zone database. Whether it exists is then
# for `ZoneInfo` to say (listing the database with `available_timezones()` would walk the disk on the
# event loop).
IANA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,30}(?:/[A-Za-z0-9_+-]{1,30}){0,2}$")


def resolve_zone(name: str | None) -> tuple[zoneinfo.ZoneInfo, str | None]:
    """The zone named `name`, or UTC and a one-line note saying why it is not the one asked for."""
    name = (name or "UTC").strip() or "UTC"
    if IANA_NAME.match(name):
        try:
            return zoneinfo.ZoneInfo(name), None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    shown = name if len(name) <= 64 else name[:61] + "…"
    return zoneinfo.ZoneInfo("UTC"), f"Note: the time zone {shown!r} is not a known IANA time zone, so times are in UTC."


def check_year(value: datetime) -> datetime:
    """`value` if its year is within MIN_YEAR–MAX_YEAR, else a ValueError whose text is for the user."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"dates must be between the years {MIN_YEAR} and {MAX_YEAR} (got {value.year})")
    return value
