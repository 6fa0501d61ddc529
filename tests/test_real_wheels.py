"""slimwheel on real PyPI wheels: the outputs install, import, compute, verify and report honestly.

Every wheel is shrunk once per test run with default options (the ``shrunk`` fixture in conftest.py) and the
result is checked by independent tools: ``wheel unpack`` (RECORD hashes), pip, uv, pyelftools, pefile, and the
installed packages themselves in an isolated interpreter. Run with ``-s`` to see one line of numbers per wheel.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pefile
import pytest
import wheelcache
from conftest import RunOnce, Shrunk
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from wheelcache import (
    NUMPY_126_WIN64,
    NUMPY_LINUX,
    NUMPY_WIN32,
    NUMPY_WIN64,
    ONNXRUNTIME_LINUX,
    ONNXRUNTIME_WIN64,
    SCIPY_LINUX,
    RealWheel,
)

from slimwheel import shrink as pipeline
from slimwheel.binaries import describe
from slimwheel.contents import read_wheel
from slimwheel.licences import licence_paths
from slimwheel.options import RulesOnly, ShrinkOptions
from slimwheel.report import to_json

pytestmark = pytest.mark.realwheel

PY = sys.executable
UV = Path(sys.executable).parent / "uv"
ALL = wheelcache.ALL
NUMPYS = (NUMPY_LINUX, NUMPY_WIN64, NUMPY_WIN32, NUMPY_126_WIN64)
SIGNATURES = ("RECORD.jws", "RECORD.p7s")
# uv's name for the platform of each Windows wheel (`uv pip install --python-platform`).
# Wheels of another platform than this machine's are installed with explicit tags (pip) or a platform (uv).
UV_PLATFORMS = {
    "win_amd64": "x86_64-pc-windows-msvc",
    "win32": "i686-pc-windows-msvc",
    "manylinux_2_28_aarch64": "aarch64-manylinux_2_28",
    "manylinux2014_aarch64": "aarch64-manylinux2014",
}
# The wheels a package needs installed beside it to import (the shrunk versions are used).
NEEDS = {SCIPY_LINUX: (NUMPY_LINUX,), ONNXRUNTIME_LINUX: (NUMPY_LINUX,)}


def params(specs: tuple[RealWheel, ...]) -> list[Any]:
    """One parameter per wheel, in the wheel's xdist group so that ``--dist loadgroup`` keeps it on one worker."""
    return [pytest.param(s, id=s.key, marks=pytest.mark.xdist_group(s.key)) for s in specs]


# ---- reading wheels -------------------------------------------------------------------------------------------


def files(path: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: i for i in z.infolist() if not i.is_dir()}


def read_all(path: Path, names: Callable[[str], bool] = lambda _: True) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir() and names(i.filename)}


def natives(path: Path) -> dict[str, bytes]:
    """Every ELF or PE file in the wheel, found by magic bytes (independently of slimwheel's categories)."""
    found = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.is_dir():
                continue
            with z.open(info) as fh:
                head = fh.read(4)
            if head == b"\x7fELF" or head[:2] == b"MZ":
                found[info.filename] = z.read(info)
    return found


def dist_info(names: Any) -> str:
    (found,) = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    return found


def entry_points(text: str) -> dict[tuple[str, str], str]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {(group, name): value.strip() for group in parser.sections() for name, value in parser.items(group)}


def is_windows(spec: RealWheel) -> bool:
    return spec.platform.startswith("win")


# ---- native files ---------------------------------------------------------------------------------------------


def open_pe(data: bytes) -> pefile.PE:
    # OpenBLAS exports ~9,400 symbols, over pefile's default limit of 8,192 ("Assuming corrupt").
    return pefile.PE(data=data, max_symbol_exports=1 << 20)


