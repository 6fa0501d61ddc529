"""What every benchmark records about the machine it ran on (imported by the bench_*.py scripts)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any


def machine_info() -> dict[str, Any]:
    """Date, platform, Python, CPU model, cores and the load average at the start (shared machines are noisy)."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
