"""Run journals: what each check run decided, kept so that ``shrink --check ... --resume`` continues a trial.

A journal is a file of JSON lines, one per check run (``{"key": candidate, "passed": bool, "phase": str}``), at
``<cache>/journals/<journal key>.jsonl``. The journal key (:func:`journal_key`) is computed here and nowhere
else, from :class:`JournalInputs`: every input that can change a verdict — the bytes of every item (the wheels
after rules and stripping), each check's command and the contents of the files it names, the interpreter, every
``--with`` requirement and ``--with-wheel`` file (by sha256), ``--same-output``, ``--timeout``, the rules, the
``--prune``/``--keep`` patterns and the strip level. Change any of them and ``--resume`` finds no journal: it
never reuses a verdict that another check, interpreter or set of bytes gave.

A :class:`Journal` is also the trial's only store of verdicts while it runs: the ones loaded on ``--resume`` and
every one recorded since, looked up by candidate key. The trial hands it to its reducer as the reducer's cache
(:class:`slimwheel.ledger.VerdictCache`), so a candidate known to the journal is never run again, and looks stub
sets up in it the same way. Every line is written when its run ends, in the order runs end.

Journals are pruned when a trial starts (:func:`prune_journals`): those not written for :data:`MAX_AGE`
seconds, then the oldest until the rest fit in :data:`MAX_BYTES`; the journal being used is never pruned.

This module knows nothing about zips, wheels, checks, processes or how candidates are searched: callers describe
their inputs as strings, and candidates by key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: Journals not written for this many seconds are deleted when a trial starts.
MAX_AGE = 30 * 24 * 3600.0
#: Then the oldest journals are deleted until the others fit in this many bytes.
MAX_BYTES = 256 * 1024 * 1024
SUFFIX = ".jsonl"
#: Format of the key material; bump it to make every existing journal unreachable.
_FORMAT = 1


@dataclass(frozen=True)
class JournalInputs:
    """Everything that can change whether a candidate passes the check (see the module docstring)."""

    files: tuple[tuple[str, str], ...]  # (item key, sha256 of its bytes): the wheels after rules and stripping
    checks: tuple[str, ...]  # each check's identity: its command and the contents of every file it names
    interpreter: str  # the check interpreter: its real path and version
    requirements: tuple[str, ...] = ()  # --with
    with_wheels: tuple[str, ...] = ()  # sha256 of each --with-wheel file
    same_output: bool = False
    timeout: float | None = None  # --timeout; None: adaptive
    rules: tuple[str, ...] = ()  # codes of the rules that ran
    prune: tuple[str, ...] = ()  # --prune patterns
    keep: tuple[str, ...] = ()  # --keep patterns
    strip: str = ""  # the strip level


def journal_key(inputs: JournalInputs) -> str:
    """The journal's name: a digest of every field of ``inputs``. Pure. The order of ``--with`` requirements,
    ``--with-wheel`` files, rules and patterns doesn't matter; the order of the checks does (they run in it)."""
    material = dataclasses.asdict(inputs)
    for name in ("requirements", "with_wheels", "rules", "prune", "keep"):
        material[name] = sorted(material[name])
    material["files"] = sorted(map(list, inputs.files))
    material["format"] = _FORMAT
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def journal_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "journals" / f"{key}{SUFFIX}"


class Journal:
    """One trial's journal file and the verdicts it holds (candidate key → passed). Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()

    def start(self, *, resume: bool) -> int:
        """Prune the other journals; then hold the verdicts recorded so far (``resume``), or start an empty journal.
        Returns how many verdicts it holds."""
        prune_journals(self.path.parent, keep=(self.path,))
        if resume:
            verdicts = self.load()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")
            verdicts = {}
        with self._lock:
            self._verdicts = verdicts
        return len(verdicts)

    def load(self) -> dict[str, bool]:
        """Candidate key → passed, for every complete line of the file (a line cut by a crash is ignored)."""
        verdicts: dict[str, bool] = {}
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return verdicts
        for line in text.splitlines():
            try:
                record = json.loads(line)
                verdicts[str(record["key"])] = bool(record["passed"])
            except (ValueError, KeyError, TypeError):
                continue
        return verdicts

    def get(self, key: str) -> bool | None:
        """The verdict held for a candidate key, if any."""
        with self._lock:
            return self._verdicts.get(key)

    def record(self, key: str, passed: bool, phase: str) -> None:
        """A check run's verdict: held, and appended to the file as one line."""
        with self._lock:
            self._verdicts[key] = passed
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write(json.dumps({"key": key, "passed": passed, "phase": phase}) + "\n")

    def __setitem__(self, key: str, passed: bool) -> None:
        """Hold a verdict without writing it: a reducer's cache write, of a verdict its oracle already recorded
        (with the phase, which only the oracle knows)."""
        with self._lock:
            self._verdicts[key] = passed


def prune_journals(
    directory: Path,
    *,
    keep: Iterable[Path] = (),
    now: float | None = None,
    max_age: float = MAX_AGE,
    max_bytes: int = MAX_BYTES,
) -> list[Path]:
    """Delete the journals in ``directory`` older than ``max_age`` seconds (by last write), then the oldest until
    the others total at most ``max_bytes``; never those in ``keep``. Returns what was deleted."""
    now = time.time() if now is None else now
    spared = {Path(p).resolve() for p in keep}
    found: list[tuple[float, int, Path]] = []
    for path in Path(directory).glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            stat = path.stat()
            found.append((stat.st_mtime, stat.st_size, path))
    found.sort(key=lambda entry: (entry[0], entry[2].name))  # oldest first
    total = sum(size for _, size, _ in found)
    deleted: list[Path] = []
    for mtime, size, path in found:
        if path.resolve() in spared or (now - mtime <= max_age and total <= max_bytes):
            continue
        with contextlib.suppress(FileNotFoundError):  # another slimwheel pruned it first
            path.unlink()
        total -= size
        deleted.append(path)
    return deleted