def pe_facts(data: bytes) -> dict[str, Any]:
    pe = open_pe(data)
    try:
        export = getattr(pe, "DIRECTORY_ENTRY_EXPORT", None)
        return {
            "machine": pe.FILE_HEADER.Machine,
            "entry": pe.OPTIONAL_HEADER.AddressOfEntryPoint,
            "sections": [
                (s.Name.rstrip(b"\0"), s.VirtualAddress, s.Misc_VirtualSize)
                for s in pe.sections
                if not s.Name.startswith(b".debug")
                and not s.Name.startswith(b"/")  # GNU ld's long (DWARF) section names
            ],
            "exports": [(e.ordinal, e.name, e.address) for e in (export.symbols if export else [])],
            "imports": [
                (i.dll, [f.name or f.ordinal for f in i.imports]) for i in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
            ],
        }
    finally:
        pe.close()


def elf_facts(data: bytes) -> dict[str, Any]:
    elf = ELFFile(io.BytesIO(data))
    loads = [s.header for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    dynamic: list[tuple[str, Any]] = []
    dynsym: list[str] = []
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            dynamic = [
                (t.entry.d_tag, getattr(t, t.entry.d_tag[3:].lower()))
                for t in section.iter_tags()
                if t.entry.d_tag in ("DT_NEEDED", "DT_SONAME", "DT_RPATH", "DT_RUNPATH")
            ]
        elif section["sh_type"] == "SHT_DYNSYM":
            dynsym = sorted(sym.name for sym in section.iter_symbols())
    return {
        "header": (elf.elfclass, elf["e_machine"], elf["e_type"], elf["e_entry"]),
        "loads": [(h.p_vaddr, h.p_flags) for h in loads],
        "misaligned": [
            (h.p_offset, h.p_vaddr, h.p_align) for h in loads if h.p_align > 1 and (h.p_offset - h.p_vaddr) % h.p_align
        ],
        "dynamic": dynamic,
        "dynsym": dynsym,
    }


# ---- installing and running -----------------------------------------------------------------------------------


def run(cmd: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "UV_", "SOURCE_DATE_EPOCH"))}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600, **kwargs)


def pip_command(spec: RealWheel, target: Path) -> list[str | Path]:
    cmd: list[str | Path] = [PY, "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check"]
    if spec.platform in UV_PLATFORMS:  # pip accepts a foreign platform only for --target, explicit tags, binaries
        cmd += ["--platform", spec.platform, "--only-binary=:all:", "--python-version", spec.python_version]
        cmd += ["--implementation", "cp"]
    return [*cmd, "--target", target]


@pytest.fixture(scope="session")
def pip_installed(shrunk: Callable[[RealWheel], Shrunk], run_once: RunOnce) -> Callable[[RealWheel], Path]:
    """``pip_installed(spec)``: a ``--target`` directory with the shrunk wheel (and the shrunk wheels it needs)."""

    def build(spec: RealWheel, directory: Path) -> tuple[int, str, Path]:
        wheels = [shrunk(s).output for s in (*NEEDS.get(spec, ()), spec)]
        proc = run([*pip_command(spec, directory / "target"), *wheels])
        return proc.returncode, proc.stdout + proc.stderr, directory / "target"

    def get(spec: RealWheel) -> Path:
        returncode, output, target = run_once(f"pip-{spec.key}", lambda directory: build(spec, directory))
        assert returncode == 0, f"pip install failed:\n{output[-3000:]}"
        return target

    return get


def check_installed(target: Path, wheel: Path) -> None:
    """Every file of ``wheel`` (outside .dist-info, which installers rewrite) is in ``target`` with its size."""
    members = files(wheel)
    for name, info in members.items():
        if name.startswith(dist_info(members) + "/"):
            continue
        path = target / name
        assert path.is_file(), f"{name} was not installed"
        if not name.endswith(".pyc"):  # pip recompiles the .py files, replacing shipped bytecode
            assert path.stat().st_size == info.file_size, name
    assert (target / dist_info(members) / "METADATA").is_file()


PRELUDE = """
import sys
target = sys.argv.pop(1)
sys.path.insert(0, target)
def check_from_target(*modules):
    for module in modules:
        assert module.__file__.startswith(target + "/"), f"{module.__name__} imported from {module.__file__}"
"""


