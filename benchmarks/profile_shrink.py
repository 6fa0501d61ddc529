"""Where does ``slimwheel shrink`` spend its time? A phase profiler that needs no change to slimwheel.

It runs the real pipeline (:func:`slimwheel.shrink.shrink`, in this process) with timers wrapped around the
functions of each stage, so the figures describe the code as it is, not a copy of it:

* ``read``: the whole :func:`read_wheel`, split into the central directory, inflating + CRC-checking every entry
  (``_inflate``) and verifying RECORD (``_check_record``: SHA-256 of every file); the rest is reading the file
  and checking metadata;
* ``categorize``, ``plan``, ``apply``;
* ``strip``: wall time of the stage, and per call of the strip tool (``_run_tool``: temp file, subprocess, read
  back) and of the verification (``verify_stripped``: pyelftools on the original and the stripped file);
* ``write``: the whole :func:`write_wheel`, split into the new RECORD (``canonical_members``: SHA-256 of every
  kept file), the main thread's work per entry (``_payload_jobs``: CRC-32 and submitting chunks), the DEFLATE
  chunks (``_deflate_chunk``, in worker threads: CPU seconds summed over threads) and ``fsync``.

Timers record wall and thread CPU time and an event timeline, from which the script derives how busy the
cores were in each stage (summed thread CPU / wall) and whether stripping and compressing overlap.

Usage::

    .venv/bin/python benchmarks/profile_shrink.py --torch --out benchmarks/results/torch-profile.json
    .venv/bin/python benchmarks/profile_shrink.py --wheel some.whl --compress-level 6

For a sampling profile of the same run (all threads, including time spent in C), use py-spy, e.g.
``py-spy record -f raw -o torch.txt --threads -r 50 -- .venv/bin/slimwheel shrink WHEEL -w /tmp/out -q`` and
summarise it with ``profile_shrink.py --collapsed torch.txt``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_shrink import machine_info, resolve_wheel, slimwheel_source_info, snapshot_slimwheel  # noqa: E402


@dataclass
class Stat:
    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0


@dataclass
class Recorder:
    stats: dict[str, Stat] = field(default_factory=lambda: defaultdict(Stat))
    events: list[tuple[str, float, float, int, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    t0: float = field(default_factory=time.perf_counter)

    def wrap(self, name: str, fn: Callable[..., Any], describe: Callable[..., dict[str, Any]] | None = None) -> Any:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                end = time.perf_counter()
                used = time.thread_time() - cpu
                extra = describe(*args, **kwargs) if describe else {}
                with self.lock:
                    s = self.stats[name]
                    s.calls += 1
                    s.wall += end - start
                    s.cpu += used
                    self.events.append((name, start - self.t0, end - self.t0, threading.get_ident(), extra))

        return timed


def _patch(
    rec: Recorder, module: Any, attr: str, name: str, describe: Callable[..., dict[str, Any]] | None = None
) -> bool:
    fn = getattr(module, attr, None)
    if fn is None:
        print(f"note: {module.__name__}.{attr} not found; its timer is skipped", file=sys.stderr)
        return False
    setattr(module, attr, rec.wrap(name, fn, describe))
    return True


TOOL = "strip/tool (temp files + subprocess)"
VERIFY = "strip/verify (pyelftools)"
DEFLATE = "write/deflate (worker threads)"
SUBMIT = "write/crc32 + submit (main thread)"


def _tool_call(tool: str, option: str, data: bytes, timeout: float | None = None) -> dict[str, Any]:
    return {"tool": Path(tool).name, "option": option, "bytes": len(data)}


def install_timers(rec: Recorder) -> None:
    import slimwheel.binaries as binaries
    import slimwheel.contents as contents
    import slimwheel.shrink as shrink_mod
    import slimwheel.writer as writer

    for attr, name in [
        ("read_wheel", "read"),
        ("categorize_entries", "categorize"),
        ("make_plan", "plan"),
        ("_apply", "apply"),
        ("_strip", "strip"),
        ("write_wheel", "write"),
    ]:
        _patch(rec, shrink_mod, attr, name)
    _patch(rec, contents, "_central_directory", "read/central directory")
    _patch(rec, contents, "_inflate", "read/inflate+crc32")
    _patch(rec, contents, "_check_record", "read/RECORD verify (sha256)")
    _patch(rec, binaries, "_run_tool", TOOL, _tool_call)
    _patch(rec, binaries, "verify_stripped", VERIFY, lambda o, s: {"bytes": len(o)})
    _patch(rec, binaries, "describe", "strip/describe")
    _patch(rec, writer, "canonical_members", "write/new RECORD (sha256)")
    # The writer's internals have changed over time: time whichever of these exists.
    for attr in ("_payload_job", "_payload_jobs"):
        if hasattr(writer, attr):
            _patch(rec, writer, attr, SUBMIT, lambda e, *a: {"path": e.path, "bytes": e.size})
    if hasattr(writer, "_deflate"):  # one call per entry
        _patch(rec, writer, "_deflate", DEFLATE, lambda data, *a: {"bytes": len(data)})
    if hasattr(writer, "_deflate_chunk"):  # independent chunks of one entry
        _patch(rec, writer, "_deflate_chunk", DEFLATE, lambda v, s, e, *a: {"bytes": e - s})
    _patch(rec, os, "fsync", "write/fsync")


def busy_cores(rec: Recorder, window: tuple[float, float], names: tuple[str, ...]) -> float:
    """Summed wall time of the named events inside ``window``, divided by the window: how many were running."""
    lo, hi = window
    busy = 0.0
    for name, start, end, _tid, _extra in rec.events:
        if name in names:
            busy += max(0.0, min(end, hi) - max(start, lo))
    return busy / (hi - lo) if hi > lo else 0.0


def phase_window(rec: Recorder, name: str) -> tuple[float, float] | None:
    spans = [(s, e) for n, s, e, _t, _x in rec.events if n == name]
    return (min(s for s, _ in spans), max(e for _, e in spans)) if spans else None


def profile(
    wheel: Path, out_dir: Path, compress_level: int, jobs: int | None, levels: list[int], every: int
) -> dict[str, Any]:
    from slimwheel.shrink import ShrinkOptions, shrink

    rec = Recorder()
    install_timers(rec)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    rec.t0 = started = time.perf_counter()
    report = shrink(wheel, out_dir, ShrinkOptions(compress_level=compress_level, jobs=jobs))
    total = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)

    stages = ["read", "categorize", "plan", "apply", "strip", "write"]
    accounted = sum(rec.stats[s].wall for s in stages if s in rec.stats)
    rows = []
    for name in sorted(
        rec.stats, key=lambda n: (stages.index(n.split("/")[0]) if n.split("/")[0] in stages else 99, n)
    ):
        s = rec.stats[name]
        rows.append({"name": name, "calls": s.calls, "wall_s": round(s.wall, 3), "thread_cpu_s": round(s.cpu, 3)})
    strip_window = phase_window(rec, "strip")
    write_window = phase_window(rec, "write")
    tool_calls = sorted(
        ({**x, "wall_s": round(e - s, 3), "start_s": round(s, 3)} for n, s, e, _t, x in rec.events if n == TOOL),
        key=lambda c: -c["wall_s"],
    )
    verify_calls = sorted(
        ({**x, "wall_s": round(e - s, 3)} for n, s, e, _t, x in rec.events if n == VERIFY),
        key=lambda c: -c["wall_s"],
    )
    deflates = [(e - s, x["bytes"]) for n, s, e, _t, x in rec.events if n == DEFLATE]
    deflated = sum(b for _, b in deflates)
    longest = max(deflates, default=(0.0, 0))
    experiment = (
        deflate_experiment(out_dir / wheel.name, [s.path for s in report.stripped], levels, every)
        if levels and report.stripped
        else None
    )
    return {
        "wheel": str(wheel),
        "compress_level": compress_level,
        "jobs": jobs,
        "total_wall_s": round(total, 3),
        "unaccounted_s": round(total - accounted, 3),
        "process_cpu_s": round(me.ru_utime + me.ru_stime - self_before.ru_utime - self_before.ru_stime, 3),
        "strip_tools_cpu_s": round(
            children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime, 3
        ),
        "timers": rows,
        "strip_busy_tool_processes": round(busy_cores(rec, strip_window, (TOOL,)), 2) if strip_window else None,
        "strip_busy_tool_or_verify": round(busy_cores(rec, strip_window, (TOOL, VERIFY)), 2) if strip_window else None,
        "write_busy_deflate_threads": round(busy_cores(rec, write_window, (DEFLATE,)), 2) if write_window else None,
        "longest_deflate_call": {"wall_s": round(longest[0], 3), "bytes": longest[1]},
        "strip_and_write_overlap_s": round(max(0.0, strip_window[1] - write_window[0]), 3)
        if strip_window and write_window
        else None,
        "deflated_bytes": deflated,
        "deflate_calls": len(deflates),
        "strip_tool_calls": tool_calls[:15],
        "verify_calls": verify_calls[:10],
        "output": {"compressed": report.after.archive, "installed": report.after.total.installed},
        "deflate_levels_on_stripped_files": experiment,
    }


def deflate_experiment(output: Path, paths: list[str], levels: list[int], every: int) -> dict[str, Any]:
    """Compress the stripped files of ``output`` at each level with the writer's own function; time it.

    The writer's unit of work is used as it is: one ``_deflate(data, level)`` call per file (the current
    writer), or independent ``_deflate_chunk`` chunks (an older one; then only every ``every``-th chunk).
    Levels are interleaved unit by unit in rotating order and timed with thread CPU time, which the other
    work on a shared machine disturbs much less than wall time. SHA-256 and CRC-32 are timed for scale.
    """
    import hashlib
    import zipfile
    import zlib

    import slimwheel.writer as writer

    with zipfile.ZipFile(output) as zf:
        blobs = [zf.read(p) for p in paths]
    units: list[Callable[[int], int]] = []
    sampled = 0
    if hasattr(writer, "_deflate"):
        mode = "one call per file"
        for blob in blobs:
            units.append(functools.partial(lambda b, level: len(writer._deflate(b, level)), blob))
            sampled += len(blob)
    else:
        mode = f"every {every}th chunk of {writer.CHUNK} bytes"
        for blob in blobs:
            view, n = memoryview(blob), len(blob)
            for k, start in enumerate(range(0, n, writer.CHUNK)):
                if k % every == 0:
                    end = min(start + writer.CHUNK, n)
                    units.append(
                        functools.partial(
                            lambda v, a, b, f, level: len(writer._deflate_chunk(v, a, b, level, f)),
                            view,
                            start,
                            end,
                            end >= n,
                        )
                    )
                    sampled += end - start
    cpu = dict.fromkeys(levels, 0.0)
    size = dict.fromkeys(levels, 0)
    longest = dict.fromkeys(levels, 0.0)
    for i, unit in enumerate(units):
        for level in levels[i % len(levels) :] + levels[: i % len(levels)]:
            t = time.thread_time()
            size[level] += unit(level)
            used = time.thread_time() - t
            cpu[level] += used
            longest[level] = max(longest[level], used)
    t = time.thread_time()
    for blob in blobs:
        hashlib.sha256(blob).digest()
    sha = time.thread_time() - t
    t = time.thread_time()
    for blob in blobs:
        zlib.crc32(blob)
    crc = time.thread_time() - t
    total = sum(len(b) for b in blobs)
    return {
        "files": len(paths),
        "bytes_in_files": total,
        "mode": mode,
        "sampled_bytes": sampled,
        "levels": {
            str(level): {
                "cpu_s_sampled": round(cpu[level], 3),
                "cpu_s_per_GB": round(cpu[level] / sampled * 1e9, 2),
                "estimated_cpu_s_all_files": round(cpu[level] / sampled * total, 2),
                "longest_unit_cpu_s": round(longest[level], 3),
                "ratio": round(size[level] / sampled, 4),
                "estimated_compressed_bytes_all_files": round(size[level] / sampled * total),
            }
            for level in levels
        },
        "sha256_cpu_s_per_GB": round(sha / total * 1e9, 2),
        "crc32_cpu_s_per_GB": round(crc / total * 1e9, 2),
    }


def summarize_collapsed(path: Path, top: int) -> dict[str, Any]:
    """Aggregate a py-spy ``-f raw`` (collapsed stacks) file by the innermost slimwheel/zlib/hashlib frame."""
    buckets: dict[str, int] = defaultdict(int)
    threads: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        threads[frames[0].split(" ")[0] if frames else "?"] += count
        label = frames[-1]
        for frame in reversed(frames):
            if "slimwheel" in frame or "zipfile" in frame or "subprocess" in frame:
                label = frame
                break
        buckets[_short(label)] += count
    ranked = sorted(buckets.items(), key=lambda kv: -kv[1])[:top]
    return {"samples": total, "top": [{"frame": f, "samples": n, "share": round(n / total, 3)} for f, n in ranked]}


def _short(frame: str) -> str:
    # py-spy frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit("/", 1)[-1].split(":")[0]
    return f"{name} ({file})"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# Profile of `slimwheel shrink` on {Path(result['wheel']).name}",
        "",
        f"compress level {result['compress_level']}, total {result['total_wall_s']:.1f} s wall, "
        f"process CPU {result['process_cpu_s']:.1f} s, strip tools' CPU {result['strip_tools_cpu_s']:.1f} s",
        "",
        "| timer | calls | wall s | share of total | thread CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in result["timers"]:
        share = row["wall_s"] / result["total_wall_s"] if "/" not in row["name"] else None
        lines.append(
            f"| {row['name']} | {row['calls']} | {row['wall_s']:.2f} | "
            f"{'' if share is None else f'{share:.0%}'} | {row['thread_cpu_s']:.2f} |"
        )
    lines += [
        "",
        f"- strip stage: on average {result['strip_busy_tool_processes']} strip processes running, "
        f"{result['strip_busy_tool_or_verify']} threads stripping or verifying",
        f"- write stage: on average {result['write_busy_deflate_threads']} deflate threads running; "
        f"{result['deflate_calls']} deflate calls on {result['deflated_bytes'] / 1e6:.0f} MB, the longest "
        f"{result['longest_deflate_call']['wall_s']:.1f} s on {result['longest_deflate_call']['bytes'] / 1e6:.0f} MB",
        f"- strip/write overlap: {result['strip_and_write_overlap_s']} s",
        "",
        "Slowest strip tool calls:",
        "",
    ]
    lines += [
        f"- {c['tool']} {c['option']} on {c['bytes'] / 1e6:.1f} MB: {c['wall_s']:.1f} s"
        for c in result["strip_tool_calls"][:6]
    ]
    exp = result.get("deflate_levels_on_stripped_files")
    if exp:
        lines += [
            "",
            f"DEFLATE of the {exp['files']} stripped files ({exp['bytes_in_files'] / 1e6:.0f} MB; {exp['mode']}, "
            f"{exp['sampled_bytes'] / 1e6:.0f} MB), levels interleaved, thread CPU time:",
            "",
            "| level | CPU s per GB | est. CPU s, all files | longest call s | ratio | est. compressed MB |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for level, v in exp["levels"].items():
            lines.append(
                f"| {level} | {v['cpu_s_per_GB']:.1f} | {v['estimated_cpu_s_all_files']:.1f} | "
                f"{v['longest_unit_cpu_s']:.1f} | {v['ratio']:.4f} | "
                f"{v['estimated_compressed_bytes_all_files'] / 1e6:.1f} |"
            )
        lines += [
            "",
            f"For scale: SHA-256 {exp['sha256_cpu_s_per_GB']:.1f} CPU s/GB, "
            f"CRC-32 {exp['crc32_cpu_s_per_GB']:.2f} CPU s/GB.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--wheel", type=Path)
    which.add_argument("--numpy", action="store_true")
    which.add_argument("--torch", action="store_true")
    which.add_argument("--collapsed", type=Path, help="summarise a py-spy raw (collapsed stacks) file and exit")
    parser.add_argument("--compress-level", type=int, default=9)
    parser.add_argument("-j", "--jobs", type=int, default=None)
    parser.add_argument(
        "--levels",
        default="1,6,9",
        help="after the run, time DEFLATE at these levels on the stripped files ('' to skip; default 1,6,9)",
    )
    parser.add_argument("--every", type=int, default=4, help="use every N-th chunk for --levels (default 4)")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--out", type=Path, help="write JSON here (and a .md beside it)")
    parser.add_argument(
        "--source",
        choices=["head", "worktree"],
        default="head",
        help="profile the last commit's slimwheel (default) or the work tree's",
    )
    args = parser.parse_args(argv)

    if args.collapsed:
        result = summarize_collapsed(args.collapsed, args.top)
    else:
        wheel = resolve_wheel(args.wheel, numpy=args.numpy, torch=args.torch)
        snapshot = Path(tempfile.mkdtemp(prefix="slimwheel-profile-src-"))
        if args.source == "head":
            snapshot_slimwheel(snapshot, "head")
            sys.path.insert(0, str(snapshot / "snapshot"))
        with tempfile.TemporaryDirectory(prefix="slimwheel-profile-") as tmp:
            levels = [int(x) for x in args.levels.split(",") if x.strip()]
            result = profile(wheel, Path(tmp), args.compress_level, args.jobs, levels, args.every)
            shutil.rmtree(tmp, ignore_errors=True)
        result["machine"] = machine_info()
        import slimwheel

        result["slimwheel"] = slimwheel_source_info() | {
            "measured": args.source,
            "measured_sha256": slimwheel_source_info(Path(slimwheel.__file__).parent)["sources_sha256"],
        }
        shutil.rmtree(snapshot, ignore_errors=True)
        result["python"] = platform.python_version()
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        if not args.collapsed:
            args.out.with_suffix(".md").write_text(markdown(result))
    print(text if args.collapsed else markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
