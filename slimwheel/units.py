"""Byte sizes: parse what users type (``5MB``, ``4.5MiB``) and print sizes the same way everywhere."""

from __future__ import annotations

import re

from .errors import UsageError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)\s*")


def parse_size(text: str) -> int:
    """``"5MB"`` → 5000000, ``"4.5MiB"`` → 4718592, ``"1200"`` → 1200 bytes. Decimal units are powers of 1000."""
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise UsageError(f"can't read size {text!r}: use a number with an optional unit (B, kB, MB, GB, KiB, MiB, GiB)")
    return int(float(match.group(1)) * _UNITS[unit])


def human_size(n: int) -> str:
    """Decimal units, three significant digits: ``16.9 MB``, ``512 kB``, ``42 B``."""
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1000:
        return f"{sign}{n} B"
    for unit, scale in (("kB", 1000), ("MB", 1000**2), ("GB", 1000**3), ("TB", 1000**4)):
        value = n / scale
        if value < 999.5 or unit == "TB":
            text = f"{value:.3g}" if value < 100 else f"{value:.0f}"
            return f"{sign}{text} {unit}"
    raise AssertionError("unreachable")