def run_isolated(target: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter that sees the stdlib and ``target`` only (no site-packages, no env)."""
    proc = run([PY, "-I", "-S", "-c", PRELUDE + code, target], cwd=target)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


# ---- the archive ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", params(ALL))
def test_wheel_unpack_verifies_every_record_hash(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path
) -> None:
    out = shrunk(spec).output
    proc = run([PY, "-m", "wheel", "unpack", "--dest", tmp_path, out])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (unpacked,) = tmp_path.iterdir()
    assert sum(1 for p in unpacked.rglob("*") if p.is_file()) == len(files(out))


@pytest.mark.parametrize("spec", params(ALL))
def test_archive_is_canonical(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    with zipfile.ZipFile(shrunk(spec).output) as z:
        infos = z.infolist()
    names = [i.filename for i in infos]
    meta = dist_info(names)
    assert not [n for n in names if n.endswith("/")], "directory entries"
    assert names == sorted(names, key=lambda n: (n.startswith(meta + "/"), n == f"{meta}/RECORD", n)), (
        "not sorted with .dist-info last"
    )
    assert names[-1] == f"{meta}/RECORD"
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}  # the fixture runs without SOURCE_DATE_EPOCH
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("spec", params(ALL))
def test_pip_installs_it(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], pip_installed: Callable[[RealWheel], Path]
) -> None:
    target = pip_installed(spec)
    for s in (*NEEDS.get(spec, ()), spec):
        check_installed(target, shrunk(s).output)
    if spec == NUMPY_LINUX:
        assert (target / "bin" / "f2py").is_file()  # pip wrote the console script of the kept entry point


@pytest.mark.parametrize("spec", params(ALL))
def test_uv_installs_it(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path) -> None:
    out = shrunk(spec).output
    cmd: list[str | Path] = [UV, "pip", "install", "--no-deps", "--offline", "--no-cache", "--no-config"]
    cmd += ["--python", PY, "--target", tmp_path / "t"]
    if spec.platform in UV_PLATFORMS:
        cmd += ["--python-platform", UV_PLATFORMS[spec.platform]]
    proc = run([*cmd, out])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_installed(tmp_path / "t", out)


# ---- the installed packages work ------------------------------------------------------------------------------

NUMPY_CHECK = """
import importlib.metadata
import numpy as np
check_from_target(np, np.linalg, np.fft, np.random)
rng = np.random.default_rng(20240601)
a = rng.standard_normal((8, 8)) + 8 * np.eye(8)
b = rng.standard_normal(8)
assert np.allclose(a @ np.linalg.solve(a, b), b)
s = a + a.T
w = np.linalg.eigvalsh(s)
assert np.all(np.diff(w) >= 0) and np.isclose(w.sum(), np.trace(s))
x = rng.random(256)
assert np.allclose(np.fft.ifft(np.fft.fft(x)), x) and np.allclose(np.fft.irfft(np.fft.rfft(x), n=256), x)
assert np.array_equal(np.random.default_rng(7).integers(0, 1000, 50), np.random.default_rng(7).integers(0, 1000, 50))
n = rng.standard_normal(200_000)
assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02
np.show_config()
dist = importlib.metadata.distribution("numpy")
assert dist.version == np.__version__
scripts = {ep.name: ep for ep in dist.entry_points if ep.group == "console_scripts"}
assert callable(scripts["f2py"].load()) and callable(scripts["numpy-config"].load())
print("numpy", np.__version__, "ok")
"""

SCIPY_CHECK = """
import numpy as np
import scipy
from scipy import linalg, optimize, sparse, special
check_from_target(np, scipy, linalg, optimize, sparse, special)
a = np.array([[4.0, 3.0, 2.0, 1.0], [2.0, 1.0, 3.0, 5.0], [3.0, 2.0, 1.0, 0.5], [1.0, 7.0, 2.0, 3.0]])
p, l, u = linalg.lu(a)
assert np.allclose(p @ l @ u, a) and np.allclose(np.tril(l), l) and np.allclose(np.triu(u), u)
rng = np.random.default_rng(3)
m = np.where(rng.random((60, 40)) < 0.1, rng.standard_normal((60, 40)), 0.0)
k = np.where(rng.random((40, 30)) < 0.1, rng.standard_normal((40, 30)), 0.0)
product = sparse.csr_array(m) @ sparse.csr_array(k)
assert sparse.issparse(product) and np.allclose(product.toarray(), m @ k)
result = optimize.minimize(optimize.rosen, [1.3, 0.7, 0.8, 1.9, 1.2], jac=optimize.rosen_der, method="BFGS")
assert result.success and np.allclose(result.x, 1.0, atol=1e-4), result
assert np.isclose(special.gamma(5.0), 24.0) and np.isclose(special.gamma(0.5), np.sqrt(np.pi))
print("scipy", scipy.__version__, "ok")
"""

# A one-node ONNX model (Y = MatMul(A, B)), serialised by hand: protobuf fields of onnx.proto's ModelProto,
# GraphProto, NodeProto, ValueInfoProto, TypeProto and TensorShapeProto. No `onnx` package needed.
ONNXRUNTIME_CHECK = """
import numpy as np
import onnxruntime

def varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)

