"""What every benchmark records about the machine it ran on (imported by the bench_*.py scripts)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any


def commit() -> str:
    """The checkout's commit (short), with ``+dirty`` when slimwheel/, benchmarks/ or recipes/ have uncommitted
    changes: the code that was measured."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "slimwheel", "benchmarks", "recipes")
    return head + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """Date, commit, the command, platform, Python, CPU model, cores and the load average at the start (shared
    machines are noisy)."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
