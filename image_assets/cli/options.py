"""Option parsing shared by every command: one date format, one way to read numbers."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from image_assets.cli.errors import UserError

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str, flag: str = "date") -> dt.date:
    """A UTC partition day written YYYY-MM-DD (only that form: `20261126` or `2026-W48-4` are refused)."""
    try:
        if not _ISO_DAY.fullmatch(text):
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"invalid {flag} {text!r}: use YYYY-MM-DD") from None


def number_option(flag: str, text: str, kind: type[int] | type[float]) -> Any:
    """`text` as an int or a finite float, or a one-line error naming `flag`."""
    try:
        value = kind(text)
    except ValueError:
        raise UserError(f"{flag} must be {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {text!r}")
    return value