def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value

def float_tensor(name, dims):
    shape = b"".join(field(1, field(1, d)) for d in dims)
    return field(1, name) + field(2, field(1, field(1, 1) + field(2, shape)))

node = field(1, "A") + field(1, "B") + field(2, "Y") + field(4, "MatMul")
graph = field(1, node) + field(2, "g") + field(11, float_tensor("A", [2, 3])) + field(11, float_tensor("B", [3, 2]))
graph += field(12, float_tensor("Y", [2, 2]))
model = field(1, 8) + field(7, graph) + field(8, field(2, 13))  # ir_version 8, opset 13

check_from_target(np, onnxruntime)
assert onnxruntime.__version__ == "1.31.1", onnxruntime.__version__
assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
a = np.arange(6, dtype=np.float32).reshape(2, 3)
b = np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)
(y,) = session.run(None, {"A": a, "B": b})
assert np.allclose(y, a @ b), y
print("onnxruntime", onnxruntime.__version__, "ok")
"""


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        pytest.param(NUMPY_LINUX, NUMPY_CHECK, id="numpy", marks=pytest.mark.xdist_group(NUMPY_LINUX.key)),
        pytest.param(SCIPY_LINUX, SCIPY_CHECK, id="scipy", marks=pytest.mark.xdist_group(SCIPY_LINUX.key)),
        pytest.param(
            ONNXRUNTIME_LINUX, ONNXRUNTIME_CHECK, id="onnxruntime", marks=pytest.mark.xdist_group(ONNXRUNTIME_LINUX.key)
        ),
    ],
)
def test_installed_package_imports_and_computes(
    spec: RealWheel, code: str, pip_installed: Callable[[RealWheel], Path]
) -> None:
    out = run_isolated(pip_installed(spec), code)
    assert f"{spec.project} {spec.version} ok" in out
    if spec == NUMPY_LINUX:
        assert "blas" in out.lower()  # np.show_config() printed the build configuration


@pytest.mark.xdist_group(NUMPY_LINUX.key)
def test_f2py_console_script_runs(pip_installed: Callable[[RealWheel], Path]) -> None:
    target = pip_installed(NUMPY_LINUX)
    script = target / "bin" / "f2py"
    out = run_isolated(
        target, f"import runpy; sys.argv = ['f2py', '-v']; runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    assert out.strip() == NUMPY_LINUX.version


# ---- reproducible output --------------------------------------------------------------------------------------


# numpy 2.4.6 manylinux: ELF files stripped; numpy 1.26.4 win_amd64: a MinGW DLL stripped.
@pytest.mark.parametrize("spec", params((NUMPY_LINUX, NUMPY_126_WIN64)))
def test_output_is_byte_identical_across_runs(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shrunk(spec)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    # A different thread count too: the bytes must not depend on it.
    again = Path(pipeline.run([first.input], tmp_path, ShrinkOptions(jobs=1), RulesOnly())[0].output or "")
    assert again != first.output
    one, two = read_all(first.output), read_all(again)
    assert one.keys() == two.keys()
    differing = sorted(n for n in one if one[n] != two[n])
    assert not differing, f"members differ between two runs: {differing}"
    assert again.read_bytes() == first.output.read_bytes()


@pytest.mark.xdist_group(NUMPY_LINUX.key)
def test_source_date_epoch_sets_every_timestamp(
    shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epoch = 1_700_000_000  # 2023-11-14 22:13:20 UTC (zip stores even seconds)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(epoch))
    first = shrunk(NUMPY_LINUX)
    (report,) = pipeline.run([first.input], tmp_path, ShrinkOptions(), RulesOnly())
    out = Path(report.output or "")
    assert {i.date_time for i in files(out).values()} == {time.gmtime(epoch)[:6]}
    # Only the timestamps differ from the run without SOURCE_DATE_EPOCH.
    assert [(n, i.CRC, i.file_size) for n, i in files(out).items()] == [
        (n, i.CRC, i.file_size) for n, i in files(first.output).items()
    ]
    assert out.stat().st_size == first.output.stat().st_size


# ---- the command line on a real wheel -------------------------------------------------------------------------


def comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A JSON report without what differs between two runs (time, output directory)."""
    for wheel in data["wheels"]:
        wheel.pop("seconds")
        wheel["output"] = wheel["output"] and Path(wheel["output"]).name
    return data


@pytest.mark.xdist_group(NUMPY_WIN32.key)
def test_cli_writes_the_same_wheel_and_json(shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path) -> None:
    first = shrunk(NUMPY_WIN32)
    budget = first.report.after.archive - 1
    options = ["-w", tmp_path / "out", "--json", tmp_path / "r.json", "--max-size", str(budget), "-q"]
    proc = run([PY, "-m", "slimwheel", "shrink", first.input, *options])
    assert proc.returncode == 3, proc.stdout + proc.stderr  # over the budget, by one byte
    assert (tmp_path / "out" / first.output.name).read_bytes() == first.output.read_bytes()
    data = json.loads((tmp_path / "r.json").read_text())
    expected = json.loads(json.dumps(to_json([first.report])))
    expected["wheels"][0].update(budget=budget, over_budget=True)
    assert comparable(data) == comparable(expected)


@pytest.mark.xdist_group(NUMPY_WIN32.key)
def test_cli_dry_run_measures_the_same_size(shrunk: Callable[[RealWheel], Shrunk], tmp_path: Path) -> None:
    first = shrunk(NUMPY_WIN32)
    options = ["-w", tmp_path / "out", "--dry-run", "--json", tmp_path / "r.json"]
    proc = run([PY, "-m", "slimwheel", "shrink", first.input, *options])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()
    (wheel,) = json.loads((tmp_path / "r.json").read_text())["wheels"]
    assert wheel["output"] is None
    assert wheel["after"]["compressed"] == first.output.stat().st_size == first.report.after.archive


# ---- the report -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", params(ALL))
def test_report_accounts_for_every_byte(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], record_property: Callable[[str, object], None]
) -> None:
    s = shrunk(spec)
    r = s.report
    before, after = files(s.input), files(s.output)
    meta = dist_info(before)
    data = json.loads(json.dumps(to_json([r])))
    assert data["schema_version"] == 1
    (w,) = data["wheels"]
    for key in ("input", "output", "before", "after", "removed", "stripped", "skipped"):
        assert key in w, key
    for side, archive, members in (("before", s.input, before), ("after", s.output, after)):
        assert w[side]["compressed"] == archive.stat().st_size
        assert w[side]["installed"] == sum(i.file_size for i in members.values())
        assert w[side]["files"] == len(members)
        assert sum(c["compressed"] for c in w[side]["by_category"].values()) == sum(
            i.compress_size for i in members.values()
        )
    assert w["after"]["compressed"] < w["before"]["compressed"]
    assert w["after"]["installed"] < w["before"]["installed"]

    removed = {x["path"]: x for x in w["removed"]}
    stripped = {x["path"]: x for x in w["stripped"]}
    assert not removed.keys() & after.keys() and removed.keys() <= before.keys()
    signatures = {f"{meta}/{n}" for n in SIGNATURES} & before.keys()
    assert before.keys() - after.keys() == removed.keys() | signatures and after.keys() <= before.keys()
    for path, x in removed.items():
        assert (x["installed"], x["compressed"]) == (before[path].file_size, before[path].compress_size), path
    for path, x in stripped.items():
        assert (x["before"], x["after"]) == (before[path].file_size, after[path].file_size), path
        assert x["saved"] == x["before"] - x["after"] > 0
    # Everything else is unchanged, except the rewritten RECORD (and entry_points.txt if an entry point was dropped).
    rewritten = {f"{meta}/RECORD"} | ({f"{meta}/entry_points.txt"} if r.dropped_entry_points else set())
    changed = {n for n in after if (after[n].CRC, after[n].file_size) != (before[n].CRC, before[n].file_size)}
    assert changed <= stripped.keys() | rewritten
    metadata_delta = sum(before[n].file_size for n in before if n.startswith(meta + "/")) - sum(
        after[n].file_size for n in after if n.startswith(meta + "/")
    )
    assert w["before"]["installed"] - w["after"]["installed"] == (
        sum(x["installed"] for x in removed.values()) + sum(x["saved"] for x in stripped.values()) + metadata_delta
    )
    b, a = w["before"], w["after"]
    line = (
        f"{Path(s.input).name}: {b['compressed']:,} -> {a['compressed']:,} B compressed "
        f"({(a['compressed'] - b['compressed']) / b['compressed']:+.1%}), installed {b['installed']:,} -> "
        f"{a['installed']:,} B, files {b['files']} -> {a['files']}, {len(stripped)} stripped, {r.seconds:.1f} s"
    )
    print(line)
    record_property("slimwheel-numbers", line)


# ---- safety ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", params(ALL))
def test_dist_info_is_kept(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    s = shrunk(spec)
    meta = dist_info(files(s.input))
    assert not [x.path for x in s.report.removed if ".dist-info/" in x.path]
    before = read_all(s.input, lambda n: n.startswith(meta + "/"))
    after = read_all(s.output, lambda n: n.startswith(meta + "/"))
    assert set(after) == set(before) - {f"{meta}/{n}" for n in SIGNATURES}
    same = {n for n in after if not n.endswith(("/RECORD", "/entry_points.txt"))}
    assert {n: after[n] for n in same} == {n: before[n] for n in same}


# Licence files every build of a project ships outside *.dist-info (the ones rules or checks removed before).
LICENCES_OUTSIDE_DIST_INFO = {
    "numpy": {"numpy/ma/LICENSE", "numpy/random/LICENSE.md"},
    "onnxruntime": {"onnxruntime/LICENSE", "onnxruntime/ThirdPartyNotices.txt"},
    "scipy": {
        "scipy/_lib/_uarray/LICENSE",
        "scipy/fft/_pocketfft/LICENSE.md",
        "scipy/integrate/LICENSE_DOP",
        "scipy/spatial/qhull_src/COPYING_QHULL.txt",
    },
}


@pytest.mark.parametrize("spec", params(ALL))
def test_every_licence_file_is_kept_byte_for_byte(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk], record_property: Callable[[str, object], None]
) -> None:
    s = shrunk(spec)
    licences = licence_paths(read_wheel(s.input))
    before = read_all(s.input, lambda n: n in licences)
    after = read_all(s.output, lambda n: n in licences)
    outside = {p for p in licences if ".dist-info/" not in p}
    line = (
        f"{s.input.name}: {len(licences)} licence/notice files in, {len(after)} out ({len(outside)} outside dist-info)"
    )
    print(line)
    record_property("slimwheel-numbers", line)
    assert LICENCES_OUTSIDE_DIST_INFO[spec.project] <= outside
    assert len(after) == len(before) == len(licences) and after == before
    assert licences <= {x.path for x in s.report.kept}  # listed as kept for safety, with the reason
    assert not licences & {x.path for x in s.report.removed}


def module_present(names: set[str], module: str) -> bool:
    """Whether ``module`` can be imported from a wheel with these files: a module, a package or a namespace dir."""
    base = module.replace(".", "/")
    return any(
        n == base + ".py" or n.startswith(base + "/") or (n.startswith(base + ".") and n.endswith((".so", ".pyd")))
        for n in names
    )


@pytest.mark.parametrize("spec", params(ALL))
def test_entry_points_stay_consistent(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    s = shrunk(spec)
    before, after = read_all(s.input), read_all(s.output)
    meta = dist_info(before)
    eps_before = entry_points(before.get(f"{meta}/entry_points.txt", b"").decode())
    eps_after = entry_points(after.get(f"{meta}/entry_points.txt", b"").decode())
    assert eps_after.items() <= eps_before.items()
    dropped = {f"{g}: {n} = {v}" for (g, n), v in eps_before.items() if (g, n) not in eps_after}
    assert dropped == set(s.report.dropped_entry_points)
    dangling = {
        f"{g}: {n} = {v}"
        for (g, n), v in eps_after.items()
        if module_present(set(before), v.split(":")[0].strip())
        and not module_present(set(after), v.split(":")[0].strip())
    }
    assert not dangling, "entry points whose module was removed but which were kept"


@pytest.mark.parametrize("spec", params(NUMPYS))
def test_f2py_entry_point_and_module_are_kept(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    s = shrunk(spec)
    names = set(files(s.output))
    meta = dist_info(names)
    eps = entry_points(
        read_all(s.output, lambda n: n == f"{meta}/entry_points.txt")[f"{meta}/entry_points.txt"].decode()
    )
    assert eps[("console_scripts", "f2py")] == "numpy.f2py.f2py2e:main"
    assert {"numpy/f2py/f2py2e.py", "numpy/f2py/__init__.py"} <= names
    assert not [x for x in s.report.dropped_entry_points if "f2py" in x]


@pytest.mark.parametrize("spec", params(ALL))
def test_every_native_file_parses(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    found = natives(shrunk(spec).output)
    assert found
    for name, data in found.items():
        if data.startswith(b"\x7fELF"):
            assert elf_facts(data)["misaligned"] == [], f"{name}: PT_LOAD with (p_offset - p_vaddr) % p_align != 0"
        else:
            open_pe(data).close()


@pytest.mark.parametrize("spec", params(ALL))
def test_native_files_change_only_when_stripped_and_equivalent(
    spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]
) -> None:
    s = shrunk(spec)
    before, after = natives(s.input), natives(s.output)
    stripped = {x.path for x in s.report.stripped}
    assert stripped <= after.keys()
    assert {x.path for x in s.report.skipped} <= after.keys()
    for name, data in after.items():
        original = before[name]
        if data == original:
            assert name not in stripped
            continue
        assert name in stripped, f"{name} changed but the report does not say it was stripped"
        assert len(data) < len(original)
        facts = pe_facts if data.startswith(b"MZ") else elf_facts
        old, new = facts(original), facts(data)
        old.pop("misaligned", None)  # a patchelf'ed original may well be misaligned; the stripped file was checked
        new.pop("misaligned", None)
        assert new == old, f"{name}: headers, segments, sections or symbols changed"


@pytest.mark.parametrize("spec", params(tuple(s for s in ALL if is_windows(s))))
def test_signed_pe_files_are_byte_identical(spec: RealWheel, shrunk: Callable[[RealWheel], Shrunk]) -> None:
    s = shrunk(spec)
    before, after = natives(s.input), natives(s.output)
    signed = [n for n, data in before.items() if (info := describe(data)) is not None and info.signed]
    if spec == ONNXRUNTIME_WIN64:
        assert len(signed) >= 2  # onnxruntime.dll, onnxruntime_pybind11_state.pyd, ...
    for name in signed:
        assert after.get(name) == before[name], f"signed {name} was modified or removed"


@pytest.mark.xdist_group(NUMPY_126_WIN64.key)
def test_numpy_126_openblas_dll_is_stripped_and_keeps_its_exports(shrunk: Callable[[RealWheel], Shrunk]) -> None:
    s = shrunk(NUMPY_126_WIN64)
    before, after = natives(s.input), natives(s.output)
    (name,) = [n for n in after if n.startswith("numpy.libs/libopenblas") and n.endswith(".dll")]
    skipped = {x.path: x.reason for x in s.report.skipped}
    assert name in {x.path for x in s.report.stripped}, skipped.get(name)
    assert len(after[name]) < len(before[name])
    old, new = pe_facts(before[name]), pe_facts(after[name])
    assert len(new["exports"]) > 9000
    assert new["exports"] == old["exports"]
    assert new == old
